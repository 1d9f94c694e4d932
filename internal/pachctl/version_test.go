package pachctl_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/pachctl"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin"
)

// pachctlBinary writes the stand-in pachctl reporting version to a temp dir.
func pachctlBinary(t *testing.T, version string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pachctl")
	if err := os.WriteFile(path, fx.binaries[version], 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func servePachd(t *testing.T, version pachstandin.VersionFunc) *pachstandin.Pachd {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p, err := pachstandin.ServePachd(ctx, version)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-p.Done() })
	return p
}

func TestVerifyBothAtTarget(t *testing.T) {
	pachd := servePachd(t, pachstandin.StaticVersion(target))
	v, err := pachctl.Verify(t.Context(), pachctl.Conn{Path: pachctlBinary(t, target), Address: pachd.Address}, "v"+target, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if v != (pachctl.Versions{Pachctl: target, Pachd: target}) {
		t.Errorf("versions = %+v, want both %s", v, target)
	}
	if pachd.Calls() != 1 {
		t.Errorf("pachd answered %d calls, want 1", pachd.Calls())
	}
}

func TestVerifyFailsNamingBothVersions(t *testing.T) {
	tests := []struct {
		name           string
		client, server string
	}{
		{"pachd still on the old version", target, old},
		{"pachctl on the old version", old, target},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pachd := servePachd(t, pachstandin.StaticVersion(tt.server))
			start := time.Now()
			v, err := pachctl.Verify(t.Context(), pachctl.Conn{Path: pachctlBinary(t, tt.client), Address: pachd.Address}, target, time.Minute)
			if !errors.Is(err, pachctl.ErrVersionMismatch) {
				t.Fatalf("err = %v, want version mismatch", err)
			}
			want := fmt.Sprintf("pachctl reports %s and pachd reports %s, want %s", tt.client, tt.server, target)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
			if v.Pachctl != tt.client || v.Pachd != tt.server {
				t.Errorf("versions = %+v, want pachctl %s pachd %s", v, tt.client, tt.server)
			}
			// A version answer is final: waiting would not change a rollout that did not happen.
			if d := time.Since(start); d > 20*time.Second || pachd.Calls() != 1 {
				t.Errorf("took %s and %d pachd calls, want one prompt answer", d, pachd.Calls())
			}
		})
	}
}

func TestVerifyWaitsForPachdToStart(t *testing.T) {
	var calls atomic.Int64
	pachd := servePachd(t, func(context.Context) (string, error) {
		if calls.Add(1) <= 2 {
			return "", errors.New("pachd is starting")
		}
		return target, nil
	})
	v, err := pachctl.Verify(t.Context(), pachctl.Conn{Path: pachctlBinary(t, target), Address: pachd.Address}, target, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if v.Pachd != target || calls.Load() != 3 {
		t.Errorf("versions %+v after %d calls, want pachd %s on the third", v, calls.Load(), target)
	}
}

func TestVerifyGivesUpAfterTimeout(t *testing.T) {
	pachd := servePachd(t, func(context.Context) (string, error) { return "", errors.New("pachd is starting") })
	start := time.Now()
	_, err := pachctl.Verify(t.Context(), pachctl.Conn{Path: pachctlBinary(t, target), Address: pachd.Address}, target, 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "did not report its version within 2s") || !strings.Contains(err.Error(), pachd.Address) {
		t.Fatalf("err = %v, want a timeout naming the address", err)
	}
	if pachd.Calls() < 2 {
		t.Errorf("pachd saw %d calls, want retries", pachd.Calls())
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Verify took %s with a 2s timeout", d)
	}
}

func TestVerifyNothingListening(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "grpc://" + lis.Addr().String()
	lis.Close()
	_, err = pachctl.Verify(t.Context(), pachctl.Conn{Path: pachctlBinary(t, target), Address: addr}, target, time.Second)
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("err = %v, want a failure naming %s", err, addr)
	}
}

func TestVerifyFallsBackToTable(t *testing.T) {
	// A pachctl without --raw -o json: it fails on those flags, and prints
	// the real tab-aligned table otherwise.
	real := pachctlBinary(t, target)
	script := filepath.Join(t.TempDir(), "pachctl")
	body := fmt.Sprintf("#!/bin/sh\ncase \"$*\" in *--raw*) echo 'Error: unknown flag: --raw' >&2; exit 1;; esac\nexec %q \"$@\"\n", real)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	pachd := servePachd(t, pachstandin.StaticVersion(old))
	v, err := pachctl.Verify(t.Context(), pachctl.Conn{Path: script, Address: pachd.Address}, target, 30*time.Second)
	if !errors.Is(err, pachctl.ErrVersionMismatch) || v != (pachctl.Versions{Pachctl: target, Pachd: old}) {
		t.Fatalf("versions %+v, err %v; want pachctl %s and pachd %s read from the table", v, err, target, old)
	}
}

func TestVerifyMissingBinaryFailsAtOnce(t *testing.T) {
	start := time.Now()
	_, err := pachctl.Verify(t.Context(), pachctl.Conn{Path: filepath.Join(t.TempDir(), "nope"), Address: "grpc://127.0.0.1:1"}, target, time.Minute)
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("err = %v after %s, want an immediate failure", err, time.Since(start))
	}
}

// The version check runs pachctl as every other call to pachd does: with a
// throw-away config whose active context holds the token, and none of the
// user's pachctl settings (their config, their PACH_CONTEXT).
func TestVerifySignsInLikeEveryCall(t *testing.T) {
	pachd := servePachd(t, pachstandin.StaticVersion(target))
	const root = "pach-root-token-0123456789abcdef"
	pachd.SetAuth(root)
	dir := t.TempDir()
	userConfig := filepath.Join(dir, "user-config.json")
	if err := os.WriteFile(userConfig, []byte(`{"v2":{"active_context":"prod","contexts":{"prod":{"session_token":"users-own-token"}}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PACH_CONFIG", userConfig)
	t.Setenv("PACH_CONTEXT", "prod")
	seenConfig, seenEnv := filepath.Join(dir, "seen-config.json"), filepath.Join(dir, "seen-env")
	script := filepath.Join(dir, "pachctl")
	body := fmt.Sprintf("#!/bin/sh\ncp \"$PACH_CONFIG\" %q\necho \"PACH_CONTEXT=${PACH_CONTEXT-unset}\" > %q\nexec %q \"$@\"\n",
		seenConfig, seenEnv, pachctlBinary(t, target))
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	v, err := pachctl.Verify(t.Context(), pachctl.Conn{Path: script, Address: pachd.Address, Token: root}, target, 30*time.Second)
	if err != nil || v != (pachctl.Versions{Pachctl: target, Pachd: target}) {
		t.Fatalf("versions %+v, %v", v, err)
	}
	raw, err := os.ReadFile(seenConfig)
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := pachctl.ActiveSessionToken(raw); err != nil || tok != root {
		t.Errorf("pachctl version ran with config %s (%v), want the token as the active context's session_token", raw, err)
	}
	if env, _ := os.ReadFile(seenEnv); strings.TrimSpace(string(env)) != "PACH_CONTEXT=unset" {
		t.Errorf("pachctl version ran with %s, want the user's PACH_CONTEXT left out", env)
	}
}
