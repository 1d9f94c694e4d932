package runnerenv

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// runnerUID is the runner's user on GitHub-hosted runners.
const runnerUID = 1001

// fakeContainer lays out the runner's mounts under a temporary root, as the
// runner does for a container action, and returns the root and the
// environment the runner would pass (container paths rewritten, the rest as
// on the runner).
func fakeContainer(t *testing.T, mounts ...string) (string, map[string]string) {
	t.Helper()
	root := t.TempDir()
	if len(mounts) == 0 {
		mounts = []string{Workspace, Home, Workflow, FileCommands, RunnerTemp}
	}
	for _, m := range mounts {
		if err := os.MkdirAll(filepath.Join(root, m), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	at := func(p string) string { return filepath.Join(root, p) }
	env := map[string]string{
		"GITHUB_ACTIONS":    "true",
		"CI":                "true",
		"GITHUB_REPOSITORY": "org/platform",
		"GITHUB_WORKSPACE":  at(Workspace),
		"GITHUB_OUTPUT":     at(FileCommands) + "/set_output_1",
		"HOME":              at(Home),
		"RUNNER_WORKSPACE":  "/opt/actions-runner/_work/platform",
		"RUNNER_TOOL_CACHE": "/opt/hostedtoolcache",
	}
	if contains(mounts, RunnerTemp) {
		env["RUNNER_TEMP"] = at(RunnerTemp)
	} else {
		env["RUNNER_TEMP"] = "/opt/actions-runner/_work/_temp" // no mount, no rewrite
	}
	return root, env
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestDetect(t *testing.T) {
	root, env := fakeContainer(t)
	if e := DetectAt(root, getenv(env)); !e.InContainer() {
		t.Errorf("runner's mounts and rewritten variables: not detected as a container")
	}

	noActions := map[string]string{}
	for k, v := range env {
		noActions[k] = v
	}
	delete(noActions, "GITHUB_ACTIONS")
	if DetectAt(root, getenv(noActions)).InContainer() {
		t.Errorf("without GITHUB_ACTIONS: detected as a container")
	}

	// Folders named like the mounts, but the runner's variables point
	// elsewhere: a host that happens to have /github/workspace.
	onHost := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": "/opt/actions-runner/_work/platform/platform",
		"GITHUB_OUTPUT": "/opt/actions-runner/_work/_temp/_runner_file_commands/set_output_1"}
	if DetectAt(root, getenv(onHost)).InContainer() {
		t.Errorf("variables pointing at the host's folders: detected as a container")
	}

	bare := t.TempDir()
	if DetectAt(bare, getenv(env)).InContainer() {
		t.Errorf("no mounts: detected as a container")
	}
	if e := (Env{}); e.InContainer() || !e.Visible("/anything") {
		t.Errorf("zero Env is not the host")
	}
}

func TestHostPath(t *testing.T) {
	root, env := fakeContainer(t)
	e := DetectAt(root, getenv(env))
	at := func(p string) string { return filepath.Join(root, p) }
	cases := []struct {
		in, want string
		ok       bool
	}{
		{at(RunnerTemp) + "/pachd-r3.json", "/opt/actions-runner/_work/_temp/pachd-r3.json", true},
		{at(RunnerTemp), "/opt/actions-runner/_work/_temp", true},
		{at(Home) + "/backups/x.json", "/opt/actions-runner/_work/_temp/_github_home/backups/x.json", true},
		{at(FileCommands) + "/set_output_1", "/opt/actions-runner/_work/_temp/_runner_file_commands/set_output_1", true},
		{at(Workspace) + "/deploy/values.yaml", "/opt/actions-runner/_work/platform/platform/deploy/values.yaml", true},
		{at("/github/workspace-other/x"), at("/github/workspace-other/x"), false},
		{"/tmp/pach-upgrade/x", "/tmp/pach-upgrade/x", false},
		{"relative/x", "relative/x", false},
	}
	for _, c := range cases {
		got, ok := e.HostPath(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("HostPath(%s) = %s, %v; want %s, %v", c.in, got, ok, c.want, c.ok)
		}
		if e.Visible(c.in) != c.ok {
			t.Errorf("Visible(%s) = %v, want %v", c.in, !c.ok, c.ok)
		}
	}

	// Without RUNNER_WORKSPACE the runner-side path cannot be told.
	delete(env, "RUNNER_WORKSPACE")
	e = DetectAt(root, getenv(env))
	if got, ok := e.HostPath(at(RunnerTemp) + "/x"); ok {
		t.Errorf("without RUNNER_WORKSPACE: HostPath = %s, true; want false", got)
	}
	if !e.Visible(at(RunnerTemp) + "/x") {
		t.Errorf("without RUNNER_WORKSPACE: a mounted path is not visible")
	}

	// On the host every path is its own.
	if got, ok := (Env{}).HostPath("/opt/actions-runner/_work/_temp/x"); got != "/opt/actions-runner/_work/_temp/x" || !ok {
		t.Errorf("host HostPath = %s, %v", got, ok)
	}
}

func TestTempDirAndToolCache(t *testing.T) {
	root, env := fakeContainer(t)
	e := DetectAt(root, getenv(env))
	if got, want := e.TempDir(), filepath.Join(root, RunnerTemp); got != want {
		t.Errorf("TempDir = %s, want the mounted RUNNER_TEMP %s", got, want)
	}
	dir, persists := e.ToolCache()
	if persists || e.Visible(dir) || dir == env["RUNNER_TOOL_CACHE"] {
		t.Errorf("ToolCache in a container = %s, persists %v; want a container folder that does not persist", dir, persists)
	}

	// A runner before 2.331 mounts no RUNNER_TEMP: the home, which lives in
	// the runner's temporary folder, takes its place.
	root, env = fakeContainer(t, Workspace, Home, Workflow, FileCommands)
	e = DetectAt(root, getenv(env))
	if got, want := e.TempDir(), filepath.Join(root, Home); got != want {
		t.Errorf("TempDir without the RUNNER_TEMP mount = %s, want the home %s", got, want)
	}

	host := Detect(getenv(map[string]string{"RUNNER_TEMP": "/r/_temp", "RUNNER_TOOL_CACHE": "/opt/tc"}))
	if host.InContainer() || host.TempDir() != "/r/_temp" {
		t.Errorf("host TempDir = %s", host.TempDir())
	}
	if dir, persists := host.ToolCache(); dir != "/opt/tc" || !persists {
		t.Errorf("host ToolCache = %s, %v", dir, persists)
	}
}

func TestFilesGoToTheRunnersUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to another user needs root, as the container action runs")
	}
	root, env := fakeContainer(t)
	if err := os.Chown(filepath.Join(root, Workspace), runnerUID, runnerUID); err != nil {
		t.Fatal(err)
	}
	e := DetectAt(root, getenv(env))
	if uid, gid := e.Owner(); uid != runnerUID || gid != runnerUID {
		t.Fatalf("Owner = %d:%d, want the workspace's %d:%d", uid, gid, runnerUID, runnerUID)
	}

	dir := filepath.Join(root, RunnerTemp, "backups", "pachd")
	if err := e.MkdirAll(dir); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "snapshot.json")
	if err := os.WriteFile(file, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.GiveToOwner(file); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{
		{filepath.Join(root, RunnerTemp, "backups"), 0o700 | os.ModeDir},
		{dir, 0o700 | os.ModeDir},
		{file, 0o600},
	} {
		assertOwned(t, c.path, runnerUID, c.mode)
	}
	// The mount point itself is the runner's; MkdirAll leaves it alone.
	assertOwned(t, filepath.Join(root, RunnerTemp), 0, 0o755|os.ModeDir)

	// Outside the mounts nothing is given away: the runner cannot see it.
	outside := filepath.Join(root, "tmp", "tools")
	if err := e.MkdirAll(outside); err != nil {
		t.Fatal(err)
	}
	assertOwned(t, outside, 0, 0o700|os.ModeDir)

	// On the host files keep their creator.
	hostDir := filepath.Join(t.TempDir(), "a", "b")
	if err := (Env{}).MkdirAll(hostDir); err != nil {
		t.Fatal(err)
	}
	assertOwned(t, hostDir, 0, 0o700|os.ModeDir)
}

func assertOwned(t *testing.T, path string, uid int, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if int(st.Uid) != uid || int(st.Gid) != uid || fi.Mode() != mode {
		t.Errorf("%s: owner %d:%d mode %v; want %d:%d mode %v", path, st.Uid, st.Gid, fi.Mode(), uid, uid, mode)
	}
}

func TestCheckKubeconfig(t *testing.T) {
	root, env := fakeContainer(t)
	visible := filepath.Join(root, Workspace, "kubeconfig")
	if err := os.WriteFile(visible, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		env     map[string]string
		input   string
		wantErr []string // substrings; nil means no error
	}{
		{"input given", map[string]string{"KUBECONFIG": "/home/runner/.kube/config"}, "apiVersion: v1", nil},
		{"file in the workspace", map[string]string{"KUBECONFIG": visible}, "", nil},
		{"one of a list visible", map[string]string{"KUBECONFIG": "/home/runner/.kube/config:" + visible}, "", nil},
		{"runner's file", map[string]string{"KUBECONFIG": "/home/runner/.kube/config"}, "",
			[]string{"KUBECONFIG", "/home/runner/.kube/config", "Docker container", "`kubeconfig` input", "github.workspace"}},
		{"nothing set", map[string]string{}, "",
			[]string{"KUBECONFIG is not set", filepath.Join(root, Home, ".kube", "config"), "Docker container", "`kubeconfig` input"}},
		{"in-cluster", map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			full := map[string]string{}
			for k, v := range env {
				full[k] = v
			}
			for k, v := range c.env {
				full[k] = v
			}
			err := DetectAt(root, getenv(full)).CheckKubeconfig(c.input)
			if c.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range c.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error lacks %q: %v", s, err)
				}
			}
		})
	}
	// On the host too a missing file is named with the fix, not left to
	// client-go's "no configuration has been provided"; one existing file of
	// the list is enough.
	if err := Detect(getenv(map[string]string{"KUBECONFIG": "/nonexistent"})).CheckKubeconfig(""); err == nil ||
		!strings.Contains(err.Error(), "KUBECONFIG names /nonexistent, which does not exist") || !strings.Contains(err.Error(), "`kubeconfig` input") {
		t.Errorf("host: %v", err)
	}
	exists := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(exists, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Detect(getenv(map[string]string{"KUBECONFIG": "/nonexistent" + string(filepath.ListSeparator) + exists})).CheckKubeconfig(""); err != nil {
		t.Errorf("host, one file exists: %v", err)
	}
}

func TestCheckServer(t *testing.T) {
	root, env := fakeContainer(t)
	e := DetectAt(root, getenv(env))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := ln.Addr().String()
	closedLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := closedLn.Addr().(*net.TCPAddr)
	closedLn.Close()
	defer ln.Close()

	ctx := context.Background()
	for _, server := range []string{"https://" + open, open, "https://10.1.2.3:6443", "https://api.example.test"} {
		if err := e.CheckServer(ctx, server); err != nil {
			t.Errorf("CheckServer(%s): %v", server, err)
		}
	}
	for _, server := range []string{
		"https://127.0.0.1:" + strconv.Itoa(closed.Port),
		"https://localhost:" + strconv.Itoa(closed.Port),
		"https://[::1]:" + strconv.Itoa(closed.Port),
	} {
		err := e.CheckServer(ctx, server)
		if err == nil {
			t.Errorf("CheckServer(%s): no error for an unreachable loopback server", server)
			continue
		}
		for _, s := range []string{server, "loopback", "not the runner's", "docker run --network host"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("CheckServer(%s) error lacks %q: %v", server, s, err)
			}
		}
	}
	if err := (Env{}).CheckServer(ctx, "https://127.0.0.1:"+strconv.Itoa(closed.Port)); err != nil {
		t.Errorf("host: %v", err)
	}
}

// TestDetectActLayout: act starts the action's container with the runner's
// contract but not GitHub's /github/* paths: the workspace at its host path
// and the file commands in a volume at /var/run/act, RUNNER_TEMP=/tmp on the
// container's own file system. The container rules engage, and what is not
// on a mount of its own counts as not shared.
func TestDetectActLayout(t *testing.T) {
	root := t.TempDir()
	at := func(p string) string { return filepath.Join(root, p) }
	for _, d := range []string{"/home/dev/ops", "/var/run/act/workflow", "/tmp", "/root"} {
		if err := os.MkdirAll(at(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(at("/run/.containerenv"), nil, 0o644); err != nil {
		if err := os.MkdirAll(at("/run"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(at("/run/.containerenv"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": at("/home/dev/ops"),
		"GITHUB_OUTPUT": at("/var/run/act/workflow/outputcmd.txt"), "RUNNER_TEMP": at("/tmp"), "HOME": at("/root"),
		"KUBECONFIG": "/home/runner/.kube/config"}
	mounts := func() []string { return []string{root, at("/home/dev/ops"), at("/var/run/act"), at("/etc/hosts")} }

	e := detect(root, getenv(env), mounts)
	if !e.InContainer() {
		t.Fatal("act's layout: not detected as a container")
	}
	for p, want := range map[string]bool{
		at("/home/dev/ops/backups/x.json"):      true,
		at("/var/run/act/workflow/summary.txt"): true,
		at("/tmp/pach-upgrade-snapshot.json"):   false,
		at("/opt/kube/config"):                  false,
	} {
		if e.Visible(p) != want {
			t.Errorf("Visible(%s) = %v, want %v", p, !want, want)
		}
	}
	if dir := e.TempDir(); dir != "" {
		t.Errorf("TempDir = %s: act's RUNNER_TEMP is not shared with the job, want none", dir)
	}
	if err := e.CheckKubeconfig(""); err == nil || !strings.Contains(err.Error(), "/home/runner/.kube/config") ||
		!strings.Contains(err.Error(), "cannot see") || !strings.Contains(err.Error(), "GITHUB_WORKSPACE") {
		t.Errorf("CheckKubeconfig = %v, want the path, why it is out of sight and the shared folders", err)
	}

	// Without a container's marker, or with the workspace on the root file
	// system, these are a host's folders.
	if err := os.Remove(at("/run/.containerenv")); err != nil {
		t.Fatal(err)
	}
	if detect(root, getenv(env), mounts).InContainer() {
		t.Error("no container marker: detected as a container")
	}
	if err := os.WriteFile(at("/.dockerenv"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if !detect(root, getenv(env), mounts).InContainer() {
		t.Error("Docker's marker: not detected as a container")
	}
	if detect(root, getenv(env), func() []string { return []string{root} }).InContainer() {
		t.Error("workspace on the container's root file system: detected as the runner's container")
	}
}
