package github

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"

	gh "github.com/google/go-github/v89/github"
)

// Kind classifies an API failure so that callers can decide what it means
// for the job: a failed PR comment is a warning, never a failed upgrade.
type Kind string

const (
	KindUnauthorized Kind = "unauthorized" // 401: bad or expired token
	KindForbidden    Kind = "forbidden"    // 403: e.g. a read-only token on a forked PR
	KindNotFound     Kind = "not-found"    // 404: no such repository, file, release or PR
	KindRateLimited  Kind = "rate-limited" // primary or secondary rate limit
	KindServer       Kind = "server"       // 5xx
	KindNetwork      Kind = "network"      // no HTTP response at all
	KindNoDigest     Kind = "no-digest"    // a release asset without a usable digest
	KindOther        Kind = "other"
)

// Error is every failure of a GitHub API call made by this package.
type Error struct {
	// Op says what was being done, e.g. "create comment on PR 7 of o/r".
	Op     string
	Kind   Kind
	Status int
	// RetryAfter is set for rate limits when GitHub says when to retry.
	RetryAfter time.Duration
	// Attempts is how many times the call was made, when more than once.
	Attempts int
	// Permission is set on a 403 of a write: the workflow permission the
	// token lacks, e.g. "contents: write".
	Permission string
	Err        error

	header http.Header
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %s: %v", e.Op, e.Kind, e.Err)
	if e.Status != 0 {
		msg = fmt.Sprintf("%s: %s (HTTP %d): %v", e.Op, e.Kind, e.Status, e.Err)
	}
	if e.Attempts > 1 {
		msg += fmt.Sprintf(" (gave up after %d attempts)", e.Attempts)
	}
	return msg + e.permissionHint()
}

// permissionHint says how to give the token what a 403 says it lacks.
func (e *Error) permissionHint() string {
	if e.Kind != KindForbidden || e.Permission == "" {
		return ""
	}
	if strings.Contains(e.Err.Error(), "not permitted to create or approve pull requests") {
		return "; the repository does not let GITHUB_TOKEN open pull requests: use a GitHub App token or a PAT " +
			"(see the README), or enable Settings → Actions → General → \"Allow GitHub Actions to create and approve pull requests\""
	}
	return fmt.Sprintf("; the token lacks `%s`: add it to the job's `permissions:` block "+
		"(for a GitHub App token, grant the App that permission; for a fine-grained PAT, the same repository permission)", e.Permission)
}

func (e *Error) Unwrap() error { return e.Err }

// Is lets callers that know nothing of GitHub test a missing file with
// errors.Is(err, fs.ErrNotExist).
func (e *Error) Is(target error) bool {
	return target == fs.ErrNotExist && e.Kind == KindNotFound
}

// IsKind reports whether err is an *Error of kind k.
func IsKind(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}

func wrap(op string, resp *gh.Response, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Kind: KindOther, Err: err}
	if resp != nil && resp.Response != nil {
		e.Status = resp.StatusCode
		e.header = resp.Header
	}
	var rl *gh.RateLimitError
	var abuse *gh.AbuseRateLimitError
	switch {
	case errors.As(err, &rl):
		e.Kind = KindRateLimited
		if !rl.Rate.Reset.IsZero() {
			// The reset is a whole second; round up so a wait ends after it.
			if d := time.Until(rl.Rate.Reset.Time); d > 0 {
				e.RetryAfter = d.Truncate(time.Second) + time.Second
			}
		}
		if rl.Response != nil {
			e.Status = rl.Response.StatusCode
		}
	case errors.As(err, &abuse):
		e.Kind = KindRateLimited
		e.RetryAfter = abuse.GetRetryAfter()
		if abuse.Response != nil {
			e.Status = abuse.Response.StatusCode
		}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e.Kind = KindNetwork
	case e.Status == http.StatusUnauthorized:
		e.Kind = KindUnauthorized
	case e.Status == http.StatusForbidden:
		e.Kind = KindForbidden
	case e.Status == http.StatusNotFound:
		e.Kind = KindNotFound
	case e.Status == http.StatusTooManyRequests:
		e.Kind = KindRateLimited
	case e.Status >= 500:
		e.Kind = KindServer
	case e.Status == 0:
		e.Kind = KindNetwork
	}
	return e
}
