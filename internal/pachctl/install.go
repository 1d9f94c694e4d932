// Package pachctl installs pachctl at the target version (the seed's step 3)
// and checks, after the Helm upgrade, that pachctl and pachd both report the
// target (the end of step 4).
//
// It neither talks to GitHub's API nor to the cluster: the release digest
// comes from a caller-supplied DigestLookup, and pachd from an address the
// caller has made reachable (e.g. a port-forward).
package pachctl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// DefaultURLTemplate is where Pachyderm publishes pachctl release archives.
//
// Templates use two placeholders: {version} (the version without a leading
// "v", e.g. 2.11.6) and {arch} (the Go architecture: amd64, arm64).
// {{version}} and {{arch}} are accepted as the same placeholders.
const DefaultURLTemplate = "https://github.com/pachyderm/pachyderm/releases/download/v{version}/pachctl_{version}_linux_{arch}.tar.gz"

// Sentinel errors, so callers (and the report) can tell failures apart.
var (
	ErrNotFound         = errors.New("no such pachctl release")
	ErrChecksumMismatch = errors.New("pachctl archive checksum mismatch")
	ErrUnverified       = errors.New("pachctl archive cannot be verified")
	ErrNoDigest         = errors.New("no digest published for the asset")
	ErrNoPachctl        = errors.New("archive holds no pachctl binary")
	ErrUnsafeArchive    = errors.New("unsafe pachctl archive")
	ErrWrongVersion     = errors.New("pachctl reports the wrong version")
	ErrVersionMismatch  = errors.New("pachctl or pachd is not at the target version")
)

// DigestLookup returns the SHA-256 ("sha256:<hex>" or bare hex) that a
// trusted source publishes for a release asset, e.g. the GitHub releases
// API's digest field. It returns an error wrapping ErrNoDigest (or "" and
// nil) when the source has none for that asset.
type DigestLookup func(ctx context.Context, version, asset string) (string, error)

// Options configures Install. Only Version is required.
type Options struct {
	// Version is the target pachctl version (2.11.6 or v2.11.6).
	Version string
	// Arch is the Go architecture of the binary; default the running one.
	Arch string
	// URLTemplate is the pachctl-download-url input; default DefaultURLTemplate.
	URLTemplate string
	// SHA256 is the pachctl-sha256 input: the archive's expected SHA-256
	// (bare hex or "sha256:<hex>"). It takes precedence over Digest.
	SHA256 string
	// Digest looks up the published digest when SHA256 is empty.
	Digest DigestLookup
	// AllowUnverified installs an archive no checksum is available for
	// (allow-unverified-pachctl). A mismatch is never allowed.
	AllowUnverified bool
	// CacheDir is the tool cache root; default DefaultCacheDir.
	CacheDir string
	// HTTPClient downloads the archive; default a client without a global
	// timeout (AttemptTimeout bounds each attempt).
	HTTPClient *http.Client
	// Attempts is how many times a download is tried on 5xx or timeout; default 4.
	Attempts int
	// Backoff is the wait before the first retry, doubled after each; default 1s.
	Backoff time.Duration
	// AttemptTimeout bounds one download attempt; default 5m.
	AttemptTimeout time.Duration
	// MaxArchiveBytes bounds the download and the extracted binary; default 512 MiB.
	MaxArchiveBytes int64
	// Logf reports progress (one line a call); default silent. Logf and
	// Warnf are never called concurrently.
	Logf func(format string, args ...any)
	// Warnf reports what the user should act on (an unverified install, a
	// damaged cache entry); default Logf.
	Warnf func(format string, args ...any)
}

// Verification says what the installed archive was checked against.
type Verification string

// Sources a download can be verified against, in order of preference.
const (
	VerifiedPinned  Verification = "pachctl-sha256"
	VerifiedDigest  Verification = "release digest"
	VerifiedNothing Verification = "unverified"
	// VerifiedCached means the binary came from the tool cache, where it was
	// put after the verification recorded in the cache.
	VerifiedCached Verification = "tool cache"
)

// Result describes an installed pachctl.
type Result struct {
	// Path is the pachctl executable.
	Path string
	// Dir is the directory to prepend to PATH for later steps.
	Dir string
	// Version is what `pachctl version --client-only` reported.
	Version string
	// Asset is the release asset name, URL where it was (or would be)
	// fetched, with any credentials in it redacted.
	Asset, URL string
	// SHA256 is the archive's digest (hex) as recorded when it was downloaded.
	SHA256 string
	// Verified says what the archive was checked against on download.
	Verified Verification
	// CacheHit is true when nothing was downloaded.
	CacheHit bool
}

// DefaultCacheDir is the runner's tool cache (RUNNER_TOOL_CACHE) when set,
// else the user's cache directory, so runs on one machine share installs.
func DefaultCacheDir(getenv func(string) string) (string, error) {
	if d := getenv("RUNNER_TOOL_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find a tool cache directory (RUNNER_TOOL_CACHE is not set): %w", err)
	}
	return filepath.Join(d, "pach-upgrade", "tools"), nil
}

// AssetName is the release asset of pachctl for Linux on arch.
func AssetName(version, arch string) string {
	return fmt.Sprintf("pachctl_%s_linux_%s.tar.gz", version, arch)
}

// ExpandURL fills a pachctl-download-url template.
func ExpandURL(template, version, arch string) (string, error) {
	s := strings.NewReplacer(
		"{{version}}", version, "{{arch}}", arch,
		"{version}", version, "{arch}", arch,
	).Replace(template)
	if i := strings.IndexAny(s, "{}"); i >= 0 {
		near := s[i:]
		if j := strings.IndexAny(near[1:], "{}"); j >= 0 {
			near = near[:j+2]
		}
		return "", fmt.Errorf("pachctl-download-url %q: unknown placeholder %q; use {version} and {arch}", redactURL(template), near)
	}
	if !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") {
		return "", fmt.Errorf("pachctl-download-url %q: want an http(s) URL", redactURL(template))
	}
	return s, nil
}

func (o *Options) setDefaults() error {
	o.Version = strings.TrimPrefix(strings.TrimSpace(o.Version), "v")
	if o.Version == "" {
		return errors.New("install pachctl: no target version")
	}
	if strings.ContainsAny(o.Version, `/\ `) || strings.Contains(o.Version, "..") {
		return fmt.Errorf("install pachctl: invalid version %q", o.Version)
	}
	if o.Arch == "" {
		o.Arch = runtime.GOARCH
	}
	// Pachyderm publishes tar.gz archives for Linux only; elsewhere the
	// binary could not run to prove its version.
	if runtime.GOOS != "linux" {
		return fmt.Errorf("install pachctl: only Linux is supported, this is %s", runtime.GOOS)
	}
	if o.URLTemplate == "" {
		o.URLTemplate = DefaultURLTemplate
	}
	if o.CacheDir == "" {
		d, err := DefaultCacheDir(os.Getenv)
		if err != nil {
			return err
		}
		o.CacheDir = d
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.Attempts <= 0 {
		o.Attempts = 4
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 5 * time.Minute
	}
	if o.MaxArchiveBytes <= 0 {
		o.MaxArchiveBytes = 512 << 20
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Warnf == nil {
		o.Warnf = o.Logf
	}
	// The download and the digest lookup run side by side and both may
	// report; the caller's functions see one call at a time.
	var mu sync.Mutex
	logf, warnf := o.Logf, o.Warnf
	o.Logf = func(format string, args ...any) { mu.Lock(); defer mu.Unlock(); logf(format, args...) }
	o.Warnf = func(format string, args ...any) { mu.Lock(); defer mu.Unlock(); warnf(format, args...) }
	return nil
}

// Install makes pachctl at opts.Version available: from the tool cache when
// a verified copy is there, else downloaded, verified and extracted into it.
// It then requires `pachctl version --client-only` to report the version.
func Install(ctx context.Context, opts Options) (Result, error) {
	if err := opts.setDefaults(); err != nil {
		return Result{}, err
	}
	pinned, err := normalizeDigest(opts.SHA256)
	if err != nil {
		return Result{}, fmt.Errorf("pachctl-sha256: %w", err)
	}
	asset := AssetName(opts.Version, opts.Arch)
	url, err := ExpandURL(opts.URLTemplate, opts.Version, opts.Arch)
	if err != nil {
		return Result{}, err
	}
	c := toolCache{root: opts.CacheDir, version: opts.Version, arch: opts.Arch}
	exp := expectation{opts: &opts, asset: asset, pinned: pinned}

	if res, ok := reuse(ctx, c, &exp, redactURL(url)); ok {
		res.Asset, res.URL = asset, redactURL(url)
		v, err := clientVersion(ctx, res.Path)
		if err == nil && v == opts.Version {
			res.Version = v
			opts.Logf("pachctl %s found in the tool cache at %s (archive SHA-256 %s, %s)", v, res.Dir, res.SHA256, res.Verified)
			return res, nil
		}
		// A cached copy that does not run or reports another version is
		// damaged; replace it rather than fail the upgrade on it.
		opts.Warnf("cached pachctl at %s is unusable (reports %q, %v); downloading again", res.Dir, v, err)
		if err := c.remove(); err != nil {
			return Result{}, err
		}
	}

	res, err := download(ctx, &opts, c, url, asset, &exp)
	if err != nil {
		return Result{}, err
	}
	v, err := clientVersion(ctx, res.Path)
	if err != nil {
		return Result{}, errors.Join(fmt.Errorf("run pachctl from %s: %w", asset, err), c.remove())
	}
	if v != opts.Version {
		err := fmt.Errorf("%w: %s from %s reports %q on `pachctl version --client-only`, want %q",
			ErrWrongVersion, asset, redactURL(url), v, opts.Version)
		return Result{}, errors.Join(err, c.remove())
	}
	res.Version = v
	return res, nil
}

// download fetches, verifies and installs the archive into the cache.
//
// A digest that must be looked up (a GitHub API call) is waited for beside
// the download rather than before it, so a slow API costs one round trip,
// not two. Until the digest has come and matched, the archive is only a
// private temporary file that nothing reads: no extraction, no run. When no
// digest comes, the download is stopped and its file removed before the
// lookup's error is returned.
func download(ctx context.Context, opts *Options, c toolCache, url, asset string, exp *expectation) (Result, error) {
	shown := redactURL(url)
	if err := os.MkdirAll(c.versionDir(), 0o755); err != nil {
		return Result{}, fmt.Errorf("create tool cache %s: %w", c.versionDir(), err)
	}
	var pending *pendingFetch
	if exp.needsLookup() {
		opts.Logf("downloading %s while its digest is looked up", shown)
		pending = startFetch(ctx, opts, url, c.versionDir())
	}
	want, source, err := exp.get(ctx)
	if err != nil {
		var ferr error
		if pending != nil {
			ferr = pending.discard()
		}
		var lookup lookupError
		if errors.As(err, &lookup) {
			// A failed lookup often means there is no such release; the
			// download URL says so more plainly than the releases API. The
			// download may have asked already; else ask for the headers.
			if errors.Is(ferr, ErrNotFound) {
				return Result{}, ferr
			}
			if pending == nil || ferr != nil {
				if perr := probeNotFound(ctx, opts, url); perr != nil {
					return Result{}, perr
				}
			}
		}
		return Result{}, err
	}
	var archive, got string
	if pending != nil {
		archive, got, err = pending.wait()
	} else {
		opts.Logf("downloading %s", shown)
		archive, got, err = fetch(ctx, opts, url, c.versionDir())
	}
	if err != nil {
		return Result{}, err
	}
	defer os.Remove(archive)
	switch {
	case want == "":
		opts.Warnf("installing pachctl %s without checksum verification (allow-unverified-pachctl); its SHA-256 is %s", opts.Version, got)
	case want != got:
		return Result{}, fmt.Errorf("%w: %s from %s has SHA-256 %s, but %s says %s", ErrChecksumMismatch, asset, shown, got, source, want)
	default:
		opts.Logf("pachctl archive %s verified against %s", asset, source)
	}

	bin, err := extract(archive, opts.Version, opts.Arch, c.versionDir(), opts.MaxArchiveBytes)
	if err != nil {
		return Result{}, fmt.Errorf("extract %s from %s: %w", asset, shown, err)
	}
	res, err := c.commit(bin, got, shown, source)
	if err != nil {
		return Result{}, err
	}
	res.Asset, res.URL = asset, shown
	return res, nil
}

// reuse returns the cached install when it is what this run expects: the
// pinned digest when pachctl-sha256 is set; else the release digest, taken on
// trust from the entry when that entry was itself verified against the
// release digest of the same URL (a published asset's digest is fixed, and a
// cache hit then needs no network), otherwise looked up and compared; with
// no digest at all (allow-unverified-pachctl), only an entry from the same
// URL. Every reuse also requires the binary to hash as recorded.
func reuse(ctx context.Context, c toolCache, exp *expectation, shownURL string) (Result, bool) {
	e, ok := c.read()
	if !ok {
		return Result{}, false
	}
	if exp.pinned != "" {
		res := e.result(c)
		res.Verified = VerifiedPinned
		return res, e.SHA256 == exp.pinned
	}
	if e.Verified == VerifiedDigest && e.URL == shownURL {
		return e.result(c), true
	}
	want, source, err := exp.get(ctx)
	switch {
	case err != nil:
		return Result{}, false
	case want == "":
		return e.result(c), e.URL == shownURL
	case e.SHA256 != want:
		exp.opts.Logf("cached pachctl (archive SHA-256 %s, from %s) is not the archive %s expects (%s); downloading again", e.SHA256, e.URL, source, want)
		return Result{}, false
	}
	res := e.result(c)
	res.Verified = source
	return res, true
}

// expectation is what this run's archive must hash to, found once: the
// digest lookup is a GitHub API call.
type expectation struct {
	opts   *Options
	asset  string
	pinned string

	done   bool
	want   string
	source Verification
	err    error
}

// needsLookup says whether get would ask the digest source: nothing pinned,
// a source configured, and not asked yet.
func (x *expectation) needsLookup() bool {
	return !x.done && x.pinned == "" && x.opts.Digest != nil
}

func (x *expectation) get(ctx context.Context) (string, Verification, error) {
	if !x.done {
		x.want, x.source, x.err = expectedDigest(ctx, x.opts, x.asset, x.pinned)
		x.done = true
	}
	return x.want, x.source, x.err
}

// expectedDigest picks what the archive must hash to: the pinned digest,
// else the published one; "" only when unverified installs are allowed.
func expectedDigest(ctx context.Context, opts *Options, asset, pinned string) (string, Verification, error) {
	if pinned != "" {
		return pinned, VerifiedPinned, nil
	}
	var lookupErr error
	if opts.Digest != nil {
		d, err := opts.Digest(ctx, opts.Version, asset)
		switch {
		case err == nil && d != "":
			want, err := normalizeDigest(d)
			if err != nil {
				return "", "", fmt.Errorf("published digest of %s: %w", asset, err)
			}
			return want, VerifiedDigest, nil
		case err != nil && !errors.Is(err, ErrNoDigest):
			lookupErr = lookupError{fmt.Errorf("look up the digest of %s: %w", asset, err)}
		default:
			lookupErr = fmt.Errorf("no digest is published for %s", asset)
		}
	} else {
		lookupErr = errors.New("no pachctl-sha256 given and no release digest source configured")
	}
	if opts.AllowUnverified {
		opts.Warnf("%v", lookupErr)
		return "", VerifiedNothing, nil
	}
	return "", "", fmt.Errorf("%w: %w; set pachctl-sha256 to the archive's SHA-256, or allow-unverified-pachctl: true to install it unchecked",
		ErrUnverified, lookupErr)
}

// normalizeDigest accepts "sha256:<hex>" or "<hex>" and returns lower-case hex.
func normalizeDigest(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", nil
	}
	if algo, sum, ok := strings.Cut(s, ":"); ok {
		if algo != "sha256" {
			return "", fmt.Errorf("digest %q: only sha256 is supported", s)
		}
		s = sum
	}
	if len(s) != 64 || strings.Trim(s, "0123456789abcdef") != "" {
		return "", fmt.Errorf("digest %q: want 64 hex characters", s)
	}
	return s, nil
}

// lookupError is a DigestLookup that failed, rather than one that found no
// digest.
type lookupError struct{ err error }

func (e lookupError) Error() string { return e.err.Error() }
func (e lookupError) Unwrap() error { return e.err }
