package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// up builds what is missing, starts a detached supervisor and returns once the API server is
// Ready. It prints the cluster's env lines, KUBECONFIG last.
func up(ctx context.Context, dir string, ownerPID int, maxLife time.Duration, webhook string, ready readyDelay) error {
	if pid := supervisorPID(dir); pid != 0 {
		if _, err := os.Stat(statePath(dir, readyFile)); err == nil {
			fmt.Fprintf(os.Stderr, "cluster: already running in %s (pid %d)\n", dir, pid)
			return printEnv(dir)
		}
		return fmt.Errorf("a supervisor (pid %d) is starting or stuck in %s; run down first", pid, dir)
	}
	bins, err := ensureBinaries(ctx, os.Stderr)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear old state %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, logDir), 0o755); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	logPath := filepath.Join(dir, logDir, "supervisor.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("create supervisor log: %w", err)
	}
	defer logf.Close()
	// The supervisor keeps running from this executable even after go run deletes the file.
	cmd := exec.Command(exe, supervisorCommand, "--dir", dir,
		"--owner-pid", strconv.Itoa(ownerPID), "--max-lifetime", maxLife.String(), "--token-webhook", webhook,
		"--pod-ready-after", ready.String())
	cmd.Env = append(os.Environ(), "PACH_UPGRADE_CLUSTER_BIN_DIR="+bins.Dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	// Its own session: a Ctrl-C meant for up, or go run exiting, must not take the cluster down.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start supervisor: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Fprintf(os.Stderr, "cluster: starting in %s (logs in %s)\n", dir, filepath.Join(dir, logDir))
	for {
		if _, err := os.Stat(statePath(dir, readyFile)); err == nil {
			fmt.Fprintf(os.Stderr, "cluster: API server ready %s after start\n", time.Since(start).Round(time.Millisecond))
			return printEnv(dir)
		}
		select {
		case err := <-exited:
			reason, _ := os.ReadFile(statePath(dir, failedFile))
			return fmt.Errorf("supervisor exited (%v): %s\n%s", err, strings.TrimSpace(string(reason)), tail(logPath, 20))
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			return fmt.Errorf("cluster not ready: %w\n%s", ctx.Err(), tail(logPath, 20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func printEnv(dir string) error {
	env, err := readEnv(dir)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		if k != "KUBECONFIG" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("%s=%s\n", k, env[k])
	}
	fmt.Printf("KUBECONFIG=%s\n", env["KUBECONFIG"])
	return nil
}

// down stops the supervisor (which stops its children and etcd) and removes the state dir.
func down(ctx context.Context, dir string) error {
	if pid := supervisorPID(dir); pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(20 * time.Second)
		for processAlive(pid) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
		}
		if processAlive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	// Children die with the supervisor (Pdeathsig); kill any left from a supervisor that was
	// itself killed before it could record them as stopped.
	for _, pid := range childPIDs(dir) {
		if processAlive(pid) && isOurChild(pid, dir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove state dir %s: %w", dir, err)
	}
	fmt.Fprintf(os.Stderr, "cluster: stopped and removed %s\n", dir)
	return nil
}

func childPIDs(dir string) []int {
	b, err := os.ReadFile(statePath(dir, childPIDsFile))
	if err != nil {
		return nil
	}
	var pids []int
	for _, line := range strings.Split(string(b), "\n") {
		if _, v, ok := strings.Cut(line, "="); ok {
			if pid, err := strconv.Atoi(v); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// isOurChild guards against pid reuse: our children name the state dir on their command line.
func isOurChild(pid int, dir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(b), dir)
}

// status prints whether the cluster runs, and each process's resident memory.
func status(ctx context.Context, dir string) error {
	pid := supervisorPID(dir)
	if pid == 0 {
		fmt.Printf("not running (%s)\n", dir)
		return errors.New("not running")
	}
	env, err := readEnv(dir)
	if err != nil {
		return fmt.Errorf("supervisor %d runs but is not ready: %w", pid, err)
	}
	c, err := adminClient(pkiIn(filepath.Join(dir, "pki")))
	if err != nil {
		return err
	}
	if err := apiReady(ctx, c, env["API_SERVER"]); err != nil {
		fmt.Printf("running, API server not ready: %v\n", err)
		return err
	}
	fmt.Printf("running: API server %s ready\n", env["API_SERVER"])
	var total, peak int
	report := func(name string, pid int) {
		rss, hwm := procMemKiB(pid)
		total += rss
		peak += hwm
		fmt.Printf("  %-24s pid %-7d rss %4d MiB  peak %4d MiB\n", name, pid, rss/1024, hwm/1024)
	}
	report("supervisor+etcd", pid)
	b, _ := os.ReadFile(statePath(dir, childPIDsFile))
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if name, v, ok := strings.Cut(line, "="); ok {
			if cpid, err := strconv.Atoi(v); err == nil {
				report(name, cpid)
			}
		}
	}
	fmt.Printf("  total rss %d MiB, sum of peaks %d MiB\n", total/1024, peak/1024)
	fmt.Printf("KUBECONFIG=%s\n", env["KUBECONFIG"])
	return nil
}

func procMemKiB(pid int) (rss, hwm int) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.Atoi(fields[1])
		switch fields[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm
}

// restartAPIServer asks the supervisor to restart kube-apiserver and waits until it is Ready again.
func restartAPIServer(ctx context.Context, dir string) error {
	pid := supervisorPID(dir)
	if pid == 0 {
		return fmt.Errorf("no cluster running in %s", dir)
	}
	count := func() string {
		b, _ := os.ReadFile(statePath(dir, restartsFile))
		return strings.TrimSpace(string(b))
	}
	before := count()
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		return fmt.Errorf("signal supervisor %d: %w", pid, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for count() == before {
		select {
		case <-ctx.Done():
			return fmt.Errorf("API server not back: %w\n%s", ctx.Err(), tail(filepath.Join(dir, logDir, "supervisor.log"), 10))
		case <-time.After(100 * time.Millisecond):
		}
	}
	fmt.Fprintln(os.Stderr, "cluster: API server restarted and ready")
	return nil
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
