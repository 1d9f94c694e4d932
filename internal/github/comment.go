package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	gh "github.com/google/go-github/v89/github"
)

// Marker is the hidden HTML comment that identifies the sticky comment of one
// release, so that runs for two releases on one PR keep two comments.
func Marker(namespace, release string) string {
	return "<!-- pach-upgrade:" + namespace + "/" + release + " -->"
}

// CommentResult tells what UpsertComment did.
type CommentResult struct {
	ID  int64
	URL string
	// Created is true when no comment carried the marker yet.
	Created bool
	// Unchanged is true when the existing comment already had this body.
	Unchanged bool
	// Lookahead is set when a CommentLookup's answer was used.
	Lookahead *Lookahead
}

// UpsertComment keeps one comment per marker on pull request pr: it looks
// through every page of the PR's comments for one containing marker and
// written by the token's own identity, and edits it, or creates one. A
// comment by anyone else carrying the marker is not ours: anyone who can
// comment on the PR can copy it. body is prefixed with marker when it does not
// contain it, so the next run finds it again. Every API failure is an *Error;
// the caller reports it as a warning, since the upgrade's result stands
// whether or not the comment could be written.
func (c *Client) UpsertComment(ctx context.Context, repo string, pr int, marker, body string) (CommentResult, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return CommentResult{}, err
	}
	if pr <= 0 {
		return CommentResult{}, fmt.Errorf("comment on %s: pull request number %d", repo, pr)
	}
	if strings.TrimSpace(marker) == "" {
		return CommentResult{}, errors.New("comment: empty marker would match every comment")
	}
	if !strings.Contains(body, marker) {
		body = marker + "\n" + body
	}
	// The whole upsert is retried, not the single call that failed: a
	// create that failed with a 5xx may still have landed, and looking for
	// the marker again edits that comment instead of adding a second one.
	var res CommentResult
	err = c.retry(ctx, func() error {
		var err error
		res, err = c.upsertComment(ctx, repo, owner, name, pr, marker, body)
		return err
	})
	return res, err
}

func (c *Client) upsertComment(ctx context.Context, repo, owner, name string, pr int, marker, body string) (CommentResult, error) {
	existing, err := c.findComment(ctx, owner, name, pr, marker)
	if err != nil {
		return CommentResult{}, err
	}
	if existing != nil {
		if existing.GetBody() == body {
			return CommentResult{ID: existing.GetID(), URL: existing.GetHTMLURL(), Unchanged: true}, nil
		}
		got, resp, err := c.api.Issues.EditComment(ctx, owner, name, existing.GetID(), &gh.IssueComment{Body: gh.Ptr(body)})
		if err != nil {
			return CommentResult{}, wrap(fmt.Sprintf("edit comment %d on PR %d of %s", existing.GetID(), pr, repo), resp, err)
		}
		return CommentResult{ID: got.GetID(), URL: got.GetHTMLURL()}, nil
	}
	got, resp, err := c.api.Issues.CreateComment(ctx, owner, name, pr, &gh.IssueComment{Body: gh.Ptr(body)})
	if err != nil {
		return CommentResult{}, wrap(fmt.Sprintf("create comment on PR %d of %s", pr, repo), resp, err)
	}
	return CommentResult{ID: got.GetID(), URL: got.GetHTMLURL(), Created: true}, nil
}

// maxCommentPages bounds the search: 100 pages of 100 comments is far beyond
// any real PR, and a runaway Link header must not loop forever.
const maxCommentPages = 100

func (c *Client) findComment(ctx context.Context, owner, name string, pr int, marker string) (*gh.IssueComment, error) {
	return c.findCommentBy(ctx, owner, name, pr, marker, c.Identity)
}

// findCommentBy returns the first comment on pr that carries marker and
// whose author is me's login. me is asked only when a comment carries the
// marker, so that a first run on a PR needs no answer from it.
func (c *Client) findCommentBy(ctx context.Context, owner, name string, pr int, marker string, me func(context.Context) (string, error)) (*gh.IssueComment, error) {
	opts := &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	for page := 0; page < maxCommentPages; page++ {
		cs, resp, err := c.api.Issues.ListComments(ctx, owner, name, pr, opts)
		if err != nil {
			return nil, wrap(fmt.Sprintf("list comments on PR %d of %s/%s", pr, owner, name), resp, err)
		}
		for _, cm := range cs {
			if !strings.Contains(cm.GetBody(), marker) {
				continue
			}
			login, err := me(ctx)
			if err != nil {
				return nil, err
			}
			if sameLogin(cm.GetUser().GetLogin(), login) {
				return cm, nil
			}
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
	return nil, nil
}

// ErrNoPullRequest means the run has no pull request to comment on: a push or
// schedule event, or a comment on an issue rather than a PR.
var ErrNoPullRequest = errors.New("no pull request in this run")

// PullRequestNumber returns explicit when it is positive, else the PR number
// from the event payload at GITHUB_EVENT_PATH for `pull_request`,
// `pull_request_target` and `issue_comment` (on a PR) events. It returns
// ErrNoPullRequest when there is none.
func PullRequestNumber(getenv func(string) string, explicit int) (int, error) {
	if explicit > 0 {
		return explicit, nil
	}
	event := getenv("GITHUB_EVENT_NAME")
	path := getenv("GITHUB_EVENT_PATH")
	switch event {
	case "pull_request", "pull_request_target", "issue_comment":
	default:
		return 0, ErrNoPullRequest
	}
	if path == "" {
		return 0, fmt.Errorf("%s event: GITHUB_EVENT_PATH is not set", event)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %s event payload: %w", event, err)
	}
	return PullRequestNumberFromEvent(event, b)
}

// PullRequestNumberFromEvent parses an event payload.
func PullRequestNumberFromEvent(event string, payload []byte) (int, error) {
	var p struct {
		Number      int `json:"number"`
		PullRequest *struct {
			Number int `json:"number"`
		} `json:"pull_request"`
		Issue *struct {
			Number      int              `json:"number"`
			PullRequest *json.RawMessage `json:"pull_request"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return 0, fmt.Errorf("parse %s event payload: %w", event, err)
	}
	switch event {
	case "pull_request", "pull_request_target":
		if p.PullRequest != nil && p.PullRequest.Number > 0 {
			return p.PullRequest.Number, nil
		}
		if p.Number > 0 {
			return p.Number, nil
		}
		return 0, fmt.Errorf("%s event payload has no pull request number", event)
	case "issue_comment":
		// A comment on a plain issue has no `issue.pull_request` key.
		if p.Issue == nil || p.Issue.PullRequest == nil {
			return 0, ErrNoPullRequest
		}
		if p.Issue.Number <= 0 {
			return 0, errors.New("issue_comment event payload has no issue number")
		}
		return p.Issue.Number, nil
	}
	return 0, ErrNoPullRequest
}
