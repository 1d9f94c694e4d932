package clustertest

import (
	"bufio"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/postgres"
)

// A cancelled exec ends its command on the host, the whole process group
// (the shell and what it started), as a cancelled restore's pipeline must:
// the local control plane's kwok is built with that patch (test/cluster,
// kwokpatch.go). Unpatched, kwok v0.8.0 let the command run on, its stdin
// open. Product code still does not count on it (a real cluster's exec may
// outlive its client too): a cancelled restore ends its database session
// itself (internal/database).
func TestCancelledExecKillsItsProcessGroup(t *testing.T) {
	cfg := testenv.RESTConfig(t)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.Namespace(t)
	srv := postgres.Start(t)
	srv.ServeChart(t, cfg, ns)
	startPod(t, cs, ns, postgres.Pod, "bitnami/postgresql:13.3.0")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdin, keepOpen := io.Pipe() // like a restore's: open while the exec runs
	defer keepOpen.Close()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- execIn(ctx, cfg, cs, ns, postgres.Pod, []string{"sh", "-c", "sleep 600 & echo $$ $!; cat >/dev/null; wait"}, stdin, w, io.Discard)
		w.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the exec printed no pids: %v (%v)", err, <-done)
	}
	var pids []int
	for _, f := range strings.Fields(line) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("pids line %q", line)
		}
		pids = append(pids, pid)
	}
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("pid %d is not running on this host before the cancel", pid)
		}
	}
	t.Cleanup(func() {
		for _, pid := range pids {
			if p, err := os.FindProcess(pid); err == nil {
				p.Kill()
			}
		}
	})
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the cancelled exec did not return")
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("pid %d (of the shell %v) still runs 10s after the exec was cancelled", pid, pids)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// alive reports whether pid runs (a zombie, killed and not yet reaped,
// does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 {
		return s[i+2] != 'Z'
	}
	return true
}
