package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Versions of what the tool builds. The Kubernetes version is fixed by builder/go.mod.
const (
	kubernetesVersion = "v1.37.2"
	kwokModule        = "sigs.k8s.io/kwok/cmd/kwok@v0.8.0"
	helm3Module       = "helm.sh/helm/v3/cmd/helm@v3.22.0"
	helm4Module       = "helm.sh/helm/v4/cmd/helm@v4.3.1" // the CLI of the SDK the action uses
	// helm4File names the Helm 4 CLI with its version instead of entering the cache key: a
	// new key rebuilds every binary, while a new name builds only this one when it changes.
	helm4File = "helm4-v4.3.1"
	// kwokFile names kwok with its version and the patch it is built with
	// (kwokpatch.go), for the same reason.
	kwokFile = "kwok-v0.8.0-" + kwokPatch
)

// Binaries are the built commands, all in Dir.
type Binaries struct {
	Dir               string
	APIServer         string
	ControllerManager string
	Scheduler         string
	Kwok              string
	Helm3             string
	Helm4             string
}

func binariesIn(dir string) Binaries {
	return Binaries{
		Dir:               dir,
		APIServer:         filepath.Join(dir, "kube-apiserver"),
		ControllerManager: filepath.Join(dir, "kube-controller-manager"),
		Scheduler:         filepath.Join(dir, "kube-scheduler"),
		Kwok:              filepath.Join(dir, kwokFile),
		Helm3:             filepath.Join(dir, "helm3"),
		Helm4:             filepath.Join(dir, helm4File),
	}
}

func (b Binaries) all() []string {
	return []string{b.APIServer, b.ControllerManager, b.Scheduler, b.Kwok, b.Helm3, b.Helm4}
}

func (b Binaries) complete() bool {
	for _, p := range b.all() {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// builderDir finds the committed builder module. The tool runs with test/cluster as its working
// directory (go -C test/cluster run .), so look there first, then beside the executable's source.
func builderDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("get working dir: %w", err)
	}
	for _, cand := range []string{filepath.Join(wd, "builder"), filepath.Join(wd, "test", "cluster", "builder")} {
		if _, err := os.Stat(filepath.Join(cand, "go.mod")); err == nil {
			return cand, nil
		}
	}
	return "", fmt.Errorf("builder module not found under %s: run the tool from test/cluster (go -C test/cluster run .)", wd)
}

// cacheKey changes whenever anything that goes into the binaries changes: the pinned module
// graph of the builder, the kwok and Helm versions, and the Go toolchain.
func cacheKey(builder string) (string, error) {
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(builder, f))
		if err != nil {
			return "", fmt.Errorf("read builder %s: %w", f, err)
		}
		h.Write(b)
	}
	fmt.Fprintln(h, kwokModule, helm3Module, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return kubernetesVersion + "-" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// binRoot is where built binaries are kept between runs. PACH_UPGRADE_CLUSTER_BIN_CACHE
// overrides it; without a usable user cache dir the binaries go to a temporary dir, so the
// cache is an optimisation only.
func binRoot() string {
	if d := os.Getenv("PACH_UPGRADE_CLUSTER_BIN_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "pach-upgrade", "cluster-bin")
	}
	return filepath.Join(os.TempDir(), "pach-upgrade-cluster-bin")
}

// ensureBinaries returns the cached binaries, building the missing ones first. A file lock
// serialises concurrent callers (two test binaries starting at once) and every binary is built
// to a temporary name and renamed into place, so a killed build never leaves a half binary.
func ensureBinaries(ctx context.Context, logw io.Writer) (Binaries, error) {
	builder, err := builderDir()
	if err != nil {
		return Binaries{}, err
	}
	key, err := cacheKey(builder)
	if err != nil {
		return Binaries{}, err
	}
	dir := filepath.Join(binRoot(), key)
	bins := binariesIn(dir)
	if bins.complete() {
		return bins, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binaries{}, fmt.Errorf("create binary cache %s: %w", dir, err)
	}
	unlock, err := lockFile(ctx, filepath.Join(dir, ".lock"), logw)
	if err != nil {
		return Binaries{}, err
	}
	defer unlock()
	if bins.complete() { // another process built them while we waited
		return bins, nil
	}
	start := time.Now()
	fmt.Fprintf(logw, "cluster: building control-plane binaries into %s (cold: several minutes)\n", dir)
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return Binaries{}, fmt.Errorf("create build dir: %w", err)
	}
	defer os.RemoveAll(tmp)

	if !fileExists(bins.APIServer) || !fileExists(bins.ControllerManager) || !fileExists(bins.Scheduler) {
		ldflags := strings.Join([]string{
			"-s", "-w",
			"-X", "k8s.io/component-base/version.gitVersion=" + kubernetesVersion,
			"-X", "k8s.io/component-base/version.gitMajor=1",
			"-X", "k8s.io/component-base/version.gitMinor=37",
			"-X", "k8s.io/component-base/version.gitTreeState=clean",
		}, " ")
		args := []string{"build", "-trimpath", "-ldflags", ldflags, "-o", tmp + string(os.PathSeparator),
			"k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kube-controller-manager", "k8s.io/kubernetes/cmd/kube-scheduler"}
		if err := goCmd(ctx, builder, nil, logw, args...); err != nil {
			return Binaries{}, fmt.Errorf("build Kubernetes %s control plane: %w", kubernetesVersion, err)
		}
		for _, name := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
			if err := os.Rename(filepath.Join(tmp, name), filepath.Join(dir, name)); err != nil {
				return Binaries{}, fmt.Errorf("move %s into the cache: %w", name, err)
			}
		}
	}
	if !fileExists(bins.Kwok) {
		if err := buildPatchedKwok(ctx, tmp, bins.Kwok, logw); err != nil {
			return Binaries{}, err
		}
	}
	for _, b := range []struct{ module, dst string }{{helm3Module, bins.Helm3}, {helm4Module, bins.Helm4}} {
		if fileExists(b.dst) {
			continue
		}
		gobin := filepath.Join(tmp, filepath.Base(b.dst)+".bin")
		// go install pkg@version builds with the module's own go.mod, outside any workspace.
		env := []string{"GOBIN=" + gobin, "GOWORK=off", "GOFLAGS=-trimpath", "CGO_ENABLED=0"}
		if err := goCmd(ctx, tmp, env, logw, "install", "-ldflags=-s -w", b.module); err != nil {
			return Binaries{}, fmt.Errorf("build %s: %w", b.module, err)
		}
		name := strings.SplitN(filepath.Base(b.module), "@", 2)[0]
		if err := os.Rename(filepath.Join(gobin, name), b.dst); err != nil {
			return Binaries{}, fmt.Errorf("move %s into the cache: %w", name, err)
		}
	}
	fmt.Fprintf(logw, "cluster: built control-plane binaries in %s\n", time.Since(start).Round(time.Second))
	if !bins.complete() {
		return Binaries{}, errors.New("binaries still missing after build")
	}
	return bins, nil
}

func goCmd(ctx context.Context, dir string, env []string, logw io.Writer, args ...string) error {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if !fileExists(goBin) {
		goBin = "go"
	}
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logw
	cmd.Stderr = logw
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// lockFile takes an exclusive flock on path, polling so that ctx can cancel the wait.
func lockFile(ctx context.Context, path string, logw io.Writer) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !told {
			fmt.Fprintln(logw, "cluster: another process is building the binaries; waiting")
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for build lock %s: %w", path, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
