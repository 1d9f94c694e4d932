package github

import (
	"context"
	"errors"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/netfail"
)

// Retry bounds how a Client retries a failed call. GitHub asks clients to
// back off on server errors and to wait out rate limits for as long as it
// says, never to hammer; a run must also end in bounded time, so a limit
// that resets later than MaxWait is reported at once rather than waited for.
type Retry struct {
	// Attempts is how many times a call is tried in all; default 3.
	Attempts int
	// Backoff is the wait before the second attempt after a 5xx or a
	// network error, doubled for each further one; default 1 s.
	Backoff time.Duration
	// MaxWait is the longest wait for a rate limit to reset (Retry-After of
	// a secondary limit, x-ratelimit-reset of a primary one); default 60 s.
	MaxWait time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 3
	}
	if r.Backoff <= 0 {
		r.Backoff = time.Second
	}
	if r.MaxWait <= 0 {
		r.MaxWait = 60 * time.Second
	}
	return r
}

// rateLimitSlack is added to a rate limit's wait: GitHub's reset is given
// in whole seconds, and go-github refuses calls locally until it has passed.
const rateLimitSlack = 250 * time.Millisecond

// wait says how long to wait before attempt+1 after err, and whether to
// try again at all.
func (r Retry) wait(err error, attempt int) (time.Duration, bool) {
	var e *Error
	if attempt >= r.Attempts || !errors.As(err, &e) {
		return 0, false
	}
	switch e.Kind {
	case KindNetwork:
		// An unknown host or a refused TLS handshake fails the same way on
		// every attempt: waiting only delays the run.
		if netfail.Permanent(e.Err) {
			return 0, false
		}
		return r.Backoff << (attempt - 1), true
	case KindServer:
		return r.Backoff << (attempt - 1), true
	case KindRateLimited:
		// Without a time from GitHub, guessing would only hammer it.
		if e.RetryAfter <= 0 || e.RetryAfter > r.MaxWait {
			return 0, false
		}
		return e.RetryAfter + rateLimitSlack, true
	}
	return 0, false
}

// retry runs call until it succeeds, fails for good, or the retry policy
// is exhausted. The last error is returned with the number of attempts.
func (c *Client) retry(ctx context.Context, call func() error) error {
	for attempt := 1; ; attempt++ {
		err := call()
		if err == nil || ctx.Err() != nil {
			return err
		}
		d, again := c.policy.wait(err, attempt)
		if !again {
			var e *Error
			if attempt > 1 && errors.As(err, &e) {
				e.Attempts = attempt
			}
			return err
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
