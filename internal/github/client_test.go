package github_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/github"
	"github.com/pach-upgrade/pach-upgrade/internal/github/githubtest"
)

const repo = "pachyderm/pachyderm"

func newClient(t *testing.T, s *githubtest.Server, token string) *github.Client {
	t.Helper()
	c, err := github.NewClient(github.Options{Token: token, APIURL: s.APIURL, ServerURL: s.ServerURL, HTTPClient: s.Client(),
		// Retries as by default, without the default's seconds of back-off.
		Retry: github.Retry{Backoff: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func start(t *testing.T, opts ...githubtest.Option) *githubtest.Server {
	t.Helper()
	s := githubtest.NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

func TestFetchFileDecodesBase64InOneCall(t *testing.T) {
	s := start(t)
	// Long enough that the server wraps the base64 over many lines.
	want := strings.Repeat("## 2.5.1\n- fix ü\n", 200)
	s.SetFile(repo, "CHANGELOG.md", []byte(want))
	got, err := newClient(t, s, "").FetchFile(context.Background(), repo, "CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("content differs: got %d bytes, want %d", len(got), len(want))
	}
	if n := len(s.Requests()); n != 1 {
		t.Fatalf("FetchFile made %d API calls, want 1", n)
	}
}

func TestFetchFileMissingIsNotExist(t *testing.T) {
	s := start(t)
	_, err := newClient(t, s, "").FetchFile(context.Background(), repo, "CHANGELOG.md")
	if !errors.Is(err, fs.ErrNotExist) || !github.IsKind(err, github.KindNotFound) {
		t.Fatalf("err = %v, want not found", err)
	}
}

func TestEnterpriseServerBaseURL(t *testing.T) {
	s := start(t, githubtest.WithPathPrefix("/api/v3"))
	if !strings.HasSuffix(s.APIURL, "/api/v3") {
		t.Fatalf("APIURL = %s", s.APIURL)
	}
	s.SetFile(repo, "docs/CHANGELOG.md", []byte("## 2.5.1\nx\n"))
	env := map[string]string{"GITHUB_API_URL": s.APIURL, "GITHUB_SERVER_URL": s.ServerURL}
	opts := github.OptionsFromEnv("tok", func(k string) string { return env[k] })
	opts.HTTPClient = s.Client()
	c, err := github.NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.FetchFile(context.Background(), repo, "docs/CHANGELOG.md"); err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Requests() {
		if !strings.HasPrefix(r.Path, "/api/v3/repos/") {
			t.Errorf("request to %s, want under /api/v3", r.Path)
		}
		if !r.Authorization {
			t.Errorf("request to %s carried no token", r.Path)
		}
	}
	if got, want := c.ReleaseURL(repo, "v2.5.1"), s.ServerURL+"/"+repo+"/releases/tag/v2.5.1"; got != want {
		t.Errorf("ReleaseURL = %s, want %s", got, want)
	}
}

func TestNewClientRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"ftp://x", "not a url", "https://"} {
		if _, err := github.NewClient(github.Options{APIURL: u}); err == nil {
			t.Errorf("APIURL %q accepted", u)
		}
	}
}

func TestReleaseAssetDigest(t *testing.T) {
	s := start(t)
	content := []byte("pachctl archive")
	s.AddRelease(repo, githubtest.Release{Tag: "v2.11.6", Assets: []githubtest.Asset{
		{Name: "pachctl_2.11.6_linux_amd64.tar.gz", Content: content},
		{Name: "pachctl_2.11.6_linux_arm64.tar.gz", Content: []byte("arm"), NoDigest: true},
	}})
	c := newClient(t, s, "")
	ctx := context.Background()
	got, err := c.ReleaseAssetDigest(ctx, repo, "v2.11.6", "pachctl_2.11.6_linux_amd64.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if got != githubtest.Digest(content) || !strings.HasPrefix(got, "sha256:") {
		t.Fatalf("digest = %s, want %s", got, githubtest.Digest(content))
	}
	if _, err := c.ReleaseAssetDigest(ctx, repo, "v2.11.6", "pachctl_2.11.6_linux_arm64.tar.gz"); !github.IsKind(err, github.KindNoDigest) {
		t.Errorf("asset without digest: err = %v", err)
	}
	if _, err := c.ReleaseAssetDigest(ctx, repo, "v2.11.6", "nope.tar.gz"); !github.IsKind(err, github.KindNotFound) {
		t.Errorf("missing asset: err = %v", err)
	}
	if _, err := c.ReleaseAssetDigest(ctx, repo, "v9.9.9", "x"); !github.IsKind(err, github.KindNotFound) {
		t.Errorf("missing release: err = %v", err)
	}
	// The browser download URL serves the same bytes the digest covers.
	resp, err := s.Client().Get(s.ServerURL + "/" + repo + "/releases/download/v2.11.6/pachctl_2.11.6_linux_amd64.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(content)) {
		t.Errorf("download: %s, %d bytes", resp.Status, resp.ContentLength)
	}
}

// TestReleaseAssetDigestUsesListedReleases: after ListReleases (the notes
// step), the pachctl digest comes from the list the client kept, with no
// get-release call; a tag the list lacks is still asked for.
func TestReleaseAssetDigestUsesListedReleases(t *testing.T) {
	s := start(t)
	content := []byte("pachctl archive")
	s.AddRelease(repo, githubtest.Release{Tag: "v2.11.5", Assets: []githubtest.Asset{{Name: "pachctl_2.11.5_linux_amd64.tar.gz", Content: []byte("old")}}})
	s.AddRelease(repo, githubtest.Release{Tag: "v2.11.6", Body: "notes", Assets: []githubtest.Asset{
		{Name: "pachctl_2.11.6_linux_amd64.tar.gz", Content: content},
		{Name: "pachctl_2.11.6_linux_arm64.tar.gz", Content: []byte("arm"), NoDigest: true},
	}})
	c := newClient(t, s, "")
	ctx := context.Background()
	if _, err := c.ListReleases(ctx, repo); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReleaseAssetDigest(ctx, repo, "v2.11.6", "pachctl_2.11.6_linux_amd64.tar.gz")
	if err != nil || got != githubtest.Digest(content) {
		t.Fatalf("digest = %s, %v; want %s", got, err, githubtest.Digest(content))
	}
	if _, err := c.ReleaseAssetDigest(ctx, repo, "v2.11.6", "pachctl_2.11.6_linux_arm64.tar.gz"); !github.IsKind(err, github.KindNoDigest) {
		t.Errorf("asset without digest: err = %v, want %s", err, github.KindNoDigest)
	}
	if n := s.Count(githubtest.OpGetRelease); n != 0 {
		t.Errorf("get-release calls = %d after listing releases, want 0", n)
	}
	// A release published after the list was fetched: asked for.
	s.AddRelease(repo, githubtest.Release{Tag: "v2.11.7", Assets: []githubtest.Asset{{Name: "pachctl_2.11.7_linux_amd64.tar.gz", Content: []byte("new")}}})
	if got, err := c.ReleaseAssetDigest(ctx, repo, "v2.11.7", "pachctl_2.11.7_linux_amd64.tar.gz"); err != nil || got != githubtest.Digest([]byte("new")) {
		t.Errorf("digest of an unlisted release = %s, %v", got, err)
	}
	if n := s.Count(githubtest.OpGetRelease); n != 1 {
		t.Errorf("get-release calls = %d for a release the list lacks, want 1", n)
	}
	// The list kept is per repository.
	if _, err := c.ReleaseAssetDigest(ctx, "other/repo", "v2.11.6", "pachctl_2.11.6_linux_amd64.tar.gz"); !github.IsKind(err, github.KindNotFound) {
		t.Errorf("another repository's release: err = %v, want not found", err)
	}
}

func TestListReleasesPaginates(t *testing.T) {
	s := start(t, githubtest.WithMaxPerPage(3))
	for i := 0; i < 8; i++ {
		s.AddRelease(repo, githubtest.Release{Tag: fmt.Sprintf("v2.6.%d", i), Body: fmt.Sprintf("notes %d", i)})
	}
	rs, err := newClient(t, s, "").ListReleases(context.Background(), repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 8 || rs[0].Tag != "v2.6.7" || rs[7].Body != "notes 0" {
		t.Fatalf("releases = %+v", rs)
	}
	if n := s.Count(githubtest.OpListReleases); n != 3 {
		t.Errorf("list calls = %d, want 3", n)
	}
}

// TestListReleasesUntilStopsPaging: once done holds, no further page is
// asked for; the releases kept for ReleaseAssetDigest are those listed.
func TestListReleasesUntilStopsPaging(t *testing.T) {
	s := start(t, githubtest.WithMaxPerPage(3))
	for i := 0; i < 8; i++ {
		s.AddRelease(repo, githubtest.Release{Tag: fmt.Sprintf("v2.6.%d", i), Assets: []githubtest.Asset{{Name: "a", Content: []byte{byte(i)}}}})
	}
	c := newClient(t, s, "")
	ctx := context.Background()
	rs, err := c.ListReleasesUntil(ctx, repo, func(rs []github.Release) bool {
		for _, r := range rs {
			if r.Tag == "v2.6.3" {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	// Pages: 7 6 5 | 4 3 2 | 1 0.
	if len(rs) != 6 || rs[5].Tag != "v2.6.2" {
		t.Fatalf("releases = %+v, want the first two pages", rs)
	}
	if n := s.Count(githubtest.OpListReleases); n != 2 {
		t.Errorf("list calls = %d, want 2", n)
	}
	if _, err := c.ReleaseAssetDigest(ctx, repo, "v2.6.3", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReleaseAssetDigest(ctx, repo, "v2.6.0", "a"); err != nil {
		t.Fatal(err)
	}
	if n := s.Count(githubtest.OpGetRelease); n != 1 {
		t.Errorf("get-release calls = %d, want 1 (for v2.6.0, not listed)", n)
	}
}

func TestUpsertCommentEditsAcrossThreeRuns(t *testing.T) {
	const pr = 42
	s := start(t, githubtest.WithMaxPerPage(2))
	// Other people's comments fill more than one page, so the marker is
	// only found by following the Link header.
	for i := 0; i < 5; i++ {
		s.AddComment(repo, pr, "someone", fmt.Sprintf("review %d", i))
	}
	marker := github.Marker("staging", "pachd")
	other := github.Marker("prod", "pachd")
	c := newClient(t, s, "tok")
	ctx := context.Background()
	var firstID int64
	for run := 1; run <= 3; run++ {
		res, err := c.UpsertComment(ctx, repo, pr, marker, fmt.Sprintf("run %d", run))
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if run == 1 {
			firstID = res.ID
			if !res.Created {
				t.Fatal("first run did not create the comment")
			}
		} else if res.Created || res.ID != firstID {
			t.Fatalf("run %d created a new comment (id %d, first %d)", run, res.ID, firstID)
		}
	}
	// A second release on the same PR has its own comment.
	if _, err := c.UpsertComment(ctx, repo, pr, other, "prod run"); err != nil {
		t.Fatal(err)
	}
	var ours []githubtest.Comment
	for _, cm := range s.Comments(repo, pr) {
		if strings.Contains(cm.Body, marker) {
			ours = append(ours, cm)
		}
	}
	if len(ours) != 1 {
		t.Fatalf("%d comments carry the marker, want 1", len(ours))
	}
	if want := marker + "\nrun 3"; ours[0].Body != want {
		t.Fatalf("body = %q, want %q", ours[0].Body, want)
	}
	if n := len(s.Comments(repo, pr)); n != 7 {
		t.Fatalf("%d comments in all, want 5 + 2", n)
	}
	if n := s.Count(githubtest.OpEditComment); n != 2 {
		t.Errorf("edits = %d, want 2", n)
	}
	// The same body again is not rewritten.
	res, err := c.UpsertComment(ctx, repo, pr, marker, "run 3")
	if err != nil || !res.Unchanged {
		t.Errorf("identical body: %+v, %v", res, err)
	}
}

func TestUpsertCommentFailuresAreTyped(t *testing.T) {
	cases := []struct {
		name string
		op   githubtest.Op
		f    githubtest.Failure
		kind github.Kind
	}{
		{"read-only token", githubtest.OpCreateComment, githubtest.Failure{Status: 403}, github.KindForbidden},
		{"rate limit", githubtest.OpListComments, githubtest.Failure{Status: 403, RateLimited: true}, github.KindRateLimited},
		{"secondary rate limit", githubtest.OpCreateComment, githubtest.Failure{Status: 429}, github.KindRateLimited},
		{"no such PR", githubtest.OpListComments, githubtest.Failure{Status: 404}, github.KindNotFound},
		{"server error", githubtest.OpCreateComment, githubtest.Failure{Status: 502}, github.KindServer},
		{"bad token", githubtest.OpListComments, githubtest.Failure{Status: 401}, github.KindUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t)
			s.Fail(tc.op, tc.f)
			_, err := newClient(t, s, "tok").UpsertComment(context.Background(), repo, 7, github.Marker("ns", "rel"), "body")
			var ge *github.Error
			if !errors.As(err, &ge) || ge.Kind != tc.kind {
				t.Fatalf("err = %v, want *github.Error of kind %s", err, tc.kind)
			}
			if strings.Contains(err.Error(), "tok") && !strings.Contains(err.Error(), "token") {
				t.Errorf("error mentions the token: %v", err)
			}
			if len(s.Comments(repo, 7)) != 0 {
				t.Error("a comment was written despite the failure")
			}
		})
	}
}

func TestReadOnlyTokenIsForbidden(t *testing.T) {
	s := start(t, githubtest.WithWriteTokens("write-token"))
	_, err := newClient(t, s, "fork-token").UpsertComment(context.Background(), repo, 3, github.Marker("ns", "rel"), "b")
	if !github.IsKind(err, github.KindForbidden) {
		t.Fatalf("err = %v, want forbidden", err)
	}
	if _, err := newClient(t, s, "write-token").UpsertComment(context.Background(), repo, 3, github.Marker("ns", "rel"), "b"); err != nil {
		t.Fatalf("write token: %v", err)
	}
}

func TestPullRequestNumber(t *testing.T) {
	cases := []struct {
		event, file string
		want        int
		wantErr     error
	}{
		{"pull_request", "pull_request.json", 17, nil},
		{"pull_request_target", "pull_request_target.json", 23, nil},
		{"issue_comment", "issue_comment_pr.json", 31, nil},
		{"issue_comment", "issue_comment_issue.json", 0, github.ErrNoPullRequest},
		{"push", "push.json", 0, github.ErrNoPullRequest},
		{"schedule", "schedule.json", 0, github.ErrNoPullRequest},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("..", "..", "testdata", "events", tc.file)
			if _, err := os.Stat(path); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"GITHUB_EVENT_NAME": tc.event, "GITHUB_EVENT_PATH": path}
			got, err := github.PullRequestNumber(func(k string) string { return env[k] }, 0)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("PR = %d, want %d", got, tc.want)
			}
		})
	}
	if n, err := github.PullRequestNumber(func(string) string { return "" }, 99); n != 99 || err != nil {
		t.Errorf("explicit number: %d, %v", n, err)
	}
	if _, err := github.PullRequestNumberFromEvent("pull_request", []byte("{")); err == nil {
		t.Error("broken payload accepted")
	}
}
