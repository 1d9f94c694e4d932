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

// backupContainer lays out the runner's mounts of a container action under a
// temporary root, the workspace owned by the runner's user.
func backupContainer(t *testing.T, runnerUID int) (string, runnerenv.Env) {
	t.Helper()
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
	return root, place
}

func ownerOf(t *testing.T, p string) uint32 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Uid
}

// TestBackupDirSymlinkOutOfTheMounts is item 9's attack: the workspace (a
// pull request's) holds backups -> a folder outside the mounts, and
// backup-dir names the workspace's backups. The folder is resolved before
// the mount check: the warning says the snapshot is not kept, and nothing
// outside the mounts is given to the runner's user.
func TestBackupDirSymlinkOutOfTheMounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to another user needs root, as the container action runs")
	}
	const runnerUID = 1001
	root, place := backupContainer(t, runnerUID)
	outside := t.TempDir()
	link := filepath.Join(root, runnerenv.Workspace, "backups")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	for _, backupDir := range []string{link, "backups"} {
		dir, warning, err := snapshotDir(backupDir, "", place)
		if err != nil {
			t.Fatal(err)
		}
		if dir != outside || !strings.Contains(warning, "is not in a folder the runner mounts") || !strings.Contains(warning, outside) {
			t.Errorf("backup-dir %s: dir %s, warning %q; want %s and the not-kept warning naming it", backupDir, dir, warning, outside)
		}
		path, err := writeSnapshot(dir, Snapshot{Release: "pachd", Namespace: "pach", Revision: 3, TakenAt: time.Now()}, place)
		if err != nil {
			t.Fatal(err)
		}
		if uid := ownerOf(t, path); uid == runnerUID {
			t.Errorf("backup-dir %s: %s outside the mounts was given to the runner's user", backupDir, path)
		}
	}
	// Even given the link's path, the open file is checked where it really is.
	f, err := os.CreateTemp(link, "direct-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := place.GiveFileToOwner(f); err != nil {
		t.Fatal(err)
	}
	if uid := ownerOf(t, f.Name()); uid == runnerUID {
		t.Errorf("%s, outside the mounts through a symlink, was given to the runner's user", f.Name())
	}
}

// TestBackupDirRelativeToTheWorkspace: a relative backup-dir is the
// workspace's folder, seen by the runner, and given to its user, with no
// warning.
func TestBackupDirRelativeToTheWorkspace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to another user needs root, as the container action runs")
	}
	const runnerUID = 1001
	root, place := backupContainer(t, runnerUID)
	dir, warning, err := snapshotDir("backups/pachd", "", place)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(root, runnerenv.Workspace, "backups", "pachd")
	if dir != want || warning != "" {
		t.Errorf("dir %s, warning %q; want %s and no warning", dir, warning, want)
	}
	path, err := writeSnapshot(dir, Snapshot{Release: "pachd", Namespace: "pach", Revision: 3, TakenAt: time.Now()}, place)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, dir, filepath.Dir(dir)} {
		if uid := ownerOf(t, p); uid != runnerUID {
			t.Errorf("%s is owned by uid %d, want the runner's user %d", p, uid, runnerUID)
		}
	}
	if host, ok := place.HostPath(path); !ok || host != filepath.Join("/opt/actions-runner/_work/platform/platform/backups/pachd", filepath.Base(path)) {
		t.Errorf("HostPath(%s) = %s, %v", path, host, ok)
	}
	// The default folder outside the mounts is named as such, not as backup-dir.
	_, warning, err = snapshotDir("", "", place)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(warning, "backup-dir") || !strings.Contains(warning, "this container's temporary folder") {
		t.Errorf("default folder warning %q", warning)
	}
}
