package containertest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// What a real Actions client (nektos/act) needs of this package's podman:
// its Docker-compatible API on a socket, a job image with bash, and the
// project's image under the name the client looks for.

// Serve starts podman's Docker-compatible API on a socket of its own and
// returns the socket's path; the service stops when the test ends.
func (p *Podman) Serve(t testing.TB) string {
	t.Helper()
	// A short path: a unix socket's path is limited to 108 bytes.
	dir, err := os.MkdirTemp("", "pach-upgrade-podman-api-")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "podman.sock")
	cmd := p.Command(context.Background(), "system", "service", "--time=0", "unix://"+sock)
	if err := cmd.Start(); err != nil {
		t.Fatalf("podman system service: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		if time.Now().After(deadline) {
			t.Fatalf("podman system service: no socket at %s after 30s", sock)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Tag gives image (a name or ID) the name name as well.
func (p *Podman) Tag(ctx context.Context, image, name string) error {
	_, err := p.Output(ctx, "tag", image, name)
	return err
}

// RemoveContainers force-removes the containers whose names start with
// prefix: a client that exits can leave its job containers running.
func (p *Podman) RemoveContainers(ctx context.Context, prefix string) error {
	out, err := p.Output(ctx, "ps", "--all", "--format", "{{.Names}}")
	if err != nil {
		return err
	}
	for _, name := range strings.Fields(out) {
		if strings.HasPrefix(name, prefix) {
			if _, err := p.Output(ctx, "rm", "--force", "--time", "0", name); err != nil {
				return err
			}
		}
	}
	return nil
}

// JobImage is the image a workflow job runs in: the BusyBox base with the
// host's bash and the libraries it links, since Actions clients run `run:`
// steps with bash. It is built once per content.
func (p *Podman) JobImage(ctx context.Context) (string, error) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		return "", fmt.Errorf("job image: %w", err)
	}
	files := []string{bash}
	out, err := exec.CommandContext(ctx, "ldd", bash).Output()
	if err != nil {
		return "", fmt.Errorf("job image: ldd %s: %w", bash, err)
	}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "/") {
			files = append(files, f)
		}
	}
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("job image: %w", err)
		}
		fmt.Fprintln(h, f)
		h.Write(b)
	}
	unlock, err := p.lock()
	if err != nil {
		return "", err
	}
	defer unlock()
	base, err := p.baseImage(ctx)
	if err != nil {
		return "", err
	}
	fmt.Fprintln(h, base)
	name := "localhost/pach-upgrade-test-job:" + hex.EncodeToString(h.Sum(nil))[:16]
	if _, err := p.Output(ctx, "image", "exists", name); err == nil {
		return name, nil
	}
	dir, err := os.MkdirTemp("", "pach-upgrade-job-image-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	var containerfile strings.Builder
	fmt.Fprintf(&containerfile, "FROM %s\n", base)
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		// The real file, not a symbolic link the copy would lose.
		ctxName := fmt.Sprintf("f%d", i)
		if err := os.WriteFile(filepath.Join(dir, ctxName), b, 0o755); err != nil {
			return "", err
		}
		fmt.Fprintf(&containerfile, "COPY %s %s\n", ctxName, f)
	}
	if err := os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(containerfile.String()), 0o644); err != nil {
		return "", err
	}
	if _, err := p.Output(ctx, "build", "--layers=false", "--file", filepath.Join(dir, "Containerfile"), "--tag", name, dir); err != nil {
		return "", fmt.Errorf("job image: %w", err)
	}
	return name, nil
}
