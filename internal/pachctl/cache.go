package pachctl

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// toolCache follows the runner tool cache's layout,
// <root>/<tool>/<version>/<arch>/ with an <arch>.complete marker beside it,
// so a self-hosted runner's cache stays readable by other tools.
type toolCache struct {
	root, version, arch string
}

func (c toolCache) versionDir() string { return filepath.Join(c.root, "pachctl", c.version) }
func (c toolCache) archDir() string    { return filepath.Join(c.versionDir(), c.arch) }
func (c toolCache) marker() string     { return c.archDir() + ".complete" }
func (c toolCache) binary() string     { return filepath.Join(c.archDir(), "pachctl") }

// lookup returns the cached install when it is complete and was verified as
// strictly as this run requires: a pinned digest must match the recorded
// one, and an unverified copy counts only when unverified installs are allowed.
func (c toolCache) lookup(pinned string, allowUnverified bool) (Result, bool) {
	rec, err := readMarker(c.marker())
	if err != nil {
		return Result{}, false
	}
	if pinned != "" && rec["sha256"] != pinned {
		return Result{}, false
	}
	if rec["verified"] == string(VerifiedNothing) && !allowUnverified {
		return Result{}, false
	}
	if fi, err := os.Stat(c.binary()); err != nil || !fi.Mode().IsRegular() {
		return Result{}, false
	}
	return Result{
		Path: c.binary(), Dir: c.archDir(), SHA256: rec["sha256"],
		Verified: Verification(rec["verified"]), CacheHit: true,
	}, true
}

// commit moves the extracted binary into place, then writes the marker, so
// a run interrupted in between leaves no entry that lookup would trust.
func (c toolCache) commit(bin, sum string, verified Verification) (Result, error) {
	if err := os.MkdirAll(c.archDir(), 0o755); err != nil {
		os.Remove(bin)
		return Result{}, fmt.Errorf("create tool cache %s: %w", c.archDir(), err)
	}
	if err := os.Rename(bin, c.binary()); err != nil {
		os.Remove(bin)
		return Result{}, fmt.Errorf("install pachctl into %s: %w", c.archDir(), err)
	}
	tmp, err := os.CreateTemp(c.versionDir(), ".complete-*")
	if err != nil {
		return Result{}, fmt.Errorf("mark tool cache entry complete: %w", err)
	}
	_, err = fmt.Fprintf(tmp, "sha256=%s\nverified=%s\n", sum, verified)
	err = errors.Join(err, tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), c.marker())
	}
	if err != nil {
		os.Remove(tmp.Name())
		return Result{}, fmt.Errorf("mark tool cache entry complete: %w", err)
	}
	return Result{Path: c.binary(), Dir: c.archDir(), SHA256: sum, Verified: verified}, nil
}

func (c toolCache) remove() error {
	err := os.Remove(c.marker())
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if err = errors.Join(err, os.RemoveAll(c.archDir())); err != nil {
		return fmt.Errorf("remove tool cache entry %s: %w", c.archDir(), err)
	}
	return nil
}

func readMarker(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rec := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			rec[k] = v
		}
	}
	return rec, sc.Err()
}
