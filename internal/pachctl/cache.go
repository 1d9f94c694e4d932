package pachctl

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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

// entry is what the metadata file beside a cached binary records: where the
// archive came from and what it was checked against.
type entry struct {
	// SHA256 is the archive's digest; BinarySHA256 the installed binary's,
	// checked on every reuse so that a binary changed in the cache is not run.
	SHA256, BinarySHA256 string
	// URL is the download URL, credentials redacted.
	URL      string
	Verified Verification
}

// read returns the cache entry when it is complete and its binary is the
// one recorded.
func (c toolCache) read() (entry, bool) {
	rec, err := readMarker(c.marker())
	if err != nil {
		return entry{}, false
	}
	e := entry{SHA256: rec["sha256"], BinarySHA256: rec["binary-sha256"], URL: rec["url"], Verified: Verification(rec["verified"])}
	if e.SHA256 == "" || e.BinarySHA256 == "" {
		// Written by an older version, which recorded no binary digest.
		return entry{}, false
	}
	if fi, err := os.Stat(c.binary()); err != nil || !fi.Mode().IsRegular() {
		return entry{}, false
	}
	if sum, err := fileSHA256(c.binary()); err != nil || sum != e.BinarySHA256 {
		return entry{}, false
	}
	return e, true
}

func (e entry) result(c toolCache) Result {
	return Result{Path: c.binary(), Dir: c.archDir(), SHA256: e.SHA256, Verified: e.Verified, CacheHit: true}
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// commit moves the extracted binary into place, then writes the marker, so
// a run interrupted in between leaves no entry that lookup would trust.
func (c toolCache) commit(bin, sum, shownURL string, verified Verification) (Result, error) {
	binSum, err := fileSHA256(bin)
	if err != nil {
		os.Remove(bin)
		return Result{}, fmt.Errorf("hash extracted pachctl: %w", err)
	}
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
	_, err = fmt.Fprintf(tmp, "sha256=%s\nbinary-sha256=%s\nurl=%s\nverified=%s\n", sum, binSum, shownURL, verified)
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
