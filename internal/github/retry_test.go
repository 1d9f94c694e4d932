package github_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
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

// unknownHost is an HTTP client whose every dial fails as net.Dialer fails
// on a name the resolver answers NXDOMAIN for: a runner without the route
// to (or the DNS of) the API host. The resolver of the test machine cannot
// be relied on to answer, so the dial gives its error.
func unknownHost() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
	}}}
}

func TestNetworkFailuresThatCannotSucceedAreNotRetried(t *testing.T) {
	s := start(t)
	s.SetFile(repo, "CHANGELOG.md", []byte("## 2.11.6\n"))
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a request got through a handshake the client must refuse: %s", r.URL)
	}))
	t.Cleanup(tlsSrv.Close)
	for _, tc := range []struct {
		name, api, want string
		hc              *http.Client
	}{
		{"unknown host", "https://api.github.invalid", "no such host", unknownHost()},
		// The client does not trust the server's certificate.
		{"untrusted certificate", tlsSrv.URL, "certificate", &http.Client{}},
		// A TLS client against a plain HTTP server.
		{"not TLS", strings.Replace(s.APIURL, "http://", "https://", 1), "HTTP response to HTTPS client", &http.Client{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := github.NewClient(github.Options{APIURL: tc.api, HTTPClient: tc.hc,
				// A retry would show in the attempts, and in an hour's wait.
				Retry: github.Retry{Backoff: time.Hour}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = c.FetchFile(ctx, repo, "CHANGELOG.md")
			var ge *github.Error
			if !errors.As(err, &ge) || ge.Kind != github.KindNetwork {
				t.Fatalf("err = %v, want a network error", err)
			}
			if ge.Attempts > 1 || ctx.Err() != nil {
				t.Errorf("retried (%d attempts): %v", ge.Attempts, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not name the cause (%q): %v", tc.want, err)
			}
		})
	}
}

func TestRefusedConnectionIsRetried(t *testing.T) {
	// A port nobody listens on: the API may be restarting, so this one is
	// worth another try, a bounded number of times.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := github.NewClient(github.Options{APIURL: "http://" + addr, Retry: github.Retry{Backoff: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.FetchFile(context.Background(), repo, "CHANGELOG.md")
	var ge *github.Error
	if !errors.As(err, &ge) || ge.Kind != github.KindNetwork || ge.Attempts != 3 {
		t.Fatalf("err = %v, want a network error after 3 attempts", err)
	}
}

func TestClientErrorsOtherThan429AreNotRetried(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 410, 422} {
		s := start(t)
		s.SetFile(repo, "CHANGELOG.md", []byte("## 2.11.6\n"))
		s.Fail(githubtest.OpGetContents, githubtest.Failure{Status: status})
		_, err := newClient(t, s, "").FetchFile(context.Background(), repo, "CHANGELOG.md")
		if err == nil {
			t.Fatalf("HTTP %d: no error", status)
		}
		if n := s.Count(githubtest.OpGetContents); n != 1 {
			t.Errorf("HTTP %d: get contents called %d times, want 1", status, n)
		}
	}
}
