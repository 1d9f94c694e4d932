package pachctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const (
	// commandTimeout bounds one pachctl invocation, so a pachctl waiting on
	// an unreachable pachd cannot hold a retry loop.
	commandTimeout = 30 * time.Second
	// maxStderr bounds how much of pachctl's error output an error quotes.
	maxStderr = 512
)

// Conn is pachctl at Path talking to pachd at Address, as Token's holder:
// Token is pachd's root (clusterAdmin) token where auth is active, empty
// where it is not. Address is empty for what pachctl answers alone
// (`pachctl version --client-only`).
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

// pachEnv are the variables by which pachctl picks its config, context and
// pachd. Inherited ones are dropped: pachctl must see this run's config and
// address only, not the user's (whose contexts could point elsewhere; a
// PACH_CONTEXT naming a context the throw-away config lacks fails pachctl).
var pachEnv = []string{"PACH_CONFIG", "PACH_CONTEXT", "PACHD_ADDRESS"}

// env is the environment pachctl runs with: this process's, minus pachEnv,
// plus the throw-away config at cfg and c's address.
func (c Conn) env(cfg string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(pachEnv, name)
	})
	env = append(env, "PACH_CONFIG="+cfg)
	if c.Address != "" {
		env = append(env, "PACHD_ADDRESS="+c.Address)
	}
	return env
}

// run is the one way this package runs pachctl: with args, against c's
// pachd, with a throw-away config (in a folder of its own, not the user's
// nor one in HOME, which in a container action is the runner's folder)
// that holds c's token, and for commandTimeout at most. It returns
// pachctl's standard output, on failure too (the version check reads what
// the client printed before pachd failed). An error quotes the end of
// pachctl's error output; one that waiting cannot fix (no binary, no
// config) is a permanentError.
func (c Conn) run(ctx context.Context, args ...string) ([]byte, error) {
	cmdline := strings.Join(args, " ")
	cfgDir, err := os.MkdirTemp("", "pachctl-config-")
	if err != nil {
		return nil, permanentError{fmt.Errorf("`pachctl %s`: config: %w", cmdline, err)}
	}
	defer os.RemoveAll(cfgDir)
	cfg, err := writeConfig(cfgDir, c.Token)
	if err != nil {
		return nil, permanentError{fmt.Errorf("`pachctl %s`: config: %w", cmdline, err)}
	}
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, c.Path, args...)
	cmd.Env = c.env(cfg)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return stdout.Bytes(), nil
	case errors.As(err, &exitErr) && ctx.Err() == nil && cctx.Err() != nil:
		return stdout.Bytes(), fmt.Errorf("`pachctl %s` did not finish within %s: %s", cmdline, commandTimeout, truncate(stderr.Bytes()))
	case errors.As(err, &exitErr):
		return stdout.Bytes(), fmt.Errorf("`pachctl %s` failed (%v): %s", cmdline, err, truncate(stderr.Bytes()))
	default:
		return stdout.Bytes(), permanentError{fmt.Errorf("run `%s %s`: %w", c.Path, cmdline, err)}
	}
}

// permanentError is a failure that waiting for pachd cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// truncate keeps the end of pachctl's error output, where its error is.
func truncate(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > maxStderr {
		s = "…" + s[len(s)-maxStderr:]
	}
	return s
}
