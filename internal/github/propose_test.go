package github_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/github"
	"github.com/pach-upgrade/pach-upgrade/internal/github/githubtest"
)

const deployRepo = "acme/deploy"

func bump(version string) github.Bump {
	marker := "<!-- pach-upgrade:propose:default/pachd -->"
	return github.Bump{
		Repo: deployRepo, Base: githubtest.DefaultBranch,
		Branch:  "pach-upgrade/pachd-" + version,
		Path:    "PACHYDERM_VERSION",
		Content: []byte(version + "\n"),
		Message: "Bump Pachyderm to " + version,
		Title:   "Bump Pachyderm pachd to " + version,
		Body:    marker + "\nBump to " + version,
		Marker:  marker,
	}
}

func TestProposeBumpOpensUpdatesAndSupersedes(t *testing.T) {
	s := start(t)
	s.SetFile(deployRepo, "PACHYDERM_VERSION", []byte("2.11.5\n"))
	c := newClient(t, s, "token")
	ctx := context.Background()

	first, err := c.ProposeBump(ctx, bump("2.11.6"))
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created || !first.Committed || first.Number == 0 || !strings.HasSuffix(first.URL, "/pull/1") {
		t.Errorf("first = %+v, want a new PR with a commit", first)
	}
	if b, _ := s.File(deployRepo, "pach-upgrade/pachd-2.11.6", "PACHYDERM_VERSION"); string(b) != "2.11.6\n" {
		t.Errorf("branch holds %q", b)
	}
	if b, _ := s.File(deployRepo, "", "PACHYDERM_VERSION"); string(b) != "2.11.5\n" {
		t.Errorf("default branch changed to %q", b)
	}

	// Same bump again: no commit, no new PR, no edit of an identical body.
	writes := s.WriteCount()
	again, err := c.ProposeBump(ctx, bump("2.11.6"))
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || again.Committed || again.Number != first.Number {
		t.Errorf("again = %+v, want PR #%d untouched", again, first.Number)
	}
	// Creating the branch is attempted and answered 422; nothing else writes.
	if n := s.WriteCount() - writes; n != 1 || s.Count(githubtest.OpCreatePull) != 1 {
		t.Errorf("second identical run made %d writes and %d PR creations", n, s.Count(githubtest.OpCreatePull))
	}

	// A changed body edits the PR in place.
	b := bump("2.11.6")
	b.Body += "\nmore notes"
	edited, err := c.ProposeBump(ctx, b)
	if err != nil || edited.Number != first.Number || edited.Created {
		t.Fatalf("edit: %+v, %v", edited, err)
	}
	if p := s.Pulls(deployRepo); len(p) != 1 || !strings.Contains(p[0].Body, "more notes") {
		t.Errorf("pulls after edit: %+v", p)
	}

	// A newer patch: a new PR, and the old one closed with a link.
	newer, err := c.ProposeBump(ctx, bump("2.11.7"))
	if err != nil {
		t.Fatal(err)
	}
	if !newer.Created || newer.Number == first.Number || len(newer.Superseded) != 1 || newer.Superseded[0] != first.Number {
		t.Errorf("newer = %+v, want a new PR superseding #%d", newer, first.Number)
	}
	pulls := s.Pulls(deployRepo)
	if len(pulls) != 2 || pulls[0].State != "closed" || pulls[0].Merged || pulls[1].State != "open" {
		t.Errorf("pulls = %+v, want #1 closed and #2 open", pulls)
	}
	if _, ok := s.Branch(deployRepo, "pach-upgrade/pachd-2.11.6"); ok {
		t.Errorf("the superseded PR's branch was not deleted")
	}
	if _, ok := s.Branch(deployRepo, "pach-upgrade/pachd-2.11.7"); !ok {
		t.Errorf("the new PR's branch is missing")
	}
	cs := s.Comments(deployRepo, first.Number)
	if len(cs) != 1 || !strings.Contains(cs[0].Body, "Superseded by #2") || !strings.Contains(cs[0].Body, newer.URL) {
		t.Errorf("comments on the old PR = %+v", cs)
	}
}

func TestProposeBumpRetriesAStaleSHA(t *testing.T) {
	s := start(t)
	s.SetFile(deployRepo, "PACHYDERM_VERSION", []byte("2.11.5\n"))
	s.Fail(githubtest.OpPutContents, githubtest.Failure{Status: 409, Message: "PACHYDERM_VERSION does not match 0000", Times: 1})
	res, err := newClient(t, s, "token").ProposeBump(context.Background(), bump("2.11.6"))
	if err != nil || !res.Committed {
		t.Fatalf("ProposeBump = %+v, %v; want the 409 retried once", res, err)
	}
	if n := s.Count(githubtest.OpPutContents); n != 2 {
		t.Errorf("%d contents writes, want 2", n)
	}
}

func TestProposeBumpNamesTheMissingPermission(t *testing.T) {
	cases := []struct {
		perms []string
		want  string
	}{
		{nil, "the token lacks `contents: write`"},
		{[]string{"contents=write"}, "the token lacks `pull-requests: write`"},
	}
	for _, c := range cases {
		s := start(t, githubtest.WithTokenPermissions("tok", c.perms...))
		s.SetFile(deployRepo, "PACHYDERM_VERSION", []byte("2.11.5\n"))
		_, err := newClient(t, s, "tok").ProposeBump(context.Background(), bump("2.11.6"))
		if err == nil || !github.IsKind(err, github.KindForbidden) || !strings.Contains(err.Error(), c.want) ||
			!strings.Contains(err.Error(), "Resource not accessible by integration") {
			t.Errorf("perms %v: error = %v, want it to say %q", c.perms, err, c.want)
		}
	}
}

func TestProposeBumpExplainsActionsMayNotOpenPRs(t *testing.T) {
	s := start(t)
	s.SetFile(deployRepo, "PACHYDERM_VERSION", []byte("2.11.5\n"))
	s.Fail(githubtest.OpCreatePull, githubtest.Failure{Status: 403, Message: "GitHub Actions is not permitted to create or approve pull requests."})
	_, err := newClient(t, s, "tok").ProposeBump(context.Background(), bump("2.11.6"))
	if err == nil || !strings.Contains(err.Error(), "Allow GitHub Actions to create and approve pull requests") {
		t.Errorf("error = %v", err)
	}
}

func TestReadFileAtRef(t *testing.T) {
	s := start(t)
	s.SetFile(deployRepo, "V", []byte("2.11.5\n"))
	c := newClient(t, s, "")
	ctx := context.Background()
	sha, _ := s.Branch(deployRepo, githubtest.DefaultBranch)
	s.SetFile(deployRepo, "V", []byte("2.11.6\n"))
	old, err := c.ReadFile(ctx, deployRepo, "V", sha)
	if err != nil || string(old.Content) != "2.11.5\n" || old.SHA == "" {
		t.Errorf("at %s: %q %v", sha, old.Content, err)
	}
	cur, err := c.ReadFile(ctx, deployRepo, "V", "")
	if err != nil || string(cur.Content) != "2.11.6\n" {
		t.Errorf("default branch: %q %v", cur.Content, err)
	}
	if _, err := c.ReadFile(ctx, deployRepo, "V", "no-such-branch"); !github.IsKind(err, github.KindNotFound) {
		t.Errorf("unknown ref: %v", err)
	}
	if b, err := c.DefaultBranch(ctx, deployRepo); err != nil || b != githubtest.DefaultBranch {
		t.Errorf("DefaultBranch = %q, %v", b, err)
	}
}

func TestProposeBumpRespectsAClosedPR(t *testing.T) {
	s := start(t)
	s.SetFile(deployRepo, "PACHYDERM_VERSION", []byte("2.11.5\n"))
	c := newClient(t, s, "token")
	ctx := context.Background()
	first, err := c.ProposeBump(ctx, bump("2.11.6"))
	if err != nil {
		t.Fatal(err)
	}
	s.SetPullState(deployRepo, first.Number, "closed")
	writes := s.WriteCount()
	res, err := c.ProposeBump(ctx, bump("2.11.6"))
	if err != nil || !res.Declined || res.Number != first.Number {
		t.Fatalf("after closing: %+v, %v; want #%d declined", res, err, first.Number)
	}
	if n := s.WriteCount() - writes; n != 0 || len(s.Pulls(deployRepo)) != 1 {
		t.Errorf("a declined version made %d writes and %d PRs", n, len(s.Pulls(deployRepo)))
	}
	// Reopened by a person: updated again like any open bump PR.
	s.SetPullState(deployRepo, first.Number, "open")
	if res, err := c.ProposeBump(ctx, bump("2.11.6")); err != nil || res.Declined || res.Number != first.Number {
		t.Errorf("after reopening: %+v, %v", res, err)
	}
}
