package containertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv/actionrun"
)

// RunnerUID is the runner's user (and group) on GitHub-hosted runners: it
// owns the work folder and the file-command files.
const RunnerUID = 1001

// Container paths the runner mounts its folders at (actions/runner,
// ContainerActionHandler).
const (
	ContainerWorkspace    = "/github/workspace"
	ContainerHome         = "/github/home"
	ContainerWorkflow     = "/github/workflow"
	ContainerFileCommands = "/github/file_commands"
	ContainerRunnerTemp   = "/github/runner_temp"
)

// StepOptions describe the workflow run a step belongs to.
type StepOptions struct {
	// Repository is GITHUB_REPOSITORY (owner/name); default example/platform.
	Repository string
	// APIURL and ServerURL point at the GitHub API (a local one in tests).
	APIURL, ServerURL string
	// PullRequest, when non-zero, makes the event a pull_request event.
	PullRequest int
	// Env adds step variables with their values as on the runner; host
	// paths in them are rewritten as the runner rewrites them.
	Env map[string]string
	// NoRunnerTemp leaves out the RUNNER_TEMP mount, as runners before
	// 2.331 do (RUNNER_TEMP then passes unchanged and is not visible).
	NoRunnerTemp bool
	// Log, when set, receives the step's output as it comes.
	Log io.Writer
}

// Step is one runner machine's work folder, laid out as the runner lays it
// out, owned by RunnerUID, and the image that runs as a step in it. Its
// fields are host paths.
type Step struct {
	// Root holds everything below; removed when the test ends.
	Root string
	// Work is the runner's work folder (_work).
	Work string
	// RunnerWorkspace is <work>/<repo> (RUNNER_WORKSPACE).
	RunnerWorkspace string
	// Workspace is <work>/<repo>/<repo> (GITHUB_WORKSPACE).
	Workspace string
	// Temp is <work>/_temp (RUNNER_TEMP); Home, Workflow and FileCommands
	// are the folders in it that the runner mounts.
	Temp, Home, Workflow, FileCommands string
	// ToolCache is RUNNER_TOOL_CACHE, which no container action sees.
	ToolCache string

	p     *Podman
	image Built
	opt   StepOptions
}

// NewStep lays out a runner's work folder for img.
func NewStep(t testing.TB, img Built, opt StepOptions) *Step {
	t.Helper()
	if opt.Repository == "" {
		opt.Repository = "example/platform"
	}
	_, name, _ := strings.Cut(opt.Repository, "/")
	root, err := os.MkdirTemp("", "pach-upgrade-runner-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	// The runner's user must be able to reach its folders (and read what
	// the step left it).
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Step{Root: root, p: Require(t), image: img, opt: opt}
	s.Work = filepath.Join(root, "runner", "work")
	s.RunnerWorkspace = filepath.Join(s.Work, name)
	s.Workspace = filepath.Join(s.RunnerWorkspace, name)
	s.Temp = filepath.Join(s.Work, "_temp")
	s.Home = filepath.Join(s.Temp, "_github_home")
	s.Workflow = filepath.Join(s.Temp, "_github_workflow")
	s.FileCommands = filepath.Join(s.Temp, "_runner_file_commands")
	s.ToolCache = filepath.Join(root, "hostedtoolcache")
	for _, d := range []string{s.Workspace, s.Home, s.Workflow, s.FileCommands, s.ToolCache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := chownTree(filepath.Join(root, "runner"), RunnerUID); err != nil {
		t.Fatal(err)
	}
	if err := chownTree(s.ToolCache, RunnerUID); err != nil {
		t.Fatal(err)
	}
	return s
}

func chownTree(dir string, uid int) error {
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, uid)
	})
}

// mounts are the runner's mounts for a container action, host → container,
// in the order the runner matches paths (the last added first).
func (s *Step) mounts() [][2]string {
	m := [][2]string{
		{s.Workspace, ContainerWorkspace},
		{s.FileCommands, ContainerFileCommands},
		{s.Workflow, ContainerWorkflow},
		{s.Home, ContainerHome},
	}
	if !s.opt.NoRunnerTemp {
		m = append(m, [2]string{s.Temp, ContainerRunnerTemp})
	}
	return m
}

// ContainerPath rewrites a host path as the runner rewrites every variable
// (ContainerInfo.TranslateToContainerPath): a value equal to a mounted
// folder or below it becomes the container path, anything else is left.
func (s *Step) ContainerPath(v string) string {
	for _, m := range s.mounts() {
		if v == m[0] {
			return m[1]
		}
		if strings.HasPrefix(v, m[0]+"/") {
			return m[1] + v[len(m[0]):]
		}
	}
	return v
}

// Result is what one step left behind.
type Result struct {
	actionrun.Result
	// FirstOutput is the time from starting podman run to the step's first
	// output; Elapsed the time until podman exited.
	FirstOutput, Elapsed time.Duration
}

// Running is a step in progress.
type Running struct {
	s     *Step
	name  string
	cmd   *exec.Cmd
	start time.Time
	files map[string]string // file-command variable → host path
	done  chan struct{}
	err   error

	mu          sync.Mutex
	log         bytes.Buffer
	firstOutput time.Duration
	changed     chan struct{} // closed and replaced on every write
}

// Run runs the step to its end.
func (s *Step) Run(ctx context.Context, inputs map[string]string) (*Result, error) {
	r, err := s.Start(ctx, inputs)
	if err != nil {
		return nil, err
	}
	return r.Wait()
}

// Start starts the image as the runner starts a container action's step
// with inputs, and returns without waiting for it.
func (s *Step) Start(ctx context.Context, inputs map[string]string) (*Running, error) {
	r := &Running{s: s, done: make(chan struct{}), changed: make(chan struct{}), files: map[string]string{}}
	id := randomHex(8)
	r.name = "pach-upgrade-step-" + id
	// The runner creates the file-command files afresh for every step, as
	// its own user, mode 0644.
	for env, prefix := range map[string]string{
		"GITHUB_OUTPUT": "set_output_", "GITHUB_STEP_SUMMARY": "step_summary_", "GITHUB_PATH": "add_path_",
		"GITHUB_ENV": "set_env_", "GITHUB_STATE": "save_state_",
	} {
		path := filepath.Join(s.FileCommands, prefix+id)
		if err := writeOwned(path, nil); err != nil {
			return nil, err
		}
		r.files[env] = path
	}
	event, eventName, err := s.writeEvent()
	if err != nil {
		return nil, err
	}

	env := map[string]string{
		"HOME":                    s.Home, // the runner sets it for container actions
		"GITHUB_WORKSPACE":        s.Workspace,
		"GITHUB_EVENT_PATH":       event,
		"GITHUB_EVENT_NAME":       eventName,
		"GITHUB_REPOSITORY":       s.opt.Repository,
		"GITHUB_API_URL":          s.opt.APIURL,
		"GITHUB_SERVER_URL":       s.opt.ServerURL,
		"GITHUB_RUN_ID":           "4242",
		"GITHUB_RUN_ATTEMPT":      "1",
		"GITHUB_RUN_NUMBER":       "7",
		"GITHUB_JOB":              "upgrade",
		"GITHUB_ACTION":           "upgrade",
		"GITHUB_WORKFLOW":         "staging",
		"GITHUB_ACTOR":            "octocat",
		"GITHUB_REF":              "refs/pull/1/merge",
		"GITHUB_SHA":              strings.Repeat("a", 40),
		"RUNNER_OS":               "Linux",
		"RUNNER_ARCH":             "X64",
		"RUNNER_NAME":             "GitHub Actions 1",
		"RUNNER_ENVIRONMENT":      "github-hosted",
		"RUNNER_TEMP":             s.Temp,
		"RUNNER_WORKSPACE":        s.RunnerWorkspace,
		"RUNNER_TOOL_CACHE":       s.ToolCache,
		"GITHUB_REPOSITORY_OWNER": strings.SplitN(s.opt.Repository, "/", 2)[0],
	}
	for k, v := range r.files {
		env[k] = v
	}
	for k, v := range s.opt.Env {
		env[k] = v
	}
	for k, v := range inputs {
		env["INPUT_"+strings.ToUpper(strings.ReplaceAll(k, " ", "_"))] = v
	}

	args := []string{"run", "--name", r.name, "--label", "pach-upgrade-test", "--workdir", ContainerWorkspace, "--rm"}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		args = append(args, "-e", k+"="+s.ContainerPath(env[k]))
	}
	args = append(args, "-e", "GITHUB_ACTIONS=true", "-e", "CI=true")
	// The one deviation from the runner, which leaves the container on
	// Docker's default bridge: the host network, so that the container
	// reaches the test's API server and stand-ins on 127.0.0.1.
	args = append(args, "--network", "host")
	for _, m := range s.mounts() {
		args = append(args, "-v", m[0]+":"+m[1])
	}
	args = append(args, s.image.ID)

	cmd := s.p.Command(context.WithoutCancel(ctx), args...)
	w := io.Writer(logWriter{r})
	if s.opt.Log != nil {
		w = io.MultiWriter(w, s.opt.Log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	r.cmd = cmd
	r.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("podman run: %w", err)
	}
	go func() {
		r.err = cmd.Wait()
		close(r.done)
	}()
	// A test that ends early must not leave the container running.
	go func() {
		select {
		case <-ctx.Done():
			_ = s.p.Command(context.Background(), "rm", "--force", "--time", "0", r.name).Run()
		case <-r.done:
		}
	}()
	return r, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeOwned writes a file as the runner writes its own: mode 0644, owned by
// the runner's user.
func writeOwned(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	return os.Chown(path, RunnerUID, RunnerUID)
}

func (s *Step) writeEvent() (path, name string, err error) {
	name = "workflow_dispatch"
	payload := map[string]any{"repository": map[string]any{"full_name": s.opt.Repository}}
	if s.opt.PullRequest > 0 {
		name = "pull_request"
		payload["action"] = "synchronize"
		payload["number"] = s.opt.PullRequest
		payload["pull_request"] = map[string]any{"number": s.opt.PullRequest, "state": "open"}
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return "", "", err
	}
	path = filepath.Join(s.Workflow, "event.json")
	return path, name, writeOwned(path, data)
}

type logWriter struct{ r *Running }

func (w logWriter) Write(p []byte) (int, error) {
	r := w.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.log.Len() == 0 && len(p) > 0 {
		r.firstOutput = time.Since(r.start)
	}
	r.log.Write(p)
	close(r.changed)
	r.changed = make(chan struct{})
	return len(p), nil
}

// Log returns what the step printed so far.
func (r *Running) Log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.String()
}

// WaitForLog waits until the step has printed substr, it ends, or ctx is done.
func (r *Running) WaitForLog(ctx context.Context, substr string) error {
	for {
		r.mu.Lock()
		found, changed := strings.Contains(r.log.String(), substr), r.changed
		r.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-changed:
		case <-r.done:
			if strings.Contains(r.Log(), substr) {
				return nil
			}
			return fmt.Errorf("the step ended without printing %q", substr)
		case <-ctx.Done():
			return fmt.Errorf("waiting for %q in the step's log: %w", substr, ctx.Err())
		}
	}
}

// Signal sends sig to podman run, as the runner signals docker run (which
// passes it on to the container's process) when a job is cancelled.
func (r *Running) Signal(sig os.Signal) error {
	return r.cmd.Process.Signal(sig)
}

// Kill kills podman run and removes the container, as the runner ends a
// step that outlived its cancellation.
func (r *Running) Kill() error {
	err := r.cmd.Process.Kill()
	_ = r.s.p.Command(context.Background(), "rm", "--force", "--time", "0", r.name).Run()
	return err
}

// Done is closed when podman run has exited.
func (r *Running) Done() <-chan struct{} { return r.done }

// Wait waits for the step to end and reads what it left in the file
// commands.
func (r *Running) Wait() (*Result, error) {
	<-r.done
	res := &Result{Elapsed: time.Since(r.start)}
	var exit *exec.ExitError
	switch {
	case errors.As(r.err, &exit):
		res.ExitCode = exit.ExitCode()
	case r.err != nil:
		return nil, fmt.Errorf("podman run: %w", r.err)
	}
	r.mu.Lock()
	res.Log, res.FirstOutput = r.log.String(), r.firstOutput
	r.mu.Unlock()
	summary, err := os.ReadFile(r.files["GITHUB_STEP_SUMMARY"])
	if err != nil {
		return nil, err
	}
	res.Summary = string(summary)
	if res.Outputs, err = actionrun.ReadOutputs(r.files["GITHUB_OUTPUT"]); err != nil {
		return nil, err
	}
	paths, err := os.ReadFile(r.files["GITHUB_PATH"])
	if err != nil {
		return nil, err
	}
	res.Paths = strings.Fields(string(paths))
	return res, nil
}

// NotRunners lists what below the step's folders the runner's user does not
// own: what a later step could not read or remove.
func (s *Step) NotRunners() ([]string, error) {
	var out []string
	err := filepath.WalkDir(filepath.Join(s.Root, "runner"), func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && (st.Uid != RunnerUID || st.Gid != RunnerUID) {
			out = append(out, fmt.Sprintf("%s (%d:%d %v)", path, st.Uid, st.Gid, fi.Mode()))
		}
		return nil
	})
	return out, err
}

// ReadAsRunner reads a file as the runner's user would in a later step:
// in a process running as RunnerUID.
func ReadAsRunner(ctx context.Context, path string) ([]byte, error) {
	return ReadAs(ctx, RunnerUID, path)
}

// ReadAs reads a file in a process running as uid (and gid uid).
func ReadAs(ctx context.Context, uid int, path string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, busyboxPath, "cat", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("read %s as uid %d: %w: %s", path, uid, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// WithEnv returns the step with env added to its variables (values as on
// the runner, rewritten as the runner rewrites them).
func (s *Step) WithEnv(env map[string]string) *Step {
	c := *s
	c.opt.Env = map[string]string{}
	for k, v := range s.opt.Env {
		c.opt.Env[k] = v
	}
	for k, v := range env {
		c.opt.Env[k] = v
	}
	return &c
}
