package report

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/github"
	"github.com/pach-upgrade/pach-upgrade/internal/github/githubtest"
)

const prRepo = "acme/platform"

func ghClient(t *testing.T, s *githubtest.Server, token string) *github.Client {
	t.Helper()
	c, err := github.NewClient(github.Options{Token: token, APIURL: s.APIURL, ServerURL: s.ServerURL, HTTPClient: s.Client(),
		// Retries as by default, without the default's seconds of back-off.
		Retry: github.Retry{Backoff: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPublishForbiddenCommentLeavesResult(t *testing.T) {
	cases := map[string]githubtest.Failure{
		"403 read-only":  {Status: 403},
		"404":            {Status: 404},
		"502":            {Status: 502},
		"rate limit 403": {Status: 403, RateLimited: true},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			s := githubtest.NewServer()
			t.Cleanup(s.Close)
			s.Fail(githubtest.OpCreateComment, f)
			var out, log bytes.Buffer
			l := NewCLILogger(&out, &log)
			r := upgraded()
			Publish(context.Background(), l, r, CommentTarget{Client: ghClient(t, s, "tok"), Repo: prRepo, PR: 5})
			if r.Result != ResultUpgraded {
				t.Fatalf("result changed to %s", r.Result)
			}
			if !strings.Contains(out.String(), "result=upgraded\n") {
				t.Errorf("result output missing:\n%s", out.String())
			}
			if !strings.Contains(out.String(), "## ✅ Pachyderm `staging/pachd`: Upgraded") {
				t.Error("summary missing")
			}
			if !strings.Contains(log.String(), "warning: PR comment not written:") {
				t.Errorf("no warning:\n%s", log.String())
			}
			if len(s.Comments(prRepo, 5)) != 0 {
				t.Error("comment written despite the failure")
			}
		})
	}
}

func TestPublishForbiddenHint(t *testing.T) {
	s := githubtest.NewServer(githubtest.WithWriteTokens("write"))
	t.Cleanup(s.Close)
	var log bytes.Buffer
	Publish(context.Background(), NewCLILogger(&bytes.Buffer{}, &log), upgraded(), CommentTarget{Client: ghClient(t, s, "fork"), Repo: prRepo, PR: 5})
	if !strings.Contains(log.String(), "pull-requests: write") {
		t.Errorf("no hint for a read-only token:\n%s", log.String())
	}
}

func TestPublishStickyAcrossThreeRuns(t *testing.T) {
	s := githubtest.NewServer(githubtest.WithMaxPerPage(2))
	t.Cleanup(s.Close)
	for i := 0; i < 3; i++ {
		s.AddComment(prRepo, 9, "reviewer", fmt.Sprintf("LGTM %d", i))
	}
	const password = "pg-S3cr3t!pass"
	c := ghClient(t, s, "tok")
	for run := 1; run <= 3; run++ {
		l := NewCLILogger(&bytes.Buffer{}, &bytes.Buffer{})
		l.AddMask(password)
		r := upgraded()
		r.Steps[0].Duration = time.Duration(run) * time.Second
		// A secret that slipped into a step detail must not reach the PR.
		r.Steps[1].Detail = "backup with password " + password
		Publish(context.Background(), l, r, CommentTarget{Client: c, Repo: prRepo, PR: 9})
	}
	var ours []githubtest.Comment
	for _, cm := range s.Comments(prRepo, 9) {
		if strings.HasPrefix(cm.Body, github.Marker("staging", "pachd")) {
			ours = append(ours, cm)
		}
		if strings.Contains(cm.Body, password) {
			t.Error("password in a PR comment")
		}
	}
	if len(ours) != 1 {
		t.Fatalf("%d sticky comments after three runs, want 1", len(ours))
	}
	if !strings.Contains(ours[0].Body, "| 3s |") {
		t.Errorf("comment not the last run's:\n%s", ours[0].Body)
	}
	if s.Count(githubtest.OpCreateComment) != 1 || s.Count(githubtest.OpEditComment) != 2 {
		t.Errorf("creates %d, edits %d; want 1 and 2", s.Count(githubtest.OpCreateComment), s.Count(githubtest.OpEditComment))
	}
}

func TestPublishWithoutPR(t *testing.T) {
	var out bytes.Buffer
	r := rolledBack()
	Publish(context.Background(), NewCLILogger(&out, &bytes.Buffer{}), r, CommentTarget{})
	for _, want := range []string{"result=rolled-back", "previous-version=2.11.4", "target-version=2.11.6", "chart-version=2.11.6", "backup-path=pach-upgrade-backup/staging-pachd-rev3.yaml"} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("outputs lack %q", want)
		}
	}
}

func cancelled() *Report {
	r := upgraded()
	r.Result = ResultCancelled
	r.Cancelled = &Cancellation{Cause: "terminated signal received", Step: "Helm upgrade",
		State: "revision 2 pending-upgrade (Pachyderm 2.11.6)", Recovery: "run again with `recover-pending: true`."}
	return r
}

// TestPublishAfterCancel: a run cancelled by a signal still writes its
// outputs, summary and comment, through the context PublishContext gives.
func TestPublishAfterCancel(t *testing.T) {
	s := githubtest.NewServer()
	t.Cleanup(s.Close)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	pctx, done := PublishContext(ctx, 2*time.Second, time.Minute)
	defer done()
	var out bytes.Buffer
	Publish(pctx, NewCLILogger(&out, &bytes.Buffer{}), cancelled(), CommentTarget{Client: ghClient(t, s, "tok"), Repo: prRepo, PR: 3})
	if !strings.Contains(out.String(), "result=cancelled\n") {
		t.Errorf("result output missing:\n%s", out.String())
	}
	cs := s.Comments(prRepo, 3)
	if len(cs) != 1 {
		t.Fatalf("%d comments after a cancelled run, want 1", len(cs))
	}
	for _, want := range []string{"Cancelled", "during step **Helm upgrade**", "terminated signal received",
		"revision 2 pending-upgrade", "`recover-pending: true`"} {
		if !strings.Contains(cs[0].Body, want) {
			t.Errorf("comment lacks %q:\n%s", want, cs[0].Body)
		}
	}
}

func TestPublishContextBounds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pctx, done := PublishContext(ctx, 50*time.Millisecond, time.Minute)
	defer done()
	if pctx.Err() != nil {
		t.Fatal("publish context done before ctx ended")
	}
	cancel()
	if pctx.Err() != nil {
		t.Fatal("publish context ended with ctx, not after the grace")
	}
	select {
	case <-pctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("publish context outlived its grace after ctx ended")
	}

	pctx, done = PublishContext(context.Background(), time.Minute, 50*time.Millisecond)
	defer done()
	select {
	case <-pctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("publish context outlived its limit")
	}
}

// TestPublishWithLookupMakesOneCall: with the comment found while the run
// went on, publishing edits it in one call; a lookup for another release's
// comment is not used.
func TestPublishWithLookupMakesOneCall(t *testing.T) {
	s := githubtest.NewServer()
	t.Cleanup(s.Close)
	Publish(context.Background(), NewCLILogger(&bytes.Buffer{}, &bytes.Buffer{}), upgraded(), CommentTarget{Client: ghClient(t, s, "tok"), Repo: prRepo, PR: 4})
	first := s.Comments(prRepo, 4)
	if len(first) != 1 {
		t.Fatalf("first run: %d comments", len(first))
	}

	c := ghClient(t, s, "tok")
	r := upgraded()
	lookup := c.StartCommentLookup(context.Background(), prRepo, 4, r.Marker())
	defer lookup.Stop()
	<-lookup.Done()
	mark := len(s.Requests())
	r.Steps[0].Duration = 7 * time.Second
	var out, log bytes.Buffer
	Publish(context.Background(), NewCLILogger(&out, &log), r, CommentTarget{Client: c, Repo: prRepo, PR: 4, Lookup: lookup})
	calls := s.Requests()[mark:]
	if len(calls) != 1 || calls[0].Op != githubtest.OpEditComment {
		t.Fatalf("publishing made %d call(s) (%+v), want one edit", len(calls), calls)
	}
	if cs := s.Comments(prRepo, 4); len(cs) != 1 || cs[0].ID != first[0].ID || !strings.Contains(cs[0].Body, "| 7s |") {
		t.Errorf("comments %+v: want #%d edited with this run's report", cs, first[0].ID)
	}
	if !strings.Contains(log.String(), "PR #4 comment looked up beside the run (") || !strings.Contains(log.String(), "PR #4 comment updated in ") {
		t.Errorf("log does not tell how the comment was found and written:\n%s", log.String())
	}

	// A lookup for prod's comment does not decide staging's.
	other := c.StartCommentLookup(context.Background(), prRepo, 4, github.Marker("prod", "pachd"))
	defer other.Stop()
	<-other.Done()
	mark = len(s.Requests())
	Publish(context.Background(), NewCLILogger(&bytes.Buffer{}, &bytes.Buffer{}), upgraded(), CommentTarget{Client: c, Repo: prRepo, PR: 4, Lookup: other})
	if calls := s.Requests()[mark:]; len(calls) != 2 || calls[0].Op != githubtest.OpListComments || calls[1].Op != githubtest.OpEditComment {
		t.Errorf("with another comment's lookup, publishing made %+v, want list-comments and edit-comment", calls)
	}
	if cs := s.Comments(prRepo, 4); len(cs) != 1 {
		t.Errorf("%d comments, want the one sticky comment", len(cs))
	}
}
