package github

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v89/github"
)

// CommentLookup is the search for a pull request's sticky comment, started
// ahead of the write. Finding the comment needs only the PR and the marker,
// not the report: it runs beside the whole upgrade, and publishing then
// makes one call (the edit) where UpsertComment makes up to three in a row
// (list the comments, ask who the token is, edit). The trust rule is
// UpsertComment's: only a comment that carries the marker and was written
// by the token's own identity is edited.
type CommentLookup struct {
	c      *Client
	repo   string
	pr     int
	marker string
	cancel context.CancelFunc
	done   chan struct{}

	// Set before done is closed.
	found *gh.IssueComment
	err   error
	took  time.Duration
}

// StartCommentLookup starts looking, on its own goroutine, for the comment
// that UpsertComment(ctx, repo, pr, marker, …) would edit. ctx bounds the
// lookup; Stop ends it early. Upsert writes the comment with its answer.
func (c *Client) StartCommentLookup(ctx context.Context, repo string, pr int, marker string) *CommentLookup {
	ctx, cancel := context.WithCancel(ctx)
	l := &CommentLookup{c: c, repo: repo, pr: pr, marker: marker, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		start := time.Now()
		l.found, l.err = l.look(ctx)
		l.took = time.Since(start)
	}()
	return l
}

// Stop ends the lookup if it is still running; its answer is then an error
// and Upsert looks again. Stopping a finished lookup changes nothing.
func (l *CommentLookup) Stop() { l.cancel() }

// Done is closed once the lookup has its answer.
func (l *CommentLookup) Done() <-chan struct{} { return l.done }

// For says whether the lookup searched for repo, pr and marker.
func (l *CommentLookup) For(repo string, pr int, marker string) bool {
	return l.repo == repo && l.pr == pr && l.marker == marker
}

func (l *CommentLookup) look(ctx context.Context) (*gh.IssueComment, error) {
	owner, name, err := splitRepo(l.repo)
	if err != nil {
		return nil, err
	}
	if l.pr <= 0 {
		return nil, fmt.Errorf("comment on %s: pull request number %d", l.repo, l.pr)
	}
	if strings.TrimSpace(l.marker) == "" {
		return nil, errors.New("comment: empty marker would match every comment")
	}
	// Who the token is matters only once a comment carries the marker, but
	// asking only then would put a second round trip after the list: it is
	// asked beside the list. On a PR's first run that is one call more than
	// UpsertComment makes, made in the background.
	ictx, stopIdentity := context.WithCancel(ctx)
	defer stopIdentity()
	type answer struct {
		login string
		err   error
	}
	asked := make(chan answer, 1)
	go func() {
		login, err := l.c.Identity(ictx)
		asked <- answer{login, err}
	}()
	me := sync.OnceValues(func() (string, error) {
		select {
		case a := <-asked:
			return a.login, a.err
		case <-ctx.Done():
			return "", context.Cause(ctx)
		}
	})
	var found *gh.IssueComment
	err = l.c.retry(ctx, func() error {
		var err error
		found, err = l.c.findCommentBy(ctx, owner, name, l.pr, l.marker, func(context.Context) (string, error) { return me() })
		return err
	})
	return found, err
}

// Upsert writes body as the sticky comment, as UpsertComment does, with
// the lookup's answer: it waits for the lookup (within ctx), then edits
// the comment it found, in one call. It looks again, as UpsertComment does,
// when the lookup failed or was stopped, when the comment found is gone,
// and when it found none: a run of the same release on the same PR that
// ended while this one ran may have created the comment since, and a
// create without a second look would leave two.
func (l *CommentLookup) Upsert(ctx context.Context, body string) (CommentResult, error) {
	start := time.Now()
	select {
	case <-l.done:
	case <-ctx.Done():
		return CommentResult{}, fmt.Errorf("comment on PR %d of %s: the comment lookup started ahead has not answered: %w", l.pr, l.repo, context.Cause(ctx))
	}
	ahead := Lookahead{Took: l.took, Waited: time.Since(start)}
	again := func(why string) (CommentResult, error) {
		ahead.LookedAgain = why
		res, err := l.c.UpsertComment(ctx, l.repo, l.pr, l.marker, body)
		res.Lookahead = &ahead
		return res, err
	}
	switch {
	case l.err != nil:
		return again(fmt.Sprintf("the lookup failed: %v", l.err))
	case l.found == nil:
		return again("none of ours was there when the run started")
	}
	if !strings.Contains(body, l.marker) {
		body = l.marker + "\n" + body
	}
	id := l.found.GetID()
	if l.found.GetBody() == body {
		return CommentResult{ID: id, URL: l.found.GetHTMLURL(), Unchanged: true, Lookahead: &ahead}, nil
	}
	owner, name, _ := splitRepo(l.repo)
	var got *gh.IssueComment
	err := l.c.retry(ctx, func() error {
		var resp *gh.Response
		var err error
		got, resp, err = l.c.api.Issues.EditComment(ctx, owner, name, id, &gh.IssueComment{Body: gh.Ptr(body)})
		return wrap(fmt.Sprintf("edit comment %d on PR %d of %s", id, l.pr, l.repo), resp, err)
	})
	if IsKind(err, KindNotFound) {
		// Deleted while the run went on.
		return again(fmt.Sprintf("comment %d was deleted meanwhile", id))
	}
	if err != nil {
		return CommentResult{Lookahead: &ahead}, err
	}
	return CommentResult{ID: got.GetID(), URL: got.GetHTMLURL(), Lookahead: &ahead}, nil
}

// Lookahead tells how a comment lookup started ahead served the write.
type Lookahead struct {
	// Took is the lookup's own time; Waited is how long the write waited
	// for it.
	Took, Waited time.Duration
	// LookedAgain says why the write looked for the comment again (empty
	// when it did not).
	LookedAgain string
}
