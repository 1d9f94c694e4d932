package pachctl_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/pachctl"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin"
)

const (
	target = "2.11.6"
	old    = "2.11.5"
)

// arch is the running architecture, so the stand-in binaries can run here.
var arch = runtime.GOARCH

// fixtures are built once for the package: stand-in binaries keyed by the
// client version they report, and their well-formed release assets. Tests
// only read them.
type fixtures struct {
	binaries map[string][]byte
	assets   map[string]pachstandin.Asset
	dir      string
}

var fx fixtures

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	dir, err := os.MkdirTemp("", "pachctl-test-")
	if err == nil {
		fx, err = buildFixtures(ctx, dir, target, old)
	}
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "build stand-in pachctl:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildFixtures(ctx context.Context, dir string, versions ...string) (fixtures, error) {
	f := fixtures{binaries: map[string][]byte{}, assets: map[string]pachstandin.Asset{}, dir: dir}
	for _, v := range versions {
		path := filepath.Join(dir, "pachctl-"+v)
		if err := pachstandin.BuildBinary(ctx, v, arch, path); err != nil {
			return f, err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return f, err
		}
		f.binaries[v] = data
		adir := filepath.Join(dir, "release-"+v)
		if err := os.Mkdir(adir, 0o755); err != nil {
			return f, err
		}
		a, err := pachstandin.PackAsset(v, arch, adir, []pachstandin.File{{
			Name: pachstandin.ArchiveDir(v, arch) + "/pachctl", Data: data, Mode: 0o755,
		}})
		if err != nil {
			return f, err
		}
		f.assets[v] = a
	}
	return f, nil
}

// release packs files as the release asset of version and publishes it.
func release(t *testing.T, srv *pachstandin.ReleaseServer, version string, files ...pachstandin.File) pachstandin.Asset {
	t.Helper()
	a, err := pachstandin.PackAsset(version, arch, t.TempDir(), files)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Add(a); err != nil {
		t.Fatal(err)
	}
	return a
}

// goodRelease publishes a well-formed archive whose pachctl reports version.
func goodRelease(t *testing.T, srv *pachstandin.ReleaseServer, version string) pachstandin.Asset {
	t.Helper()
	a := fx.assets[version]
	if err := srv.Add(a); err != nil {
		t.Fatal(err)
	}
	return a
}

func newServer(t *testing.T) *pachstandin.ReleaseServer {
	srv := pachstandin.NewReleaseServer()
	t.Cleanup(srv.Close)
	return srv
}

// digests answers like the GitHub releases API would for published assets.
func digests(assets ...pachstandin.Asset) pachctl.DigestLookup {
	return func(_ context.Context, version, asset string) (string, error) {
		for _, a := range assets {
			if a.Version == version && a.Name == asset {
				return "sha256:" + a.SHA256, nil
			}
		}
		return "", fmt.Errorf("%s of %s: %w", asset, version, pachctl.ErrNoDigest)
	}
}

func options(t *testing.T, srv *pachstandin.ReleaseServer, lookup pachctl.DigestLookup) pachctl.Options {
	return pachctl.Options{
		Version:        target,
		Arch:           arch,
		URLTemplate:    srv.URLTemplate(),
		Digest:         lookup,
		CacheDir:       t.TempDir(),
		Backoff:        10 * time.Millisecond,
		AttemptTimeout: 10 * time.Second,
		Logf:           t.Logf,
	}
}

func TestInstallVerifiesAgainstReleaseDigestAndRuns(t *testing.T) {
	srv := newServer(t)
	a := goodRelease(t, srv, target)
	opts := options(t, srv, digests(a))
	opts.Version = "v" + target

	res, err := pachctl.Install(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != target || res.Verified != pachctl.VerifiedDigest || res.CacheHit || res.SHA256 != a.SHA256 {
		t.Errorf("result = %+v, want version %s verified by release digest %s, not from cache", res, target, a.SHA256)
	}
	if res.Path != filepath.Join(res.Dir, "pachctl") || !strings.HasPrefix(res.Dir, opts.CacheDir) {
		t.Errorf("installed at %s (dir %s), want pachctl inside the tool cache %s", res.Path, res.Dir, opts.CacheDir)
	}
	if res.URL != srv.AssetURL(a) || res.Asset != a.Name {
		t.Errorf("asset %s from %s, want %s from %s", res.Asset, res.URL, a.Name, srv.AssetURL(a))
	}
	if fi, err := os.Stat(res.Path); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("installed binary not executable: %v %v", fi, err)
	}
	if n := srv.Requests(a); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

func TestInstallReusesToolCache(t *testing.T) {
	srv := newServer(t)
	a := goodRelease(t, srv, target)
	opts := options(t, srv, digests(a))

	first, err := pachctl.Install(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	// The second run must not need the network at all, not even a digest.
	opts.Digest = func(context.Context, string, string) (string, error) {
		return "", errors.New("digest looked up on a cache hit")
	}
	second, err := pachctl.Install(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !second.CacheHit || second.Path != first.Path || second.Version != target {
		t.Errorf("second install = %+v, want a cache hit at %s", second, first.Path)
	}
	if n := srv.TotalRequests(); n != 1 {
		t.Errorf("server saw %d requests over two installs, want 1", n)
	}

	// A pinned digest other than the one recorded is not satisfied by the cache.
	opts.SHA256 = strings.Repeat("0", 64)
	if _, err := pachctl.Install(t.Context(), opts); !errors.Is(err, pachctl.ErrChecksumMismatch) {
		t.Errorf("install with another pinned digest: err = %v, want checksum mismatch", err)
	}
	if n := srv.TotalRequests(); n != 2 {
		t.Errorf("server saw %d requests, want 2 (the pinned digest forces a download)", n)
	}
}

func TestInstallReplacesDamagedCacheEntry(t *testing.T) {
	srv := newServer(t)
	a := goodRelease(t, srv, target)
	opts := options(t, srv, digests(a))
	res, err := pachctl.Install(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(res.Path, fx.binaries[old], 0o755); err != nil {
		t.Fatal(err)
	}
	res, err = pachctl.Install(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.CacheHit || res.Version != target || srv.Requests(a) != 2 {
		t.Errorf("result %+v after %d requests, want a fresh download of %s", res, srv.Requests(a), target)
	}
}

func TestInstallChecksumMismatch(t *testing.T) {
	t.Run("corrupted download", func(t *testing.T) {
		srv := newServer(t)
		a := goodRelease(t, srv, target)
		srv.Corrupt(a, true)
		opts := options(t, srv, digests(a))
		_, err := pachctl.Install(t.Context(), opts)
		if !errors.Is(err, pachctl.ErrChecksumMismatch) {
			t.Fatalf("err = %v, want checksum mismatch", err)
		}
		for _, want := range []string{a.Name, a.SHA256, "release digest"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %q", err, want)
			}
		}
		assertNoBinary(t, opts.CacheDir)
	})
	t.Run("pinned digest wins over release digest", func(t *testing.T) {
		srv := newServer(t)
		a := goodRelease(t, srv, target)
		opts := options(t, srv, digests(a))
		opts.SHA256 = "sha256:" + strings.Repeat("ab", 32)
		_, err := pachctl.Install(t.Context(), opts)
		if !errors.Is(err, pachctl.ErrChecksumMismatch) || !strings.Contains(err.Error(), "pachctl-sha256") {
			t.Fatalf("err = %v, want a mismatch against pachctl-sha256", err)
		}
		assertNoBinary(t, opts.CacheDir)
	})
	t.Run("pinned digest verifies without a lookup", func(t *testing.T) {
		srv := newServer(t)
		a := goodRelease(t, srv, target)
		opts := options(t, srv, nil)
		opts.SHA256 = strings.ToUpper(a.SHA256)
		res, err := pachctl.Install(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verified != pachctl.VerifiedPinned {
			t.Errorf("verified by %q, want %q", res.Verified, pachctl.VerifiedPinned)
		}
	})
}

func assertNoBinary(t *testing.T, root string) {
	t.Helper()
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("tool cache holds %s after a failed install", path)
		}
		return nil
	})
}

func TestInstallNoSuchRelease(t *testing.T) {
	srv := newServer(t)
	goodRelease(t, srv, old)
	opts := options(t, srv, nil)
	opts.SHA256 = strings.Repeat("1", 64)
	_, err := pachctl.Install(t.Context(), opts)
	if !errors.Is(err, pachctl.ErrNotFound) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v, want not found (404)", err)
	}
	if n := srv.TotalRequests(); n != 1 {
		t.Errorf("server saw %d requests, want exactly 1 (no retry on 404)", n)
	}
}

func TestInstallRetriesServerErrors(t *testing.T) {
	t.Run("5xx then success", func(t *testing.T) {
		srv := newServer(t)
		a := goodRelease(t, srv, target)
		srv.FailNext(a, http.StatusServiceUnavailable, http.StatusBadGateway)
		res, err := pachctl.Install(t.Context(), options(t, srv, digests(a)))
		if err != nil {
			t.Fatal(err)
		}
		if res.Version != target || srv.Requests(a) != 3 {
			t.Errorf("version %s after %d requests, want %s after 3", res.Version, srv.Requests(a), target)
		}
	})
	t.Run("5xx until attempts run out", func(t *testing.T) {
		srv := newServer(t)
		a := goodRelease(t, srv, target)
		srv.FailNext(a, 500, 500, 500, 500, 500)
		opts := options(t, srv, digests(a))
		opts.Attempts = 3
		_, err := pachctl.Install(t.Context(), opts)
		if err == nil || !strings.Contains(err.Error(), "3 attempts") || !strings.Contains(err.Error(), "500") {
			t.Fatalf("err = %v, want giving up after 3 attempts on 500", err)
		}
		if n := srv.Requests(a); n != 3 {
			t.Errorf("server saw %d requests, want 3", n)
		}
	})
	t.Run("timeout then success", func(t *testing.T) {
		srv := newServer(t)
		a := goodRelease(t, srv, target)
		srv.StallNext(a, 5*time.Second)
		opts := options(t, srv, digests(a))
		opts.AttemptTimeout = 300 * time.Millisecond
		if _, err := pachctl.Install(t.Context(), opts); err != nil {
			t.Fatal(err)
		}
		if n := srv.Requests(a); n != 2 {
			t.Errorf("server saw %d requests, want 2", n)
		}
	})
	t.Run("429 then success", func(t *testing.T) {
		srv := newServer(t)
		a := goodRelease(t, srv, target)
		srv.FailNext(a, http.StatusTooManyRequests)
		if _, err := pachctl.Install(t.Context(), options(t, srv, digests(a))); err != nil {
			t.Fatalf("429 then success: %v", err)
		}
		if n := srv.Requests(a); n != 2 {
			t.Errorf("server saw %d requests, want 2", n)
		}
	})
	t.Run("no retry on an unknown host", func(t *testing.T) {
		srv := newServer(t)
		a := goodRelease(t, srv, target)
		opts := options(t, srv, digests(a))
		dials := 0
		// What net.Dialer returns when the resolver answers NXDOMAIN; the
		// test machine's resolver cannot be relied on to answer at all.
		opts.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
			dials++
			host, _, _ := net.SplitHostPort(addr)
			return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
		}}}
		opts.Backoff = time.Hour
		_, err := pachctl.Install(t.Context(), opts)
		if err == nil || !strings.Contains(err.Error(), "no such host") {
			t.Fatalf("err = %v, want no such host", err)
		}
		if dials != 1 {
			t.Errorf("%d dials, want 1", dials)
		}
	})
	t.Run("no retry on 403", func(t *testing.T) {
		srv := newServer(t)
		a := goodRelease(t, srv, target)
		srv.FailNext(a, http.StatusForbidden)
		_, err := pachctl.Install(t.Context(), options(t, srv, digests(a)))
		if err == nil || !strings.Contains(err.Error(), "403") {
			t.Fatalf("err = %v, want 403", err)
		}
		if n := srv.Requests(a); n != 1 {
			t.Errorf("server saw %d requests, want 1", n)
		}
	})
}

func TestInstallRefusesBadArchives(t *testing.T) {
	dir := pachstandin.ArchiveDir(target, arch)
	tests := []struct {
		name  string
		files []pachstandin.File
		want  error
	}{
		{"no pachctl", []pachstandin.File{{Name: dir + "/README.md", Data: []byte("hi"), Mode: 0o644}}, pachctl.ErrNoPachctl},
		{"pachctl outside the wrapping directory", []pachstandin.File{{Name: "pachctl", Data: fx.binaries[target], Mode: 0o755}}, pachctl.ErrNoPachctl},
		{"empty archive", nil, pachctl.ErrNoPachctl},
		{"path traversal", []pachstandin.File{{Name: "../../evil", Data: []byte("x"), Mode: 0o755}, {Name: dir + "/pachctl", Data: fx.binaries[target], Mode: 0o755}}, pachctl.ErrUnsafeArchive},
		{"absolute path", []pachstandin.File{{Name: "/tmp/evil", Data: []byte("x"), Mode: 0o755}}, pachctl.ErrUnsafeArchive},
		{"symlink as pachctl", []pachstandin.File{{Name: dir + "/pachctl", Type: '2', Linkname: "/bin/sh", Mode: 0o777}}, pachctl.ErrUnsafeArchive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			a := release(t, srv, target, tt.files...)
			opts := options(t, srv, digests(a))
			_, err := pachctl.Install(t.Context(), opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), a.Name) {
				t.Errorf("error %q does not name the asset", err)
			}
			assertNoBinary(t, opts.CacheDir)
		})
	}
}

func TestInstallWrongClientVersion(t *testing.T) {
	srv := newServer(t)
	// A release asset of the target whose binary is actually the old version.
	a := release(t, srv, target, pachstandin.File{
		Name: pachstandin.ArchiveDir(target, arch) + "/pachctl", Data: fx.binaries[old], Mode: 0o755,
	})
	opts := options(t, srv, digests(a))
	_, err := pachctl.Install(t.Context(), opts)
	if !errors.Is(err, pachctl.ErrWrongVersion) {
		t.Fatalf("err = %v, want wrong version", err)
	}
	if !strings.Contains(err.Error(), old) || !strings.Contains(err.Error(), target) {
		t.Errorf("error %q does not name both %s and %s", err, old, target)
	}
	assertNoBinary(t, opts.CacheDir)
}

// TestInstallUnverified: without a digest, nothing is installed unless
// allow-unverified-pachctl says so. The archive is downloaded while the
// digest is looked up; here the lookup answers only once the whole archive
// is on this machine, so what a refused install must not keep is there to
// keep: the tool cache must hold nothing afterwards (no download, no
// extracted binary, no entry), and pachctl, a script that records each run,
// must never have run.
func TestInstallUnverified(t *testing.T) {
	srv := newServer(t)
	runs := filepath.Join(t.TempDir(), "runs")
	script := fmt.Sprintf("#!/bin/sh\necho ran >> '%s'\necho %s\n", runs, target)
	a := release(t, srv, target, pachstandin.File{
		Name: pachstandin.ArchiveDir(target, arch) + "/pachctl", Data: []byte(script), Mode: 0o755,
	})
	ran := func() int {
		t.Helper()
		b, err := os.ReadFile(runs)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return strings.Count(string(b), "ran\n")
	}
	refused := func(opts pachctl.Options) {
		t.Helper()
		assertNoBinary(t, opts.CacheDir)
		if n := ran(); n != 0 {
			t.Errorf("pachctl ran %d times, want never before it is verified", n)
		}
	}

	opts := options(t, srv, nil)
	afterDownload(t, &opts, digests()) // the API publishes no digest
	_, err := pachctl.Install(t.Context(), opts)
	if !errors.Is(err, pachctl.ErrUnverified) || !strings.Contains(err.Error(), "allow-unverified-pachctl") {
		t.Fatalf("err = %v, want unverified, naming allow-unverified-pachctl", err)
	}
	refused(opts)

	afterDownload(t, &opts, func(context.Context, string, string) (string, error) {
		return "", errors.New("releases API: 502 Bad Gateway")
	})
	if _, err := pachctl.Install(t.Context(), opts); !errors.Is(err, pachctl.ErrUnverified) || !strings.Contains(err.Error(), "502") {
		t.Fatalf("err = %v, want unverified with the lookup's failure", err)
	}
	refused(opts)
	if n := srv.Requests(a); n != 2 {
		t.Errorf("server saw %d downloads, want 2 (one each install, discarded)", n)
	}

	// The lookup fails because there is no such release: say 404, not "unverified".
	missing := opts
	missing.Version = "2.11.99"
	missing.Digest = func(context.Context, string, string) (string, error) {
		return "", errors.New("releases API: 404 Not Found")
	}
	if _, err := pachctl.Install(t.Context(), missing); !errors.Is(err, pachctl.ErrNotFound) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v, want not found (404)", err)
	}
	refused(missing)

	opts.AllowUnverified = true
	var warnings []string
	opts.Warnf = func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }
	res, err := pachctl.Install(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(warnings, "\n"), "without checksum verification") {
		t.Errorf("warnings %q do not say the install is unverified", warnings)
	}
	if res.Verified != pachctl.VerifiedNothing || res.SHA256 != a.SHA256 {
		t.Errorf("result %+v, want unverified with SHA-256 %s recorded", res, a.SHA256)
	}
	// The recorder works: the allowed install ran pachctl once.
	if n := ran(); n != 1 {
		t.Fatalf("pachctl ran %d times after an allowed unverified install, want 1", n)
	}

	// A run that does not allow unverified binaries must not trust that copy.
	opts.AllowUnverified = false
	if _, err := pachctl.Install(t.Context(), opts); !errors.Is(err, pachctl.ErrUnverified) {
		t.Fatalf("err = %v, want the unverified cached copy refused", err)
	}
	if n := ran(); n != 1 {
		t.Errorf("pachctl ran %d times, want still 1: the refused cached copy ran", n)
	}
}

// TestInstallDownloadsWhileDigestIsLookedUp: the archive's download does
// not wait for the digest lookup (a GitHub API call), and a lookup that
// fails, or a cancel, stops it.
func TestInstallDownloadsWhileDigestIsLookedUp(t *testing.T) {
	t.Run("the download arrives before the digest answers", func(t *testing.T) {
		srv := newServer(t)
		a := goodRelease(t, srv, target)
		opts := options(t, srv, nil)
		w := watch(t, &opts)
		lookup := digests(a)
		opts.Digest = func(ctx context.Context, v, asset string) (string, error) {
			// Answers only once the server has answered the download.
			if err := awaitDownload(ctx, t, w.answered, "an answer to the archive's download"); err != nil {
				return "", err
			}
			return lookup(ctx, v, asset)
		}
		res, err := pachctl.Install(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verified != pachctl.VerifiedDigest || res.SHA256 != a.SHA256 || res.Version != target {
			t.Errorf("result = %+v, want %s verified by the release digest %s", res, target, a.SHA256)
		}
		if n := srv.TotalRequests(); n != 1 {
			t.Errorf("server saw %d requests, want 1", n)
		}
	})
	t.Run("a failed lookup stops the download", func(t *testing.T) {
		st := newStalledRelease(t)
		opts := stalledOptions(t, st)
		opts.Digest = func(ctx context.Context, _, _ string) (string, error) {
			if err := awaitDownload(ctx, t, st.arrived, "the archive's download"); err != nil {
				return "", err
			}
			return "", errors.New("releases API: 502 Bad Gateway")
		}
		err := installWithin(t, t.Context(), opts)
		if !errors.Is(err, pachctl.ErrUnverified) || !strings.Contains(err.Error(), "502") {
			t.Fatalf("err = %v, want unverified with the lookup's failure", err)
		}
		st.awaitGone(t)
		assertNoBinary(t, opts.CacheDir)
	})
	t.Run("a cancel stops both", func(t *testing.T) {
		st := newStalledRelease(t)
		opts := stalledOptions(t, st)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		opts.Digest = func(ctx context.Context, _, _ string) (string, error) {
			if err := awaitDownload(ctx, t, st.arrived, "the archive's download"); err != nil {
				return "", err
			}
			cancel()
			<-ctx.Done()
			return "", ctx.Err()
		}
		err := installWithin(t, ctx, opts)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want canceled", err)
		}
		st.awaitGone(t)
		assertNoBinary(t, opts.CacheDir)
	})
}

// stalledRelease is a release whose archive download never answers: it
// arrives, then waits for the client to give up. A HEAD (the not-found
// probe) answers 200.
type stalledRelease struct {
	tmpl          string
	arrived, gone chan struct{}
}

func newStalledRelease(t *testing.T) *stalledRelease {
	st := &stalledRelease{arrived: make(chan struct{}), gone: make(chan struct{})}
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			return
		}
		once.Do(func() {
			close(st.arrived)
			<-r.Context().Done()
			close(st.gone)
		})
	}))
	t.Cleanup(srv.Close)
	st.tmpl = srv.URL + "/v{version}/pachctl_{version}_linux_{arch}.tar.gz"
	return st
}

// stalledOptions are options downloading from st, with an attempt timeout
// long enough that only a stopped download ends the wait.
func stalledOptions(t *testing.T, st *stalledRelease) pachctl.Options {
	opts := options(t, newServer(t), nil)
	opts.URLTemplate, opts.AttemptTimeout = st.tmpl, time.Hour
	return opts
}

// awaitGone fails t unless the download's client has given it up.
func (st *stalledRelease) awaitGone(t *testing.T) {
	t.Helper()
	select {
	case <-st.gone:
	case <-time.After(30 * time.Second):
		t.Errorf("the archive's download is still open 30s after Install returned")
	}
}

// installWithin runs Install and fails the test when it has not returned
// within a minute: a download nobody stopped would stall for an hour.
func installWithin(t *testing.T, ctx context.Context, opts pachctl.Options) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := pachctl.Install(ctx, opts)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatal("Install still running a minute after its digest lookup ended: the download was not stopped")
		return nil
	}
}

// afterDownload makes opts' digest lookup answer as lookup does, but only
// once the archive has been downloaded whole.
func afterDownload(t *testing.T, opts *pachctl.Options, lookup pachctl.DigestLookup) {
	w := watch(t, opts)
	opts.Digest = func(ctx context.Context, v, asset string) (string, error) {
		if err := awaitDownload(ctx, t, w.received, "the whole archive"); err != nil {
			return "", err
		}
		return lookup(ctx, v, asset)
	}
}

// watcher is an HTTP transport that tells when the archive's download (a
// GET; the not-found probe is a HEAD) was answered (so it arrived at the
// server) and read to its end.
type watcher struct {
	base               *http.Transport
	answered, received chan struct{}
	once               [2]sync.Once
}

// watch gives opts an HTTP client watched by a new watcher.
func watch(t *testing.T, opts *pachctl.Options) *watcher {
	w := &watcher{base: &http.Transport{}, answered: make(chan struct{}), received: make(chan struct{})}
	t.Cleanup(w.base.CloseIdleConnections)
	opts.HTTPClient = &http.Client{Transport: w}
	return w
}

func (w *watcher) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet {
		return w.base.RoundTrip(r)
	}
	resp, err := w.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	w.once[0].Do(func() { close(w.answered) })
	resp.Body = &eofBody{ReadCloser: resp.Body, eof: func() { w.once[1].Do(func() { close(w.received) }) }}
	return resp, nil
}

// awaitDownload is a digest lookup waiting for what (ch) of the archive's
// download. A download that waits for the digest never gets there: after
// 30s the wait fails t.
func awaitDownload(ctx context.Context, t *testing.T, ch <-chan struct{}, what string) error {
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		t.Errorf("the digest lookup waited 30s for %s: the download waits for the digest", what)
		return fmt.Errorf("%s did not come while the digest was looked up", what)
	}
}

type eofBody struct {
	io.ReadCloser
	eof func()
}

func (b *eofBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.eof()
	}
	return n, err
}

func TestExpandURL(t *testing.T) {
	tests := []struct {
		tmpl, want, err string
	}{
		{pachctl.DefaultURLTemplate, "https://github.com/pachyderm/pachyderm/releases/download/v2.11.6/pachctl_2.11.6_linux_arm64.tar.gz", ""},
		{"https://mirror.example/{{version}}/{{arch}}.tgz", "https://mirror.example/2.11.6/arm64.tgz", ""},
		{"https://mirror.example/{version}/{os}.tgz", "", "{os}"},
		{"ftp://mirror.example/{version}", "", "http(s)"},
		{"", "", "http(s)"},
	}
	for _, tt := range tests {
		got, err := pachctl.ExpandURL(tt.tmpl, "2.11.6", "arm64")
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "pachctl-download-url") {
				t.Errorf("ExpandURL(%q) err = %v, want one naming pachctl-download-url and %q", tt.tmpl, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ExpandURL(%q) = %q, %v; want %q", tt.tmpl, got, err, tt.want)
		}
	}
}

func TestInstallRejectsBadInputs(t *testing.T) {
	srv := newServer(t)
	for name, mutate := range map[string]func(*pachctl.Options){
		"bad pinned digest": func(o *pachctl.Options) { o.SHA256 = "abc" },
		"md5 digest":        func(o *pachctl.Options) { o.SHA256 = "md5:" + strings.Repeat("a", 32) },
		"no version":        func(o *pachctl.Options) { o.Version = "" },
		"version with path": func(o *pachctl.Options) { o.Version = "../2.11.6" },
	} {
		opts := options(t, srv, nil)
		mutate(&opts)
		if _, err := pachctl.Install(t.Context(), opts); err == nil {
			t.Errorf("%s: Install succeeded", name)
		}
	}
	if n := srv.TotalRequests(); n != 0 {
		t.Errorf("bad inputs caused %d downloads", n)
	}
}

func TestDefaultCacheDir(t *testing.T) {
	got, err := pachctl.DefaultCacheDir(func(k string) string {
		if k == "RUNNER_TOOL_CACHE" {
			return "/opt/hostedtoolcache"
		}
		return ""
	})
	if err != nil || got != "/opt/hostedtoolcache" {
		t.Errorf("DefaultCacheDir = %q, %v; want RUNNER_TOOL_CACHE", got, err)
	}
	got, err = pachctl.DefaultCacheDir(func(string) string { return "" })
	if err == nil && !strings.HasSuffix(got, filepath.Join("pach-upgrade", "tools")) {
		t.Errorf("DefaultCacheDir without RUNNER_TOOL_CACHE = %q", got)
	}
}

func TestInstallNeverShowsURLCredentials(t *testing.T) {
	srv := newServer(t)
	a := goodRelease(t, srv, target)
	var logs []string
	logf := func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }

	opts := options(t, srv, digests(a))
	opts.Logf, opts.Warnf = logf, logf
	opts.URLTemplate = strings.Replace(srv.URLTemplate(), "http://", "http://deploy:s3cr3t-pass@", 1) + "?token=s3cr3t-token"
	srv.FailNext(a, http.StatusBadGateway)
	res, err := pachctl.Install(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}

	// A mirror that is down, and a bad template, put the URL in errors.
	opts.CacheDir = t.TempDir()
	opts.Attempts = 1
	srv.FailNext(a, http.StatusServiceUnavailable)
	_, err1 := pachctl.Install(t.Context(), opts)
	opts.URLTemplate += "&arch={os}"
	_, err2 := pachctl.Install(t.Context(), opts)
	lis := strings.Replace(srv.URLTemplate(), srv.URL(), "http://user:s3cr3t-pass@127.0.0.1:1", 1) + "?token=s3cr3t-token"
	opts.URLTemplate = lis
	_, err3 := pachctl.Install(t.Context(), opts)

	all := strings.Join(append(logs, res.URL, fmt.Sprint(err1), fmt.Sprint(err2), fmt.Sprint(err3)), "\n")
	if err1 == nil || err2 == nil || err3 == nil {
		t.Fatalf("expected failures, got %v / %v / %v", err1, err2, err3)
	}
	if strings.Contains(all, "s3cr3t") {
		t.Errorf("a credential leaked into logs, result or errors:\n%s", all)
	}
	if !strings.Contains(all, "REDACTED") {
		t.Errorf("no redacted URL shown:\n%s", all)
	}
}

// TestInstallCacheEntryMustMatchThisRunsDigest: an entry cached by a run that
// pinned its own pachctl-sha256 (a mirror's build, say) is not reused by a
// later run that expects the release digest of another archive, nor by one
// that pins another digest; each downloads again.
func TestInstallCacheEntryMustMatchThisRunsDigest(t *testing.T) {
	srv := newServer(t)
	a := goodRelease(t, srv, target)
	opts := options(t, srv, nil)
	opts.SHA256 = a.SHA256
	first, err := pachctl.Install(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if first.Verified != pachctl.VerifiedPinned {
		t.Fatalf("first install verified by %s, want the pinned digest", first.Verified)
	}

	// The release now publishes another archive (same pachctl, one more
	// file), and its digest.
	b := release(t, srv, target,
		pachstandin.File{Name: pachstandin.ArchiveDir(target, arch) + "/pachctl", Data: fx.binaries[target], Mode: 0o755},
		pachstandin.File{Name: pachstandin.ArchiveDir(target, arch) + "/NOTICE", Data: []byte("rebuilt\n"), Mode: 0o644})
	if b.SHA256 == a.SHA256 {
		t.Fatal("test archives are identical")
	}
	opts.SHA256, opts.Digest = "", digests(b)
	second, err := pachctl.Install(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if second.CacheHit || second.SHA256 != b.SHA256 || second.Verified != pachctl.VerifiedDigest {
		t.Errorf("second install = %+v, want a download of %s verified by the release digest", second, b.SHA256)
	}

	// The same expectation again: now a cache hit, without a download.
	third, err := pachctl.Install(t.Context(), opts)
	if err != nil || !third.CacheHit || third.SHA256 != b.SHA256 {
		t.Errorf("third install = %+v, %v; want a cache hit of %s", third, err, b.SHA256)
	}
	// Pinning the first archive's digest again does not accept the second.
	opts.SHA256 = a.SHA256
	if fourth, err := pachctl.Install(t.Context(), opts); err == nil && fourth.CacheHit {
		t.Errorf("an entry with SHA-256 %s satisfied a pin of %s", b.SHA256, a.SHA256)
	}
	if n := srv.TotalRequests(); n != 3 {
		t.Errorf("server saw %d downloads, want 3 (pinned, release digest, pinned again)", n)
	}
}

// TestInstallCacheEntryRecordsOrigin: the metadata beside a cached binary
// says where it came from and what it was checked against, without the
// URL's credentials; a binary changed in the cache is not run.
func TestInstallCacheEntryRecordsOrigin(t *testing.T) {
	srv := newServer(t)
	a := goodRelease(t, srv, target)
	opts := options(t, srv, digests(a))
	opts.URLTemplate += "?token=s3cr3t-token"
	res, err := pachctl.Install(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := os.ReadFile(res.Dir + ".complete")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sha256=" + a.SHA256, "url=" + srv.AssetURL(a) + "?REDACTED", "verified=" + string(pachctl.VerifiedDigest), "binary-sha256="} {
		if !strings.Contains(string(meta), want+"") {
			t.Errorf("cache metadata lacks %q:\n%s", want, meta)
		}
	}
	if strings.Contains(string(meta), "s3cr3t") {
		t.Errorf("cache metadata holds a credential:\n%s", meta)
	}
	// Another binary that reports the same version: only its digest tells.
	data := append(append([]byte(nil), fx.binaries[target]...), 0)
	if err := os.WriteFile(res.Path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	again, err := pachctl.Install(t.Context(), opts)
	if err != nil || again.CacheHit {
		t.Errorf("install after the cached binary changed = %+v, %v; want a fresh download", again, err)
	}
}
