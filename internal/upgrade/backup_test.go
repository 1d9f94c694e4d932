package upgrade

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/runnerenv"
)

func TestWriteSnapshot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested")
	s := Snapshot{Release: "pachd", Namespace: "pach", Revision: 3, Status: "deployed", Chart: "pachyderm",
		ChartVersion: "2.11.5", AppVersion: "2.11.5", Values: map[string]any{"deployTarget": "LOCAL"},
		Manifest: "kind: Deployment\n", TakenAt: time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)}
	path, err := writeSnapshot(dir, s, runnerenv.Env{})
	if err != nil {
		t.Fatalf("writeSnapshot: %v", err)
	}
	if want := filepath.Join(dir, "pach-pachd-r3-20261125T060000Z.json"); path != want {
		t.Errorf("path = %s, want %s", path, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("snapshot mode = %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	var back Snapshot
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("snapshot is not JSON: %v", err)
	}
	if back.Revision != 3 || back.ChartVersion != "2.11.5" || back.Values["deployTarget"] != "LOCAL" || back.Manifest != s.Manifest {
		t.Errorf("snapshot round trip = %+v", back)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("backup dir holds %d files, want only the snapshot", len(entries))
	}
}

// TestWriteSnapshotInContainer: in a container action the snapshot and the
// folders made for it go to the workspace's owner (the runner's user), and
// only that user can read them.
func TestWriteSnapshotInContainer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to another user needs root, as the container action runs")
	}
	const runnerUID = 1001
	root := t.TempDir()
	at := func(p string) string { return filepath.Join(root, p) }
	for _, m := range []string{runnerenv.Workspace, runnerenv.FileCommands, runnerenv.RunnerTemp} {
		if err := os.MkdirAll(at(m), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(at(runnerenv.Workspace), runnerUID, runnerUID); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": at(runnerenv.Workspace),
		"RUNNER_WORKSPACE": "/opt/actions-runner/_work/platform", "GITHUB_REPOSITORY": "org/platform"}
	place := runnerenv.DetectAt(root, func(k string) string { return env[k] })
	if !place.InContainer() {
		t.Fatal("fake container not detected")
	}
	dir := filepath.Join(at(runnerenv.RunnerTemp), "backups", "pachd")
	path, err := writeSnapshot(dir, Snapshot{Release: "pachd", Namespace: "pach", Revision: 3, TakenAt: time.Now()}, place)
	if err != nil {
		t.Fatal(err)
	}
	for p, mode := range map[string]os.FileMode{path: 0o600, dir: 0o700 | os.ModeDir, filepath.Dir(dir): 0o700 | os.ModeDir} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != runnerUID || st.Gid != runnerUID || fi.Mode() != mode {
			t.Errorf("%s: owner %d:%d mode %v; want %d:%d %v", p, st.Uid, st.Gid, fi.Mode(), runnerUID, runnerUID, mode)
		}
	}
	if host, ok := place.HostPath(path); !ok || host != filepath.Join("/opt/actions-runner/_work/_temp/backups/pachd", filepath.Base(path)) {
		t.Errorf("HostPath(%s) = %s, %v", path, host, ok)
	}
}

func TestRunBackupCommand(t *testing.T) {
	env := BackupEnv{Release: "pachd", Namespace: "pach", FromVersion: "2.11.5", ToVersion: "2.11.6", SnapshotPath: "/snap.json"}
	var out bytes.Buffer
	err := runBackupCommand(context.Background(),
		`echo "$PACH_UPGRADE_RELEASE $PACH_UPGRADE_NAMESPACE $PACH_UPGRADE_FROM_VERSION $PACH_UPGRADE_TO_VERSION $PACH_UPGRADE_SNAPSHOT"`, env, &out)
	if err != nil {
		t.Fatalf("runBackupCommand: %v", err)
	}
	if got, want := strings.TrimSpace(out.String()), "pachd pach 2.11.5 2.11.6 /snap.json"; got != want {
		t.Errorf("command saw %q, want %q", got, want)
	}

	out.Reset()
	err = runBackupCommand(context.Background(), "echo dumping; exit 3", env, &out)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("failing command: err = %v", err)
	}
	if !strings.Contains(out.String(), "dumping") {
		t.Errorf("command output not streamed: %q", out.String())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := runBackupCommand(ctx, "sleep 30", env, &out); err == nil {
		t.Error("a command past the deadline must fail")
	}
	if time.Since(start) > 15*time.Second {
		t.Error("a command past the deadline was not stopped")
	}
}
