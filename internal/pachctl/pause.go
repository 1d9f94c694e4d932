package pachctl

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// runAt runs pachctl at pachctlPath against pachd at pachdAddress, with a
// throw-away config, and returns its standard output.
func runAt(ctx context.Context, pachctlPath, pachdAddress string, args ...string) ([]byte, error) {
	cfgDir, err := os.MkdirTemp("", "pachctl-config-")
	if err != nil {
		return nil, fmt.Errorf("pachctl %s: %w", strings.Join(args, " "), err)
	}
	defer os.RemoveAll(cfgDir)
	cmd := exec.CommandContext(ctx, pachctlPath, args...)
	cmd.Env = append(os.Environ(), "PACHD_ADDRESS="+pachdAddress, "PACH_CONFIG="+filepath.Join(cfgDir, "config.json"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("pachctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// PauseStatus is `pachctl enterprise pause-status`: "paused", "unpaused"
// or "partially paused".
func PauseStatus(ctx context.Context, pachctlPath, pachdAddress string) (string, error) {
	out, err := runAt(ctx, pachctlPath, pachdAddress, "enterprise", "pause-status")
	if err != nil {
		return "", err
	}
	return strings.ToLower(strings.TrimSpace(string(out))), nil
}

// Pause runs `pachctl enterprise pause` and waits until pause-status says
// paused: pachd restarts into its paused mode, and until then it writes.
func Pause(ctx context.Context, pachctlPath, pachdAddress string) error {
	if _, err := runAt(ctx, pachctlPath, pachdAddress, "enterprise", "pause"); err != nil {
		return err
	}
	return waitPauseStatus(ctx, pachctlPath, pachdAddress, "paused")
}

// Unpause runs `pachctl enterprise unpause` and waits until pause-status
// says unpaused.
func Unpause(ctx context.Context, pachctlPath, pachdAddress string) error {
	if _, err := runAt(ctx, pachctlPath, pachdAddress, "enterprise", "unpause"); err != nil {
		return err
	}
	return waitPauseStatus(ctx, pachctlPath, pachdAddress, "unpaused")
}

func waitPauseStatus(ctx context.Context, pachctlPath, pachdAddress, want string) error {
	var last string
	for {
		s, err := PauseStatus(ctx, pachctlPath, pachdAddress)
		if err == nil && s == want {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = "pause-status " + s
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pachd not %s: %s: %w", want, last, context.Cause(ctx))
		case <-time.After(500 * time.Millisecond):
		}
	}
}
