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

const lookupMarker = "<!-- pach-upgrade:staging/pachd -->"

// ops lists the endpoints of requests, in order.
func ops(rs []githubtest.Request) []githubtest.Op {
	var out []githubtest.Op
	for _, r := range rs {
		out = append(out, r.Op)
	}
	return out
}

// waitFor polls cond until it holds, or fails the test with what after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lastRun writes our comment as an earlier run did, after mallory planted one
// with our marker, and returns both IDs.
func lastRun(t *testing.T, s *githubtest.Server, token string) (ours, planted int64) {
	t.Helper()
	planted = s.AddComment(repo, 7, "mallory", lookupMarker+"\nplanted")
	res, err := newClient(t, s, token).UpsertComment(context.Background(), repo, 7, lookupMarker, "report 1")
	if err != nil || !res.Created {
		t.Fatalf("first run: %+v, %v", res, err)
	}
	return res.ID, planted
}

// The lookup asks who the token is beside the list, not after it, and leaves
// publishing one call: the edit of our own comment, never mallory's.
func TestCommentLookupLeavesOnlyTheEdit(t *testing.T) {
	s := start(t)
	ours, planted := lastRun(t, s, "tok")
	before, asked := len(s.Requests()), s.Count(githubtest.OpGraphQL)

	// A new run: a client that does not know who it is yet.
	c := newClient(t, s, "tok")
	release := s.Hold(githubtest.OpListComments)
	defer release()
	l := c.StartCommentLookup(context.Background(), repo, 7, lookupMarker)
	defer l.Stop()
	// "tok" acts as github-actions[bot]: GET /user refuses it, GraphQL
	// answers. Both are answered while the list is still held.
	waitFor(t, "the identity was not asked while the comment list was pending: the lookup asks one after the other", func() bool {
		return s.Count(githubtest.OpGraphQL) == asked+1
	})
	release()
	<-l.Done()
	if got := ops(s.Requests()[before:]); len(got) != 3 || got[2] != githubtest.OpListComments {
		t.Fatalf("lookup calls %v, want GET /user and GraphQL answered before the list", got)
	}

	mark := len(s.Requests())
	res, err := l.Upsert(context.Background(), "report 2")
	if err != nil {
		t.Fatal(err)
	}
	if got := ops(s.Requests()[mark:]); len(got) != 1 || got[0] != githubtest.OpEditComment {
		t.Fatalf("publishing made %v, want one edit-comment", got)
	}
	if res.ID != ours || res.Created || res.Lookahead == nil || res.Lookahead.LookedAgain != "" {
		t.Fatalf("result %+v (lookahead %+v): want comment #%d edited with the lookup's answer", res, res.Lookahead, ours)
	}
	for _, cm := range s.Comments(repo, 7) {
		switch cm.ID {
		case planted:
			if cm.Body != lookupMarker+"\nplanted" {
				t.Errorf("mallory's comment was edited: %q", cm.Body)
			}
		case ours:
			if cm.Body != lookupMarker+"\nreport 2" {
				t.Errorf("our comment: %q", cm.Body)
			}
		default:
			t.Errorf("unexpected comment %+v", cm)
		}
	}

	// The same body again: nothing to send.
	l2 := newClient(t, s, "tok").StartCommentLookup(context.Background(), repo, 7, lookupMarker)
	<-l2.Done()
	mark = len(s.Requests())
	res, err = l2.Upsert(context.Background(), "report 2")
	if err != nil || !res.Unchanged || len(s.Requests()) != mark {
		t.Errorf("same body: %+v, %v, %d call(s); want unchanged with no call", res, err, len(s.Requests())-mark)
	}
}

// Someone else's comment with our marker is never ours, whoever the token
// is, and a lookup that found none of ours looks again before creating one.
func TestCommentLookupNeverTakesSomeoneElsesComment(t *testing.T) {
	for _, tc := range []struct{ name, token, login, author string }{
		{"GITHUB_TOKEN, a person's comment", "ghs_16C7e42F292c6912E7710c838347Ae178B4a", "github-actions[bot]", "mallory"},
		// A person named like the bot, without the suffix GitHub gives
		// every App's login.
		{"GITHUB_TOKEN, a look-alike login", "ghs_16C7e42F292c6912E7710c838347Ae178B4a", "github-actions[bot]", "github-actions"},
		{"a PAT, another bot's comment", "pat", "alice", "dependabot[bot]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, githubtest.WithTokenUser(tc.token, tc.login))
			planted := s.AddComment(repo, 7, tc.author, lookupMarker+"\nplanted")
			l := newClient(t, s, tc.token).StartCommentLookup(context.Background(), repo, 7, lookupMarker)
			<-l.Done()
			mark := len(s.Requests())
			res, err := l.Upsert(context.Background(), "report")
			if err != nil {
				t.Fatal(err)
			}
			if !res.Created || res.ID == planted || res.Lookahead == nil || !strings.Contains(res.Lookahead.LookedAgain, "none of ours") {
				t.Fatalf("result %+v (lookahead %+v): want a comment of our own, created after looking again", res, res.Lookahead)
			}
			if got := ops(s.Requests()[mark:]); len(got) != 2 || got[0] != githubtest.OpListComments || got[1] != githubtest.OpCreateComment {
				t.Errorf("publishing made %v, want list-comments then create-comment", got)
			}
			cs := s.Comments(repo, 7)
			if len(cs) != 2 || cs[0].Body != lookupMarker+"\nplanted" || cs[1].User != tc.login {
				t.Errorf("comments: %+v", cs)
			}
		})
	}
}

// A run that ended while this one ran created the comment: looking again
// before the create finds it, so there is still one.
func TestCommentLookupFindsACommentCreatedSince(t *testing.T) {
	s := start(t)
	c := newClient(t, s, "tok")
	l := c.StartCommentLookup(context.Background(), repo, 7, lookupMarker)
	<-l.Done()
	other, err := newClient(t, s, "tok").UpsertComment(context.Background(), repo, 7, lookupMarker, "the other run's report")
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Upsert(context.Background(), "this run's report")
	if err != nil || res.Created || res.ID != other.ID {
		t.Fatalf("result %+v, %v: want the other run's comment #%d edited", res, err, other.ID)
	}
	if cs := s.Comments(repo, 7); len(cs) != 1 {
		t.Errorf("%d comments, want one sticky comment", len(cs))
	}
}

// A lookup that fails, is stopped, or found a comment deleted since never
// costs the comment: publishing looks again, as without a lookup.
func TestCommentLookupFallsBack(t *testing.T) {
	t.Run("lookup failed", func(t *testing.T) {
		s := start(t)
		ours, _ := lastRun(t, s, "tok")
		s.Fail(githubtest.OpListComments, githubtest.Failure{Status: 502, Times: 3})
		l := newClient(t, s, "tok").StartCommentLookup(context.Background(), repo, 7, lookupMarker)
		<-l.Done()
		res, err := l.Upsert(context.Background(), "report 2")
		if err != nil || res.ID != ours || res.Lookahead == nil || !strings.Contains(res.Lookahead.LookedAgain, "lookup failed") ||
			!strings.Contains(res.Lookahead.LookedAgain, "HTTP 502") {
			t.Fatalf("result %+v (lookahead %+v), %v: want #%d edited after looking again", res, res.Lookahead, err, ours)
		}
	})
	t.Run("stopped", func(t *testing.T) {
		s := start(t)
		ours, _ := lastRun(t, s, "tok")
		release := s.Hold(githubtest.OpListComments)
		l := newClient(t, s, "tok").StartCommentLookup(context.Background(), repo, 7, lookupMarker)
		l.Stop()
		<-l.Done()
		release()
		res, err := l.Upsert(context.Background(), "report 2")
		if err != nil || res.ID != ours || !strings.Contains(res.Lookahead.LookedAgain, "lookup failed") {
			t.Fatalf("result %+v, %v: want #%d edited after looking again", res, err, ours)
		}
	})
	t.Run("deleted since", func(t *testing.T) {
		s := start(t)
		ours, planted := lastRun(t, s, "tok")
		l := newClient(t, s, "tok").StartCommentLookup(context.Background(), repo, 7, lookupMarker)
		<-l.Done()
		if !s.DeleteComment(ours) {
			t.Fatal("no comment to delete")
		}
		res, err := l.Upsert(context.Background(), "report 2")
		if err != nil || !res.Created || res.ID == planted || !strings.Contains(res.Lookahead.LookedAgain, "deleted") {
			t.Fatalf("result %+v, %v: want a new comment of ours", res, err)
		}
	})
	t.Run("not answered in time", func(t *testing.T) {
		s := start(t)
		release := s.Hold(githubtest.OpListComments)
		defer release()
		l := newClient(t, s, "tok").StartCommentLookup(context.Background(), repo, 7, lookupMarker)
		defer l.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := l.Upsert(ctx, "report")
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "has not answered") {
			t.Fatalf("err = %v, want the lookup named as not answered", err)
		}
		if n := s.Count(githubtest.OpCreateComment) + s.Count(githubtest.OpEditComment); n != 0 {
			t.Errorf("%d write(s) without an answer from the lookup", n)
		}
	})
}

func TestCommentLookupFor(t *testing.T) {
	s := start(t)
	l := newClient(t, s, "tok").StartCommentLookup(context.Background(), repo, 7, lookupMarker)
	defer l.Stop()
	if !l.For(repo, 7, lookupMarker) || l.For(repo, 8, lookupMarker) || l.For("acme/other", 7, lookupMarker) ||
		l.For(repo, 7, github.Marker("prod", "pachd")) {
		t.Error("For does not tell the comment it searched for")
	}
}
