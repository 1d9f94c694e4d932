package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// kwokPatch names the patch below; change it with the patch, so that the
// cached kwok is built again (and nothing else).
const kwokPatch = "execkill1"

// kwokSource is the module kwokModule's command is in.
const kwokSource = "sigs.k8s.io/kwok@v0.8.0"

// criStreamingModule is the module of kwok's exec server (the kubelet's
// streaming code), at the version kwok v0.8.0 requires.
const criStreamingModule = "k8s.io/cri-streaming@v0.36.1"

// kwokEdits make an exec into a kwok pod end as one into a real pod's
// container ends when its client goes: kwok runs the command on this host
// with exec.CommandContext, but with the request's context, which a
// hijacked connection never cancels, and kills only the process it
// started. So a cancelled `sh -c 'head | pg_restore | psql'` ran on, its
// stdin open, holding a transaction. The edits cancel the exec's context
// when the stream's connection closes, and run the command in its own
// process group, killed whole on cancel.
var kwokEdits = []struct{ module, file, old, new string }{
	{kwokSource, "pkg/utils/exec/cmd_other.go",
		"\tcmd := exec.CommandContext(ctx, name, arg...)\n\treturn cmd\n",
		"\tcmd := exec.CommandContext(ctx, name, arg...)\n" +
			"\tcmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}\n" +
			"\tcmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }\n" +
			"\treturn cmd\n"},
	{criStreamingModule, "pkg/streaming/remotecommand/exec.go",
		"\terr := executor.ExecInContainer(req.Context(), podName",
		"\texecCtx, cancelExec := context.WithCancel(req.Context())\n" +
			"\tdefer cancelExec()\n" +
			"\tif cc, ok := ctx.conn.(interface{ CloseChan() <-chan bool }); ok {\n" +
			"\t\tgo func() {\n" +
			"\t\t\tselect {\n" +
			"\t\t\tcase <-cc.CloseChan():\n" +
			"\t\t\t\tcancelExec()\n" +
			"\t\t\tcase <-execCtx.Done():\n" +
			"\t\t\t}\n" +
			"\t\t}()\n" +
			"\t}\n" +
			"\terr := executor.ExecInContainer(execCtx, podName"},
}

// buildPatchedKwok builds kwok from a copy of its module's source with
// kwokEdits applied, its exec server's module replaced by an edited copy,
// into dst. The builder's go.mod is not involved: kwok builds with its own.
func buildPatchedKwok(ctx context.Context, tmp, dst string, logw io.Writer) error {
	src := map[string]string{}
	for _, m := range []string{kwokSource, criStreamingModule} {
		dir, err := downloadModule(ctx, tmp, m, logw)
		if err != nil {
			return err
		}
		copyTo := filepath.Join(tmp, "src", strings.ReplaceAll(strings.SplitN(m, "@", 2)[0], "/", "_"))
		if err := copyTree(dir, copyTo); err != nil {
			return fmt.Errorf("copy %s: %w", m, err)
		}
		src[m] = copyTo
	}
	for _, e := range kwokEdits {
		path := filepath.Join(src[e.module], e.file)
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("patch kwok: %w", err)
		}
		if bytes.Count(b, []byte(e.old)) != 1 {
			return fmt.Errorf("patch kwok: %s of %s no longer holds the code the patch replaces: update kwokEdits", e.file, e.module)
		}
		if err := os.WriteFile(path, bytes.Replace(b, []byte(e.old), []byte(e.new), 1), 0o644); err != nil {
			return fmt.Errorf("patch kwok: %w", err)
		}
	}
	kwok := src[kwokSource]
	mod, err := os.OpenFile(filepath.Join(kwok, "go.mod"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = fmt.Fprintf(mod, "\nreplace k8s.io/cri-streaming => %s\n", src[criStreamingModule])
		if cerr := mod.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("patch kwok's go.mod: %w", err)
	}
	env := []string{"GOWORK=off", "GOFLAGS=-trimpath -mod=mod", "CGO_ENABLED=0"}
	out := filepath.Join(tmp, "kwok.bin")
	if err := goCmd(ctx, kwok, env, logw, "build", "-ldflags=-s -w", "-o", out, "./cmd/kwok"); err != nil {
		return fmt.Errorf("build patched %s: %w", kwokModule, err)
	}
	if err := os.Rename(out, dst); err != nil {
		return fmt.Errorf("move kwok into the cache: %w", err)
	}
	return nil
}

// downloadModule fetches module@version into the module cache and returns
// its folder there.
func downloadModule(ctx context.Context, tmp, module string, logw io.Writer) (string, error) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if !fileExists(goBin) {
		goBin = "go"
	}
	cmd := exec.CommandContext(ctx, goBin, "mod", "download", "-json", module)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	cmd.Stderr = logw
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("download %s: %w: %s", module, err, out)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		return "", fmt.Errorf("download %s: %s %v", module, info.Error, err)
	}
	return info.Dir, nil
}

// copyTree copies the regular files under from to to, writable.
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}
