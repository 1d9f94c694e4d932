package pachctl

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/netfail"
	"github.com/pach-upgrade/pach-upgrade/internal/redact"
)

// maxBackoff caps the wait between download attempts.
const maxBackoff = 30 * time.Second

// retryableError marks a failure worth another attempt: a 5xx answer, 429
// Too Many Requests or a timeout. Everything else (404, other 4xx, an
// unknown host, a refused TLS handshake) would fail the same way again.
type retryableError struct {
	err error
	// after is how long the server asked to wait (Retry-After of a 429).
	after time.Duration
}

func (e retryableError) Error() string { return e.err.Error() }
func (e retryableError) Unwrap() error { return e.err }

// fetch downloads url into a temporary file in dir, retrying with backoff,
// and returns the file and its SHA-256 (hex).
func fetch(ctx context.Context, opts *Options, url, dir string) (string, string, error) {
	shown := redactURL(url)
	backoff := opts.Backoff
	var lastErr error
	for attempt := 1; attempt <= opts.Attempts; attempt++ {
		path, sum, err := fetchOnce(ctx, opts, url, dir)
		if err == nil {
			return path, sum, nil
		}
		var retry retryableError
		if !errors.As(err, &retry) {
			return "", "", err
		}
		lastErr = err
		if attempt == opts.Attempts {
			break
		}
		wait := backoff
		if retry.after > wait {
			// A server that says when to come back longer than we would
			// wait anyway is not asked again sooner than that; one that
			// asks for more than maxBackoff is not waited for.
			if retry.after > maxBackoff {
				return "", "", fmt.Errorf("download %s: the server asks to wait %s before the next attempt: %w", shown, retry.after, err)
			}
			wait = retry.after
		}
		opts.Logf("download of %s failed (attempt %d of %d): %v; retrying in %s", shown, attempt, opts.Attempts, err, wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", "", fmt.Errorf("download %s: %w (after: %v)", shown, ctx.Err(), lastErr)
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
	return "", "", fmt.Errorf("download %s: giving up after %d attempts: %w", shown, opts.Attempts, lastErr)
}

// pendingFetch is a fetch running on its own goroutine, beside the digest
// lookup. Its archive is not to be read until the digest is known.
type pendingFetch struct {
	cancel context.CancelFunc
	done   chan struct{}
	// Set before done is closed.
	path, sum string
	err       error
}

// startFetch starts fetch; ctx's end stops it, as does discard.
func startFetch(ctx context.Context, opts *Options, url, dir string) *pendingFetch {
	ctx, cancel := context.WithCancel(ctx)
	p := &pendingFetch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.path, p.sum, p.err = fetch(ctx, opts, url, dir)
	}()
	return p
}

// wait returns the fetch's result once it has ended.
func (p *pendingFetch) wait() (string, string, error) {
	<-p.done
	p.cancel()
	return p.path, p.sum, p.err
}

// discard stops the fetch, waits for it to end and removes what it
// downloaded, so nothing unverified stays on disk. It returns the fetch's
// error, if it ended with one before it was stopped (or because of it).
func (p *pendingFetch) discard() error {
	p.cancel()
	<-p.done
	if p.err == nil {
		os.Remove(p.path)
	}
	return p.err
}

func fetchOnce(ctx context.Context, opts *Options, url, dir string) (string, string, error) {
	shown := redactURL(url)
	actx, cancel := context.WithTimeout(ctx, opts.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, url, nil)
	if err != nil {
		return "", "", fmt.Errorf("download %s: invalid URL", shown)
	}
	resp, err := opts.HTTPClient.Do(req)
	if err != nil {
		// *url.Error repeats the full URL, query included; name the
		// redacted one instead.
		var uerr *neturl.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return "", "", classify(ctx, actx, fmt.Errorf("download %s: %w", shown, err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", "", fmt.Errorf("%w: %s answered 404 Not Found; check target-version and pachctl-download-url", ErrNotFound, shown)
	case netfail.RetryableStatus(resp.StatusCode):
		return "", "", retryableError{err: fmt.Errorf("download %s: server answered %s", shown, resp.Status),
			after: retryAfter(resp.Header.Get("Retry-After"))}
	case resp.StatusCode != http.StatusOK:
		return "", "", fmt.Errorf("download %s: server answered %s", shown, resp.Status)
	case resp.ContentLength > opts.MaxArchiveBytes:
		return "", "", fmt.Errorf("download %s: archive is %d bytes, more than the %d allowed", shown, resp.ContentLength, opts.MaxArchiveBytes)
	}

	f, err := os.CreateTemp(dir, ".download-*.tar.gz")
	if err != nil {
		return "", "", fmt.Errorf("download %s: %w", shown, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(resp.Body, opts.MaxArchiveBytes+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > opts.MaxArchiveBytes {
		err = fmt.Errorf("archive is larger than the %d bytes allowed", opts.MaxArchiveBytes)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", "", classify(ctx, actx, fmt.Errorf("download %s: %w", shown, err))
	}
	return f.Name(), hex.EncodeToString(h.Sum(nil)), nil
}

// probeNotFound asks for the archive's headers only, and returns ErrNotFound
// when the server answers 404; any other answer, or none, returns nil.
func probeNotFound(ctx context.Context, opts *Options, url string) error {
	actx, cancel := context.WithTimeout(ctx, opts.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodHead, url, nil)
	if err != nil {
		return nil
	}
	resp, err := opts.HTTPClient.Do(req)
	if err != nil {
		return nil
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w: %s answered 404 Not Found; check target-version and pachctl-download-url", ErrNotFound, redactURL(url))
	}
	return nil
}

// classify makes err retryable when it is a timeout of this attempt, not a
// cancellation of the whole install.
func classify(ctx, attemptCtx context.Context, err error) error {
	if ctx.Err() != nil || netfail.Permanent(err) {
		return err
	}
	var nerr net.Error
	if errors.Is(attemptCtx.Err(), context.DeadlineExceeded) || (errors.As(err, &nerr) && nerr.Timeout()) {
		return retryableError{err: err}
	}
	return err
}

// retryAfter reads a Retry-After header given in seconds; an HTTP date or
// nothing is 0, and the usual back-off applies.
func retryAfter(h string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// redactURL is how a download URL appears in logs, errors and the report:
// a user's mirror may carry credentials in its user info or query string.
func redactURL(raw string) string { return redact.URL(raw) }
