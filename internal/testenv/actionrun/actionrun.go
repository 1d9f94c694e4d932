// Package actionrun runs the pach-upgrade binary the way the GitHub Actions
// runner runs a container action: inputs as INPUT_* variables, an event
// payload, and the file commands (step summary, outputs, path) as files the
// step appends to. Tests and the demo use it to exercise the real binary.
package actionrun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Build compiles the pach-upgrade binary from the repository at root into
// dir and returns its path.
func Build(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "pach-upgrade")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build pach-upgrade: %w\n%s", err, out)
	}
	return bin, nil
}

// Runner describes the workflow run the step belongs to.
type Runner struct {
	// Binary is the pach-upgrade executable.
	Binary string
	// Dir holds the event file, file commands and RUNNER_TEMP.
	Dir string
	// Repository is GITHUB_REPOSITORY (owner/name).
	Repository string
	// APIURL and ServerURL point at the GitHub API (a local one in tests).
	APIURL, ServerURL string
	// PullRequest, when non-zero, makes the event a pull_request event.
	PullRequest int
	// Event names the event of a run without PullRequest (e.g. schedule);
	// empty means workflow_dispatch.
	Event string
	// Env is added to the step's environment (e.g. KUBECONFIG, PATH).
	Env []string
	// Cancel is what a cancelled ctx does to the step; nil means what the
	// Actions runner does, RunnerCancel.
	Cancel []Signal
	// Output, when set, also receives everything the step prints, as it prints it.
	Output io.Writer
}

// Signal is one step of cancelling a running step: After the previous one
// (or the cancel), Signal is sent if the process still runs.
type Signal struct {
	Signal os.Signal
	After  time.Duration
}

// RunnerCancel is how the Actions runner cancels a step (actions/runner,
// ProcessInvoker): SIGINT, then SIGTERM 7.5 s later, then SIGKILL 2.5 s
// after that.
var RunnerCancel = []Signal{
	{Signal: os.Interrupt},
	{Signal: syscall.SIGTERM, After: 7500 * time.Millisecond},
	{Signal: os.Kill, After: 2500 * time.Millisecond},
}

// Result is what one step run left behind.
type Result struct {
	ExitCode int
	// Log is everything the step printed (stdout and stderr interleaved).
	Log     string
	Summary string
	Outputs map[string]string
	// Paths are the directories the step added to PATH for later steps.
	Paths []string
	// Wall is the process' run time, start to exit; FirstLine is the time from its start to
	// the end of its first output line (zero when it printed none).
	Wall, FirstLine time.Duration
	// MaxRSS is the process' peak resident set in bytes: its VmHWM, sampled every few
	// milliseconds while it runs. Not rusage's maxrss: Go starts children with vfork, so the
	// child's maxrss includes the parent's resident set at the time of the exec.
	MaxRSS int64
	// Signals are the signals a cancel sent before the process exited.
	Signals []os.Signal
}

// Run runs the binary once as a GitHub Actions step with the given inputs.
func (r Runner) Run(ctx context.Context, inputs map[string]string) (*Result, error) {
	files := map[string]string{}
	for _, name := range []string{"GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "GITHUB_PATH", "GITHUB_ENV", "GITHUB_STATE"} {
		f, err := os.CreateTemp(r.Dir, strings.ToLower(name)+"-*")
		if err != nil {
			return nil, fmt.Errorf("create %s file: %w", name, err)
		}
		f.Close()
		files[name] = f.Name()
	}
	event, name, err := r.writeEvent()
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(r.Dir, "runner-temp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}

	cmd := exec.CommandContext(ctx, r.Binary)
	env := []string{
		"GITHUB_ACTIONS=true",
		"CI=true",
		"GITHUB_EVENT_NAME=" + name,
		"GITHUB_EVENT_PATH=" + event,
		"GITHUB_REPOSITORY=" + r.Repository,
		"GITHUB_API_URL=" + r.APIURL,
		"GITHUB_SERVER_URL=" + r.ServerURL,
		"GITHUB_RUN_ID=4242",
		"GITHUB_RUN_ATTEMPT=1",
		"GITHUB_JOB=upgrade",
		"RUNNER_TEMP=" + tmp,
		"RUNNER_TOOL_CACHE=" + filepath.Join(r.Dir, "tool-cache"),
		"HOME=" + os.Getenv("HOME"),
		"PATH=" + os.Getenv("PATH"),
	}
	for k, v := range files {
		env = append(env, k+"="+v)
	}
	for k, v := range inputs {
		env = append(env, "INPUT_"+strings.ToUpper(strings.ReplaceAll(k, " ", "_"))+"="+v)
	}
	cmd.Env = append(env, r.Env...)
	log := &firstLineBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if r.Output != nil {
		w := io.MultiWriter(log, r.Output)
		cmd.Stdout, cmd.Stderr = w, w
	}
	res := &Result{}
	cc := &canceller{cmd: cmd, steps: r.Cancel}
	if cc.steps == nil {
		cc.steps = RunnerCancel
	}
	cmd.Cancel, cmd.WaitDelay = cc.cancel, cc.waitDelay()
	log.start = time.Now()
	if err = cmd.Start(); err == nil {
		done := make(chan struct{})
		peak := make(chan int64, 1)
		go func() { peak <- sampleHWM(cmd.Process.Pid, done) }()
		err = cmd.Wait()
		close(done)
		res.MaxRSS = <-peak
	}
	res.Signals = cc.exited()
	res.Wall = time.Since(log.start)
	if !log.first.IsZero() {
		res.FirstLine = log.first.Sub(log.start)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitCode()
	case err != nil && cmd.ProcessState != nil && cmd.ProcessState.Exited():
		// The step ended by itself just as ctx ended: Wait then gives ctx's error for a
		// process that was never signalled.
		res.ExitCode = cmd.ProcessState.ExitCode()
	case err != nil:
		return nil, fmt.Errorf("run %s: %w", r.Binary, err)
	}
	res.Log = log.buf.String()
	summary, err := os.ReadFile(files["GITHUB_STEP_SUMMARY"])
	if err != nil {
		return nil, err
	}
	res.Summary = string(summary)
	if res.Outputs, err = ReadOutputs(files["GITHUB_OUTPUT"]); err != nil {
		return nil, err
	}
	paths, err := os.ReadFile(files["GITHUB_PATH"])
	if err != nil {
		return nil, err
	}
	res.Paths = strings.Fields(string(paths))
	return res, nil
}

// sampleHWM reads the peak resident set (VmHWM) of process pid every 5 ms until done is
// closed, and returns the largest value read, in bytes. VmHWM only grows, so the last sample
// before the process exits holds its peak up to then.
func sampleHWM(pid int, done <-chan struct{}) int64 {
	path := filepath.Join("/proc", strconv.Itoa(pid), "status")
	var peak int64
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					if kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64); err == nil {
						peak = max(peak, kb<<10)
					}
				}
			}
		}
		select {
		case <-done:
			return peak
		case <-tick.C:
		}
	}
}

// firstLineBuffer keeps the output and notes when its first line ended. exec copies both
// streams through one goroutine each, so writes are serialised by the mutex.
type firstLineBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	start time.Time
	first time.Time
}

func (b *firstLineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.first.IsZero() && bytes.IndexByte(p, '\n') >= 0 {
		b.first = time.Now()
	}
	return b.buf.Write(p)
}

// canceller sends a cancel's signals in turn while the process runs.
type canceller struct {
	cmd   *exec.Cmd
	steps []Signal
	mu    sync.Mutex
	done  bool
	sent  []os.Signal
}

// cancel is the exec.Cmd Cancel function: it starts the sequence.
func (c *canceller) cancel() error {
	go func() {
		for _, s := range c.steps {
			time.Sleep(s.After)
			if !c.send(s.Signal) {
				return
			}
		}
	}()
	return nil
}

func (c *canceller) send(sig os.Signal) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return false
	}
	c.sent = append(c.sent, sig)
	return c.cmd.Process.Signal(sig) == nil
}

// exited stops the sequence and returns the signals sent.
func (c *canceller) exited() []os.Signal {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = true
	return c.sent
}

// waitDelay is past the sequence's last signal.
func (c *canceller) waitDelay() time.Duration {
	total := 5 * time.Second
	for _, s := range c.steps {
		total += s.After
	}
	return total
}

func (r Runner) writeEvent() (path, name string, err error) {
	name = "workflow_dispatch"
	if r.Event != "" {
		name = r.Event
	}
	payload := map[string]any{"repository": map[string]any{"full_name": r.Repository}}
	if r.PullRequest > 0 {
		name = "pull_request"
		payload["action"] = "synchronize"
		payload["number"] = r.PullRequest
		payload["pull_request"] = map[string]any{"number": r.PullRequest, "state": "open"}
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return "", "", err
	}
	path = filepath.Join(r.Dir, "event.json")
	return path, name, os.WriteFile(path, data, 0o644)
}

// ReadOutputs parses the GITHUB_OUTPUT file: name=value lines and
// name<<DELIMITER heredocs, as the runner does.
func ReadOutputs(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			var val []string
			for sc.Scan() && sc.Text() != delim {
				val = append(val, sc.Text())
			}
			out[name] = strings.Join(val, "\n")
			continue
		}
		if name, val, ok := strings.Cut(line, "="); ok {
			out[name] = val
		}
	}
	return out, sc.Err()
}
