// Package runnerenv knows where the GitHub Actions runner started this
// process: on the runner itself, or in the container of a container action,
// which is how users run the action. In the container the runner's folders
// are bind-mounted under /github, variables that named them are rewritten to
// the container paths, and the process runs as root while the runner's user
// owns the folders. This package holds the rules that follow from that: which
// paths the runner can see, the runner-side path of a file, and giving what
// the action writes into a mounted folder back to the runner's user.
//
// It detects the container from the runner's mounts, never from a user's
// flag: a run on a self-hosted runner's host or on a laptop keeps the plain
// host rules.
package runnerenv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// The folders the runner mounts into a container action (actions/runner,
// ContainerActionHandler), by their container paths.
const (
	Workspace    = "/github/workspace"
	Home         = "/github/home"
	Workflow     = "/github/workflow"
	FileCommands = "/github/file_commands"
	// RunnerTemp is mounted by runners from 2.331 on (2.329 behind a flag).
	RunnerTemp = "/github/runner_temp"
)

// Env is where this process runs. The zero value is "on the runner (or any
// host)": every path is its own host path and files keep the owner and
// mode they are created with.
type Env struct {
	container bool
	getenv    func(string) string
	// mounts are the runner's folders present in this container, innermost
	// first so that a path maps through the most specific one.
	mounts []mount
	// uid and gid own the workspace: the runner's user.
	uid, gid int
}

// mount is one folder of the runner seen from the container.
type mount struct {
	name string // the mount point's constant (Workspace, Home, ...)
	path string // in the container (under the test root, if any)
	host string // on the runner; "" when it cannot be told
	real string // path with symlinks resolved, when it differs
}

// Detect looks at this process's file system and environment.
func Detect(getenv func(string) string) Env { return DetectAt("/", getenv) }

// DetectAt is Detect with the container's mount points under root instead of
// "/", so tests can lay them out in a temporary directory; the variables
// getenv returns must then name paths under root too.
func DetectAt(root string, getenv func(string) string) Env {
	return detect(root, getenv, func() []string { return mountPoints(root) })
}

// detect recognises the runner's container by its contract, in two forms.
// GitHub's runner mounts its folders at the exact /github/* paths. Other
// Actions clients (act, say) start the action's container with the same
// contract, GITHUB_WORKSPACE and the file-command files shared with the job,
// but mount them elsewhere: there the shared folders are those the runner's
// variables name that lie on a mount of their own, not on the container's
// root file system.
func detect(root string, getenv func(string) string, mounted func() []string) Env {
	e := Env{getenv: getenv}
	if getenv("GITHUB_ACTIONS") != "true" {
		return e
	}
	at := func(p string) string { return filepath.Join(root, p) }
	ws, err := os.Stat(at(Workspace))
	if err != nil || !ws.IsDir() {
		return detectElsewhere(root, getenv, mounted)
	}
	if fi, err := os.Stat(at(FileCommands)); err != nil || !fi.IsDir() {
		return detectElsewhere(root, getenv, mounted)
	}
	// The runner rewrites the variables that name its folders: at least one
	// of them must point into the mounts, or these folders are a coincidence.
	if getenv("GITHUB_WORKSPACE") != at(Workspace) && !within(getenv("GITHUB_OUTPUT"), at(FileCommands)) {
		return detectElsewhere(root, getenv, mounted)
	}
	e.container = true
	if st, ok := ws.Sys().(*syscall.Stat_t); ok {
		e.uid, e.gid = int(st.Uid), int(st.Gid)
	}
	hostTemp, hostWorkspace := hostFolders(getenv)
	for _, m := range []mount{
		{name: Home, host: join(hostTemp, "_github_home")},
		{name: Workflow, host: join(hostTemp, "_github_workflow")},
		{name: FileCommands, host: join(hostTemp, "_runner_file_commands")},
		{name: RunnerTemp, host: hostTemp},
		{name: Workspace, host: hostWorkspace},
	} {
		m.path = at(m.name)
		if real, err := filepath.EvalSymlinks(m.path); err == nil && real != m.path {
			m.real = real // resolved paths (ResolveDir, /proc/self/fd) compare with it
		}
		if fi, err := os.Stat(m.path); err == nil && fi.IsDir() {
			e.mounts = append(e.mounts, m)
		}
	}
	return e
}

// containerMarkers are the files Docker and Podman put at the root of every
// container they start.
var containerMarkers = []string{"/.dockerenv", "/run/.containerenv"}

// detectElsewhere is the contract without GitHub's paths: in a container
// (Docker's or Podman's marker file), with GITHUB_WORKSPACE a folder on a
// mount of its own. Each folder a runner variable names (GITHUB_WORKSPACE,
// the file commands', HOME, RUNNER_TEMP) is shared with the job only when it
// is on such a mount; anything on the container's own root file system dies
// with it (act's RUNNER_TEMP=/tmp).
func detectElsewhere(root string, getenv func(string) string, mounted func() []string) Env {
	e := Env{getenv: getenv}
	marked := false
	for _, m := range containerMarkers {
		if _, err := os.Stat(filepath.Join(root, m)); err == nil {
			marked = true
		}
	}
	if !marked {
		return e
	}
	points := mounted()
	onMount := func(p string) bool {
		if !filepath.IsAbs(p) {
			return false
		}
		for _, mp := range points {
			if mp != root && mp != "/" && within(filepath.Clean(p), mp) {
				return true
			}
		}
		return false
	}
	wsPath := getenv("GITHUB_WORKSPACE")
	ws, err := os.Stat(wsPath)
	if err != nil || !ws.IsDir() || !onMount(wsPath) {
		return e
	}
	e.container = true
	if st, ok := ws.Sys().(*syscall.Stat_t); ok {
		e.uid, e.gid = int(st.Uid), int(st.Gid)
	}
	var fileCommands string
	if out := getenv("GITHUB_OUTPUT"); filepath.IsAbs(out) {
		fileCommands = filepath.Dir(out)
	}
	for _, m := range []mount{
		{name: Home, path: getenv("HOME")},
		{name: FileCommands, path: fileCommands},
		{name: RunnerTemp, path: getenv("RUNNER_TEMP")},
		{name: Workspace, path: wsPath},
	} {
		if m.path == "" || !filepath.IsAbs(m.path) {
			continue
		}
		m.path = filepath.Clean(m.path)
		if fi, err := os.Stat(m.path); err != nil || !fi.IsDir() || !onMount(m.path) {
			continue
		}
		if real, err := filepath.EvalSymlinks(m.path); err == nil && real != m.path {
			m.real = real
		}
		e.mounts = append(e.mounts, m)
	}
	// Innermost first, so a path maps through the most specific folder.
	sort.SliceStable(e.mounts, func(i, j int) bool { return len(e.mounts[i].path) > len(e.mounts[j].path) })
	return e
}

// mountPoints lists this process's mount points (from /proc/self/mountinfo)
// that lie under root.
func mountPoints(root string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		p := unescapeMountinfo(fields[4])
		if within(p, root) {
			out = append(out, p)
		}
	}
	return out
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// hostFolders finds the runner-side paths of its temporary folder and the
// workspace. The runner rewrites every variable under a mounted folder, but
// not RUNNER_WORKSPACE, the parent of the workspace: the runner lays out
// <work>/<repo> (RUNNER_WORKSPACE), <work>/<repo>/<repo> (GITHUB_WORKSPACE)
// and <work>/_temp (RUNNER_TEMP, holding the home, workflow and file-command
// folders).
func hostFolders(getenv func(string) string) (temp, workspace string) {
	rw := getenv("RUNNER_WORKSPACE")
	if !filepath.IsAbs(rw) || within(rw, "/github") {
		return "", ""
	}
	rw = filepath.Clean(rw)
	temp = filepath.Join(filepath.Dir(rw), "_temp")
	if _, name, ok := strings.Cut(getenv("GITHUB_REPOSITORY"), "/"); ok && name != "" && !strings.ContainsAny(name, `/\`) {
		workspace = filepath.Join(rw, name)
	}
	return temp, workspace
}

func join(dir, name string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, name)
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	if path == "" || dir == "" {
		return false
	}
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// InContainer reports whether this process is a container action's.
func (e Env) InContainer() bool { return e.container }

// Owner returns the uid and gid of the runner's user (the workspace's owner)
// in a container.
func (e Env) Owner() (uid, gid int) { return e.uid, e.gid }

// mountOf returns the mounted folder path is in.
func (e Env) mountOf(path string) (mount, bool) {
	if !filepath.IsAbs(path) {
		return mount{}, false
	}
	for _, m := range e.mounts {
		if within(filepath.Clean(path), m.path) {
			return m, true
		}
		if m.real != "" && within(filepath.Clean(path), m.real) {
			m.path = m.real
			return m, true
		}
	}
	return mount{}, false
}

// Visible reports whether the runner can see path: always on the host, and
// in a container only under a mounted folder.
func (e Env) Visible(path string) bool {
	if !e.container {
		return true
	}
	_, ok := e.mountOf(path)
	return ok
}

// HostPath returns the path by which the runner and later steps find path.
// ok is false in a container when path is not under a mounted folder, or
// the runner-side path cannot be told; path is then returned as it is.
func (e Env) HostPath(path string) (host string, ok bool) {
	if !e.container {
		return path, true
	}
	m, found := e.mountOf(path)
	if !found || m.host == "" {
		return path, false
	}
	rel, _ := filepath.Rel(m.path, filepath.Clean(path))
	return filepath.Join(m.host, rel), true
}

// TempDir is where run files that must outlive the step go: the runner's
// temporary folder (RUNNER_TEMP). In a container that is the mounted
// RUNNER_TEMP when the runner mounts it and otherwise the mounted home,
// which lives in the runner's temporary folder too; "" when there is none.
func (e Env) TempDir() string {
	if !e.container {
		return e.getenvOr("RUNNER_TEMP")
	}
	for _, name := range []string{RunnerTemp, Home} {
		for _, m := range e.mounts {
			if m.name == name {
				return m.path
			}
		}
	}
	return ""
}

// ToolCache is where pachctl is installed and whether that folder outlives
// the step. On the host it is RUNNER_TOOL_CACHE ("" lets the installer pick
// its default). The runner mounts no tool cache into a container, so there
// a folder of the container is used, which nothing later can find.
func (e Env) ToolCache() (dir string, persists bool) {
	if !e.container {
		return e.getenvOr("RUNNER_TOOL_CACHE"), true
	}
	return filepath.Join(os.TempDir(), "pach-upgrade", "tools"), false
}

func (e Env) getenvOr(name string) string {
	if e.getenv == nil {
		return os.Getenv(name)
	}
	return e.getenv(name)
}

// MkdirAll creates dir and its missing parents with mode 0700. In a
// container, each folder it creates in a mounted folder is given to the
// runner's user, who alone can then read it. dir should be resolved first
// (ResolveDir): each folder is given away through its own open descriptor,
// never by a path a symlink could redirect.
func (e Env) MkdirAll(dir string) error {
	dir = filepath.Clean(dir)
	var created []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		created = append(created, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for i := len(created) - 1; i >= 0; i-- {
		f, err := os.OpenFile(created[i], os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return err
		}
		err = e.GiveFileToOwner(f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// ResolveDir returns the real folder dir names: a relative dir is taken
// relative to the workspace (GITHUB_WORKSPACE, where the runner starts the
// step; else the working directory), and symlinks in its existing part are
// followed. Mount checks and ownership must be decided on this path, not on
// the text: a symlink the workspace holds (a pull request's to write) can
// point anywhere.
func (e Env) ResolveDir(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("empty folder")
	}
	if !filepath.IsAbs(dir) {
		base := e.getenvOr("GITHUB_WORKSPACE")
		if base == "" {
			wd, err := os.Getwd()
			if err != nil {
				return "", err
			}
			base = wd
		}
		dir = filepath.Join(base, dir)
	}
	dir = filepath.Clean(dir)
	// Resolve the longest part that exists; the rest is created later.
	var rest []string
	for d := dir; ; d = filepath.Dir(d) {
		real, err := filepath.EvalSymlinks(d)
		if err == nil {
			return filepath.Join(append([]string{real}, rest...)...), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if filepath.Dir(d) == d {
			return dir, nil
		}
		rest = append([]string{filepath.Base(d)}, rest...)
	}
}

// GiveFileToOwner is GiveToOwner for a file the action opened: the open
// file, not a path, goes to the runner's user, and only when the file
// really is in a mounted folder.
func (e Env) GiveFileToOwner(f *os.File) error {
	if !e.container {
		return nil
	}
	real, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		real = f.Name()
	}
	if _, ok := e.mountOf(real); !ok {
		return nil
	}
	if err := f.Chown(e.uid, e.gid); err != nil {
		return fmt.Errorf("give %s to the runner's user (uid %d): %w", real, e.uid, err)
	}
	return nil
}

// GiveToOwner hands a file or folder the action created in a mounted folder
// to the runner's user: root, which the action runs as, owns it otherwise,
// and the runner's later steps could neither read nor remove it
// (actions/runner#434). Files should be created 0600 and folders 0700, so
// that this user and no one else can read them. Outside a container, and for
// paths the runner cannot see, it does nothing.
func (e Env) GiveToOwner(path string) error {
	if !e.container {
		return nil
	}
	if _, ok := e.mountOf(path); !ok {
		return nil
	}
	if err := os.Lchown(path, e.uid, e.gid); err != nil {
		return fmt.Errorf("give %s to the runner's user (uid %d): %w", path, e.uid, err)
	}
	return nil
}

// RunnerFile returns where this process opens a file that a variable names
// by path, such as GOOGLE_APPLICATION_CREDENTIALS. On the host that is path
// itself. In a container it is path when path is under a mounted folder (the
// runner rewrote the variable), or the mounted counterpart of a runner-side
// path under a mounted folder (a variable the runner did not rewrite); ok is
// false for any other path, which names nothing the runner shares with this
// container. Only the runner's real mounts map a path: the workspace's
// contents are never searched for it, since a pull request writes them.
func (e Env) RunnerFile(path string) (string, bool) {
	if !e.container {
		return path, true
	}
	if !filepath.IsAbs(path) {
		return path, false
	}
	path = filepath.Clean(path)
	if _, ok := e.mountOf(path); ok {
		return path, true
	}
	for _, m := range e.mounts {
		if m.host != "" && within(path, m.host) {
			rel, _ := filepath.Rel(m.host, path)
			return filepath.Join(m.path, rel), true
		}
	}
	return path, false
}

// MountList names the runner's folders mounted into this container, by the
// variables that name them, for messages.
func (e Env) MountList() string { return e.mountList() }
