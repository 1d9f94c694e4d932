package github_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/github/githubtest"
)

// The attacks of issue 21 items 2 and 7: branch names and markers are
// public, so a fork's pull request or another person's comment can carry
// both. Only what the token itself wrote may be edited.

func TestProposeBumpLeavesAForksPullRequestAlone(t *testing.T) {
	s := start(t)
	s.SetFile(deployRepo, "PACHYDERM_VERSION", []byte("2.11.5\n"))
	b := bump("2.11.6")
	// mallory opens, from her fork, a PR with the next bump's branch name
	// and our marker, before the scheduled run.
	fork := s.AddPull(deployRepo, githubtest.Pull{Title: "innocent", Body: b.Marker + "\nmine now",
		Head: b.Branch, HeadRepo: "mallory/deploy", User: "mallory"})
	// eve, a person with write access, has an older PR of her own from a
	// branch named like ours, with the marker pasted in.
	eve := s.AddPull(deployRepo, githubtest.Pull{Title: "eve's", Body: b.Marker, Head: "pach-upgrade/pachd-2.11.4", User: "eve"})

	res, err := newClient(t, s, "token").ProposeBump(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.Number == fork || res.Number == eve || len(res.Superseded) != 0 {
		t.Fatalf("result %+v: want a new PR of ours, fork #%d and eve's #%d untouched", res, fork, eve)
	}
	for _, p := range s.Pulls(deployRepo) {
		switch p.Number {
		case fork:
			if p.Title != "innocent" || p.State != "open" {
				t.Errorf("fork's PR was taken over: %+v", p)
			}
		case eve:
			if p.Title != "eve's" || p.State != "open" {
				t.Errorf("eve's PR was touched: %+v", p)
			}
		case res.Number:
			if p.User != "github-actions[bot]" || p.HeadRepo != "" || p.Head != b.Branch {
				t.Errorf("our PR: %+v", p)
			}
		}
	}
}

func TestProposeBumpIgnoresAPullRequestClosedBySomeoneElse(t *testing.T) {
	s := start(t)
	s.SetFile(deployRepo, "PACHYDERM_VERSION", []byte("2.11.5\n"))
	b := bump("2.11.6")
	// A closed PR from our branch name, written by someone else, is no
	// human declining our proposal.
	s.AddPull(deployRepo, githubtest.Pull{Title: "x", Body: b.Marker, Head: b.Branch, User: "eve", State: "closed"})
	res, err := newClient(t, s, "token").ProposeBump(context.Background(), b)
	if err != nil || res.Declined || !res.Created {
		t.Fatalf("result %+v, %v: want a new PR, not a decline", res, err)
	}
}

func TestUpsertCommentEditsOnlyItsOwnComment(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	const marker = "<!-- pach-upgrade:default/pachd -->"
	// mallory comments first, with our marker.
	planted := s.AddComment(repo, 7, "mallory", marker+"\nplanted")
	c := newClient(t, s, "token")
	first, err := c.UpsertComment(ctx, repo, 7, marker, "report 1")
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created || first.ID == planted {
		t.Fatalf("first = %+v: want a comment of our own, not mallory's #%d edited", first, planted)
	}
	// The legitimate path: the next run edits our comment in place.
	second, err := c.UpsertComment(ctx, repo, 7, marker, "report 2")
	if err != nil || second.Created || second.ID != first.ID {
		t.Fatalf("second = %+v, %v: want #%d edited", second, err, first.ID)
	}
	cs := s.Comments(repo, 7)
	if len(cs) != 2 || cs[0].Body != marker+"\nplanted" || !strings.HasSuffix(cs[1].Body, "report 2") {
		t.Errorf("comments: %+v", cs)
	}
	// Who the token is was asked once (GET /user, refused for an App
	// token, then GraphQL), and only once a marked comment turned up.
	if n, q := s.Count(githubtest.OpGetUser), s.Count(githubtest.OpGraphQL); n != 1 || q != 1 {
		t.Errorf("identity calls: %d GET /user, %d GraphQL; want 1 and 1", n, q)
	}
}

func TestUpsertCommentOnAFreshPRAsksNoIdentity(t *testing.T) {
	s := start(t)
	if _, err := newClient(t, s, "token").UpsertComment(context.Background(), repo, 3, "<!-- m -->", "x"); err != nil {
		t.Fatal(err)
	}
	if n := s.Count(githubtest.OpGetUser) + s.Count(githubtest.OpGraphQL); n != 0 {
		t.Errorf("%d identity calls for a PR with no marked comment", n)
	}
}

func TestIdentity(t *testing.T) {
	for _, tc := range []struct {
		name, login, want string
		prefix, token     string
		user, graphql     int
	}{
		{name: "personal access token", login: "alice", want: "alice", user: 1},
		{name: "GITHUB_TOKEN", login: "github-actions[bot]", want: "github-actions[bot]", user: 1, graphql: 1},
		{name: "App token on GHES", login: "pach-bot[bot]", want: "pach-bot[bot]", prefix: "/api/v3", user: 1, graphql: 1},
		// GitHub's installation token format: GraphQL at once.
		{name: "ghs_ token", token: "ghs_16C7e42F292c6912E7710c838347Ae178B4a", login: "github-actions[bot]", want: "github-actions[bot]", graphql: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := tc.token
			if token == "" {
				token = "tok"
			}
			opts := []githubtest.Option{githubtest.WithTokenUser(token, tc.login)}
			if tc.prefix != "" {
				opts = append(opts, githubtest.WithPathPrefix(tc.prefix))
			}
			s := start(t, opts...)
			c := newClient(t, s, token)
			for range 2 {
				got, err := c.Identity(context.Background())
				if err != nil || got != tc.want {
					t.Fatalf("Identity = %q, %v; want %q", got, err, tc.want)
				}
			}
			if u, q := s.Count(githubtest.OpGetUser), s.Count(githubtest.OpGraphQL); u != tc.user || q != tc.graphql {
				t.Errorf("calls: %d GET /user, %d GraphQL; want %d, %d", u, q, tc.user, tc.graphql)
			}
		})
	}
	// A comment written with a PAT is found again by the same PAT.
	s := start(t, githubtest.WithTokenUser("pat", "alice"))
	c := newClient(t, s, "pat")
	a, err := c.UpsertComment(context.Background(), repo, 1, "<!-- m -->", "one")
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.UpsertComment(context.Background(), repo, 1, "<!-- m -->", "two")
	if err != nil || b.ID != a.ID || b.Created {
		t.Errorf("PAT: second upsert %+v, %v; want #%d edited", b, err, a.ID)
	}
	if _, err := newClient(t, s, "").Identity(context.Background()); err == nil {
		t.Error("Identity without a token: want an error")
	}
}
