package pachctl

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// The token goes into a config file only this user can read, in the shape
// Pachyderm's config.proto gives pachctl's JSON config.
func TestConfigHoldsTheToken(t *testing.T) {
	dir := t.TempDir()
	path, err := writeConfig(dir, "tok-1234")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config mode = %v, %v; want 0600", st.Mode(), err)
	}
	raw, _ := os.ReadFile(path)
	if tok, err := activeSessionToken(raw); err != nil || tok != "tok-1234" {
		t.Errorf("config = %s (%v), want the token as the active context's session_token", raw, err)
	}
	path, _ = writeConfig(t.TempDir(), "")
	if raw, _ := os.ReadFile(path); strings.Contains(string(raw), "session_token") {
		t.Errorf("config without a token = %s, want no session_token", raw)
	}
}

// activeSessionToken reads, as pachctl does, the token of the active
// context from a config file's JSON; it is a shape of its own, so that a
// wrong field name in pachConfig fails the tests.
func activeSessionToken(raw []byte) (string, error) {
	var cfg struct {
		UserID string `json:"user_id"`
		V2     struct {
			ActiveContext string `json:"active_context"`
			Contexts      map[string]struct {
				SessionToken string `json:"session_token"`
			} `json:"contexts"`
		} `json:"v2"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return "", err
	}
	if cfg.UserID == "" {
		return "", errors.New("no user_id: pachctl would rewrite the config")
	}
	return cfg.V2.Contexts[cfg.V2.ActiveContext].SessionToken, nil
}
