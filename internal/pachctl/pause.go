package pachctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Conn is pachctl at Path talking to pachd at Address, as Token's holder:
// Token is pachd's root (clusterAdmin) token where auth is active, empty
// where it is not.
type Conn struct {
	Path, Address, Token string
}

// pachConfig is pachctl's config file (Pachyderm's config.proto, v2, in
// the JSON pachctl reads): the active context's session_token is the token
// pachctl sends with every call. user_id is set and pachd_address left out
// (PACHD_ADDRESS gives it), so that pachctl has nothing to rewrite.
type pachConfig struct {
	UserID string `json:"user_id"`
	V2     struct {
		ActiveContext string                 `json:"active_context"`
		Contexts      map[string]pachContext `json:"contexts"`
		Metrics       bool                   `json:"metrics"`
	} `json:"v2"`
}

type pachContext struct {
	SessionToken string `json:"session_token,omitempty"`
}

// writeConfig writes a throw-away pachctl config holding token into dir,
// readable by this user only, and returns its path. The token goes in the
// file pachctl reads it from, never on a command line or in the
// environment, which pachctl's children and a process listing would show.
func writeConfig(dir, token string) (string, error) {
	var c pachConfig
	c.UserID = "pach-upgrade"
	c.V2.ActiveContext = "default"
	c.V2.Contexts = map[string]pachContext{"default": {SessionToken: token}}
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", err
	}
	return path, nil
}

// run runs pachctl with args against c's pachd, with a throw-away config
// holding c's token, and returns its standard output. It is the one way
// this package runs pachctl against pachd beyond the version.
func (c Conn) run(ctx context.Context, args ...string) ([]byte, error) {
	cfgDir, err := os.MkdirTemp("", "pachctl-config-")
	if err != nil {
		return nil, fmt.Errorf("pachctl %s: %w", strings.Join(args, " "), err)
	}
	defer os.RemoveAll(cfgDir)
	cfg, err := writeConfig(cfgDir, c.Token)
	if err != nil {
		return nil, fmt.Errorf("pachctl %s: config: %w", strings.Join(args, " "), err)
	}
	cmd := exec.CommandContext(ctx, c.Path, args...)
	cmd.Env = append(os.Environ(), "PACHD_ADDRESS="+c.Address, "PACH_CONFIG="+cfg)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("pachctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// PauseStatus is `pachctl enterprise pause-status`: "paused", "unpaused"
// or "partially paused".
func PauseStatus(ctx context.Context, c Conn) (string, error) {
	out, err := c.run(ctx, "enterprise", "pause-status")
	if err != nil {
		return "", err
	}
	return strings.ToLower(strings.TrimSpace(string(out))), nil
}

// Pause runs `pachctl enterprise pause` and waits until pause-status says
// paused: pachd restarts into its paused mode, and until then it writes.
func Pause(ctx context.Context, c Conn) error {
	if _, err := c.run(ctx, "enterprise", "pause"); err != nil {
		return err
	}
	return waitPauseStatus(ctx, c, "paused")
}

// Unpause runs `pachctl enterprise unpause` and waits until pause-status
// says unpaused.
func Unpause(ctx context.Context, c Conn) error {
	if _, err := c.run(ctx, "enterprise", "unpause"); err != nil {
		return err
	}
	return waitPauseStatus(ctx, c, "unpaused")
}

func waitPauseStatus(ctx context.Context, c Conn, want string) error {
	var last string
	for {
		s, err := PauseStatus(ctx, c)
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
