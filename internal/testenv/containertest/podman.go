// Package containertest runs the pach-upgrade image the way the GitHub Actions
// runner runs a container action, with podman, offline:
//
//   - Require finds podman, runc, a static BusyBox and CA certificates (from
//     Debian's podman, runc, busybox-static and ca-certificates packages);
//     without them a test is skipped with the reason, and fails under CI=true.
//   - Image builds the project's own Dockerfile once per test binary, with its
//     two base images (build arguments BUILDER and BASE) replaced by local
//     images made from that BusyBox and those certificates. The build stage
//     runs the Dockerfile's real commands with the host's Go toolchain, module
//     cache and build cache mounted in, as no Go image can be pulled here.
//   - NewStep lays out a runner's work folder (workspace, _temp, home,
//     workflow, file commands) owned by the runner's user (uid 1001), and
//     Step.Start / Step.Run run the image as the runner does: its mounts,
//     --workdir /github/workspace, -e for every variable with host paths
//     rewritten to container paths, GITHUB_ACTIONS=true and CI=true, no
//     --user, --rm. The one deviation is --network host, so that the
//     container reaches the test's servers on 127.0.0.1.
//
// A test calls
//
//	img := containertest.Image(t)          // skips or fails when podman is missing
//	step := containertest.NewStep(t, img, containertest.StepOptions{...})
//	res, err := step.Run(ctx, inputs)      // or step.Start, then Signal / Wait
package containertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
)

// Where the local base images come from: Debian's busybox-static and
// ca-certificates packages.
const (
	busyboxPath = "/bin/busybox"
	caCertsPath = "/etc/ssl/certs/ca-certificates.crt"
)

// ImageName is the tag the project's image is built under.
const ImageName = "localhost/pach-upgrade:test"

// Podman runs podman with the settings that work on this machine kind: vfs
// storage, runc, cgroupfs, no default ulimits, storage in the user cache
// folder so that the base images survive between test runs.
type Podman struct {
	dir  string // holds storage, run root, containers.conf and the lock
	conf string
}

// Require returns podman ready to use, or skips the test with the reason
// (fails it under CI=true) when a tool is missing.
func Require(t testing.TB) *Podman {
	t.Helper()
	p, err := podmanOnce()
	if err != nil {
		msg := "container tests need podman, runc, busybox-static and ca-certificates (Debian packages), " +
			"run as root: " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

var (
	podmanInit sync.Once
	podmanVal  *Podman
	podmanErr  error
)

func podmanOnce() (*Podman, error) {
	podmanInit.Do(func() { podmanVal, podmanErr = newPodman() })
	return podmanVal, podmanErr
}

func newPodman() (*Podman, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("not root: the runner's container runs as root and the test gives folders to uid 1001")
	}
	for _, tool := range []string{"podman", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found on PATH", tool)
		}
	}
	for _, f := range []string{busyboxPath, caCertsPath} {
		if _, err := os.Stat(f); err != nil {
			return nil, err
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return nil, err
	}
	// Not under the cache folder of the control plane's binaries, which CI
	// saves between runs: podman's storage is rebuilt in seconds.
	dir := filepath.Join(cache, "pach-upgrade-podman")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &Podman{dir: dir, conf: filepath.Join(dir, "containers.conf")}
	// Without it runc fails with "setrlimit RLIMIT_NOFILE: Operation not permitted".
	if err := os.WriteFile(p.conf, []byte("[containers]\ndefault_ulimits = []\n"), 0o644); err != nil {
		return nil, err
	}
	return p, nil
}

// Command returns a podman command with this machine kind's global options.
func (p *Podman) Command(ctx context.Context, args ...string) *exec.Cmd {
	global := []string{
		"--root", filepath.Join(p.dir, "storage"),
		"--runroot", filepath.Join(p.dir, "run"),
		"--storage-driver", "vfs",
		"--runtime", "runc",
		"--cgroup-manager", "cgroupfs",
		"--events-backend", "file",
	}
	cmd := exec.CommandContext(ctx, "podman", append(global, args...)...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+p.conf)
	return cmd
}

// Output runs podman and returns its stdout; the error carries stderr.
func (p *Podman) Output(ctx context.Context, args ...string) (string, error) {
	cmd := p.Command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("podman %s: %w\n%s", strings.Join(args, " "), err, lastLines(stderr.String(), 30))
	}
	return stdout.String(), nil
}

// lock serialises image builds and pruning between test processes that
// share the storage.
func (p *Podman) lock() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(p.dir, "build.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// Built describes the image Image built.
type Built struct {
	// Name is the image's tag; ID its immutable ID, which runs should use.
	Name, ID string
	// BuildTime is how long podman build took.
	BuildTime time.Duration
	// Size is the image's size on disk (uncompressed layers), in bytes.
	Size int64
}

var (
	imageInit sync.Once
	imageVal  Built
	imageErr  error
)

// Image builds the project's Dockerfile once per test binary and returns the
// image. It skips or fails the test as Require does when podman is missing.
func Image(t testing.TB) Built {
	t.Helper()
	p := Require(t)
	imageInit.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		imageVal, imageErr = p.buildImage(ctx)
	})
	if imageErr != nil {
		t.Fatalf("build the pach-upgrade image: %v", imageErr)
	}
	return imageVal
}

func (p *Podman) buildImage(ctx context.Context) (Built, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return Built{}, err
	}
	unlock, err := p.lock()
	if err != nil {
		return Built{}, err
	}
	defer unlock()
	base, err := p.baseImage(ctx)
	if err != nil {
		return Built{}, err
	}
	builder, err := p.builderImage(ctx)
	if err != nil {
		return Built{}, err
	}
	goCache, goModCache, err := goDirs(ctx)
	if err != nil {
		return Built{}, err
	}
	start := time.Now()
	_, err = p.Output(ctx, "build",
		"--file", filepath.Join(root, "Dockerfile"),
		"--build-arg", "BUILDER="+builder,
		"--build-arg", "BASE="+base,
		"--build-arg", "TARGETOS=linux",
		"--layers=false",
		// The build stage runs go with the host's toolchain and caches, at
		// the same paths, so that the host's build cache serves it.
		"--volume", runtime.GOROOT()+":"+runtime.GOROOT()+":ro",
		"--volume", goModCache+":"+goModCache+":ro",
		"--volume", goCache+":"+goCache,
		"--tag", ImageName,
		root)
	if err != nil {
		return Built{}, err
	}
	b := Built{Name: ImageName, BuildTime: time.Since(start)}
	out, err := p.Output(ctx, "image", "inspect", "--format", "{{.Id}} {{.Size}}", ImageName)
	if err != nil {
		return Built{}, err
	}
	if _, err := fmt.Sscan(out, &b.ID, &b.Size); err != nil {
		return Built{}, fmt.Errorf("read image ID and size from %q: %w", out, err)
	}
	// Drop the images earlier builds left untagged, so the storage does not grow.
	if _, err := p.Output(ctx, "image", "prune", "--force"); err != nil {
		return Built{}, err
	}
	return b, nil
}

// goDirs returns the host's GOCACHE and GOMODCACHE.
func goDirs(ctx context.Context) (goCache, goModCache string, err error) {
	out, err := exec.CommandContext(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), "env", "GOCACHE", "GOMODCACHE").Output()
	if err != nil {
		return "", "", fmt.Errorf("go env: %w", err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return "", "", fmt.Errorf("go env GOCACHE GOMODCACHE printed %q", out)
	}
	return f[0], f[1], nil
}

// baseImage imports the runtime base: BusyBox and the CA certificates, the
// shape of the Dockerfile's busybox base. It is tagged by content, so an
// unchanged base is imported once per machine.
func (p *Podman) baseImage(ctx context.Context) (string, error) {
	return p.importRootfs(ctx, "localhost/pach-upgrade-test-base", nil)
}

// builderImage is the base with the host's Go toolchain on PATH and the
// environment of the golang image, offline: the Dockerfile's build stage
// runs on it with the toolchain and caches mounted.
func (p *Podman) builderImage(ctx context.Context) (string, error) {
	goCache, goModCache, err := goDirs(ctx)
	if err != nil {
		return "", err
	}
	env := []string{
		"PATH=" + filepath.Join(runtime.GOROOT(), "bin") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"GOTOOLCHAIN=local",
		"GOPROXY=off",
		"GOFLAGS=-mod=readonly",
		"GOCACHE=" + goCache,
		"GOMODCACHE=" + goModCache,
	}
	return p.importRootfs(ctx, "localhost/pach-upgrade-test-builder", env)
}

// importRootfs builds a root file system of BusyBox (with its applets
// linked), the CA certificates, /tmp and a root user, and imports it with env
// as the image's environment, unless an image of the same content exists.
func (p *Podman) importRootfs(ctx context.Context, repo string, env []string) (string, error) {
	busybox, err := os.ReadFile(busyboxPath)
	if err != nil {
		return "", err
	}
	certs, err := os.ReadFile(caCertsPath)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(busybox)
	h.Write(certs)
	for _, e := range env {
		fmt.Fprintln(h, e)
	}
	name := repo + ":" + hex.EncodeToString(h.Sum(nil))[:16]
	if _, err := p.Output(ctx, "image", "exists", name); err == nil {
		return name, nil
	}
	dir, err := os.MkdirTemp("", "pach-upgrade-rootfs-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	rootfs := filepath.Join(dir, "rootfs")
	applets, err := exec.CommandContext(ctx, busyboxPath, "--list").Output()
	if err != nil {
		return "", fmt.Errorf("busybox --list: %w", err)
	}
	files := map[string][]byte{
		"bin/busybox":                       busybox,
		"etc/ssl/certs/ca-certificates.crt": certs,
		"etc/passwd":                        []byte("root:x:0:0:root:/root:/bin/sh\n"),
		"etc/group":                         []byte("root:x:0:\n"),
	}
	for rel, data := range files {
		path := filepath.Join(rootfs, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", err
		}
		mode := os.FileMode(0o644)
		if rel == "bin/busybox" {
			mode = 0o755
		}
		if err := os.WriteFile(path, data, mode); err != nil {
			return "", err
		}
	}
	for _, a := range strings.Fields(string(applets)) {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", a)); err != nil && !errors.Is(err, os.ErrExist) {
			return "", err
		}
	}
	for _, d := range []string{"tmp", "root", "usr/local/bin"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return "", err
		}
	}
	if err := os.Chmod(filepath.Join(rootfs, "tmp"), 0o777|os.ModeSticky); err != nil {
		return "", err
	}
	tarball := filepath.Join(dir, "rootfs.tar")
	if out, err := exec.CommandContext(ctx, "tar", "-C", rootfs, "--numeric-owner", "--owner=0", "--group=0", "-cf", tarball, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("tar rootfs: %w\n%s", err, out)
	}
	args := []string{"import"}
	sort.Strings(env)
	for _, e := range env {
		args = append(args, "--change", "ENV "+e)
	}
	args = append(args, tarball, name)
	if _, err := p.Output(ctx, args...); err != nil {
		return "", err
	}
	return name, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// CompressedSize is what a runner pulls for img: the sum of its layers
// gzip-compressed, as a registry serves them.
func CompressedSize(ctx context.Context, img Built) (int64, error) {
	p, err := podmanOnce()
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "pach-upgrade-oci-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if _, err := p.Output(ctx, "push", "--quiet", "--compression-format", "gzip", img.ID, "oci:"+dir+":image"); err != nil {
		return 0, err
	}
	var index struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	if err := readJSON(filepath.Join(dir, "index.json"), &index); err != nil {
		return 0, err
	}
	if len(index.Manifests) != 1 {
		return 0, fmt.Errorf("OCI layout holds %d manifests, want 1", len(index.Manifests))
	}
	var manifest struct {
		Layers []struct{ Size int64 } `json:"layers"`
	}
	if err := readJSON(blobPath(dir, index.Manifests[0].Digest), &manifest); err != nil {
		return 0, err
	}
	var total int64
	for _, l := range manifest.Layers {
		total += l.Size
	}
	return total, nil
}

func blobPath(dir, digest string) string {
	algo, hexDigest, _ := strings.Cut(digest, ":")
	return filepath.Join(dir, "blobs", algo, hexDigest)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}
