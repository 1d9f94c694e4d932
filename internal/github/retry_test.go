package github_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/github"
	"github.com/pach-upgrade/pach-upgrade/internal/github/githubtest"
)

func upsert(t *testing.T, s *githubtest.Server) (github.CommentResult, error) {
	t.Helper()
	return newClient(t, s, "tok").UpsertComment(context.Background(), repo, 7, github.Marker("ns", "rel"), "body")
}

func TestServerErrorsAreRetriedABoundedNumberOfTimes(t *testing.T) {
	s := start(t)
	s.Fail(githubtest.OpListComments, githubtest.Failure{Status: 500, Times: 2})
	if _, err := upsert(t, s); err != nil {
		t.Fatalf("two 500s then success: %v", err)
	}
	if n := s.Count(githubtest.OpListComments); n != 3 {
		t.Errorf("list comments called %d times, want 3", n)
	}

	s = start(t)
	s.Fail(githubtest.OpListComments, githubtest.Failure{Status: 500})
	_, err := upsert(t, s)
	var ge *github.Error
	if !errors.As(err, &ge) || ge.Kind != github.KindServer || ge.Attempts != 3 {
		t.Fatalf("err = %v, want a server error after 3 attempts", err)
	}
	if !strings.Contains(err.Error(), "HTTP 500") || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Errorf("error does not say what happened: %v", err)
	}
	if n := s.Count(githubtest.OpListComments); n != 3 {
		t.Errorf("list comments called %d times, want 3", n)
	}
}

func TestFetchFileRetriesServerErrors(t *testing.T) {
	s := start(t)
	s.SetFile(repo, "CHANGELOG.md", []byte("## 2.11.6\n"))
	s.Fail(githubtest.OpGetContents, githubtest.Failure{Status: 502, Times: 1})
	s.Fail(githubtest.OpGetRelease, githubtest.Failure{Status: 503, Times: 2})
	c := newClient(t, s, "")
	if b, err := c.FetchFile(context.Background(), repo, "CHANGELOG.md"); err != nil || string(b) != "## 2.11.6\n" {
		t.Fatalf("FetchFile after a 502: %q, %v", b, err)
	}
	s.AddRelease(repo, githubtest.Release{Tag: "v2.11.6"})
	if _, err := c.GetRelease(context.Background(), repo, "v2.11.6"); err != nil {
		t.Fatalf("GetRelease after two 503s: %v", err)
	}
}

func TestSecondaryRateLimitHonoursRetryAfter(t *testing.T) {
	s := start(t)
	s.Fail(githubtest.OpCreateComment, githubtest.Failure{Status: 403, Secondary: true, RetryAfter: time.Second, Times: 1})
	began := time.Now()
	res, err := upsert(t, s)
	if err != nil || !res.Created {
		t.Fatalf("after one secondary rate limit: %+v, %v", res, err)
	}
	if d := time.Since(began); d < time.Second {
		t.Errorf("retried after %s, before Retry-After (1s)", d)
	}
	if n := len(s.Comments(repo, 7)); n != 1 {
		t.Errorf("%d comments, want 1", n)
	}

	// A Retry-After beyond the cap is not waited for: the caller hears at once.
	s = start(t)
	s.Fail(githubtest.OpCreateComment, githubtest.Failure{Status: 429, Secondary: true, RetryAfter: time.Hour})
	begin := time.Now()
	_, err = upsert(t, s)
	var ge *github.Error
	if !errors.As(err, &ge) || ge.Kind != github.KindRateLimited || ge.RetryAfter != time.Hour {
		t.Fatalf("err = %v, want rate-limited with Retry-After 1h", err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("waited %s for a limit beyond the cap", d)
	}
	if n := s.Count(githubtest.OpCreateComment); n != 1 {
		t.Errorf("create comment called %d times, want 1", n)
	}
}

func TestPrimaryRateLimitWaitsOnlyForASoonReset(t *testing.T) {
	for _, status := range []int{403, 429} {
		s := start(t)
		s.Fail(githubtest.OpListComments, githubtest.Failure{Status: status, RateLimited: true, Reset: 2 * time.Second, Times: 1})
		if _, err := upsert(t, s); err != nil {
			t.Fatalf("%d with a reset in 2s: %v", status, err)
		}
		if n := s.Count(githubtest.OpListComments); n != 2 {
			t.Errorf("%d: list comments called %d times, want 2", status, n)
		}

		s = start(t)
		s.Fail(githubtest.OpListComments, githubtest.Failure{Status: status, RateLimited: true})
		_, err := upsert(t, s)
		var ge *github.Error
		if !errors.As(err, &ge) || ge.Kind != github.KindRateLimited || ge.RetryAfter < 59*time.Minute {
			t.Fatalf("%d with a reset in an hour: err = %v, want rate-limited, retry after about an hour", status, err)
		}
		if n := s.Count(githubtest.OpListComments); n != 1 {
			t.Errorf("%d: list comments called %d times, want 1 (no retry before the reset)", status, n)
		}
	}
}
