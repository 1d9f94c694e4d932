package github

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v89/github"
)

// Permissions the bump pull request needs, as a workflow's `permissions:`
// block names them.
const (
	PermContents     = "contents: write"
	PermPullRequests = "pull-requests: write"
)

// File is a file of a repository at some ref.
type File struct {
	Content []byte
	// SHA is the blob SHA the contents API wants back to update the file.
	SHA string
}

// DefaultBranch returns the repository's default branch, where a bump
// pull request goes.
func (c *Client) DefaultBranch(ctx context.Context, repo string) (string, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", err
	}
	r, resp, err := c.api.Repositories.Get(ctx, owner, name)
	if err != nil {
		return "", wrap("get repository "+repo, resp, err)
	}
	if r.GetDefaultBranch() == "" {
		return "", fmt.Errorf("get repository %s: no default branch (is it empty?)", repo)
	}
	return r.GetDefaultBranch(), nil
}

// ReadFile returns path at ref (a branch, tag or commit SHA; empty means the
// default branch) through the contents API.
func (c *Client) ReadFile(ctx context.Context, repo, path, ref string) (File, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return File{}, err
	}
	op := fmt.Sprintf("read %s from %s", path, repo)
	if ref != "" {
		op += " at " + ref
	}
	file, _, resp, err := c.api.Repositories.GetContents(ctx, owner, name, path, &gh.RepositoryContentGetOptions{Ref: ref})
	if err != nil {
		return File{}, wrap(op, resp, err)
	}
	if file == nil || file.GetType() != "file" {
		return File{}, fmt.Errorf("%s: not a file", op)
	}
	if file.GetEncoding() == "none" {
		return File{}, fmt.Errorf("%s: over 1 MB, too large for a version file", op)
	}
	content, err := file.GetContent()
	if err != nil {
		return File{}, fmt.Errorf("%s: decode content: %w", op, err)
	}
	return File{Content: []byte(content), SHA: file.GetSHA()}, nil
}

// Bump is one version bump to propose as a pull request.
type Bump struct {
	// Repo is `owner/name`; Base its branch the PR targets.
	Repo, Base string
	// Branch is the head branch, created from Base when missing.
	Branch string
	// Path is the file to change and Content its new content.
	Path    string
	Content []byte
	// Message is the commit message; Title and Body the pull request's.
	Message, Title, Body string
	// Marker is the hidden text every bump PR of this release carries: an
	// open PR with it and another head branch is superseded by this one.
	Marker string
	// BranchPrefix is Branch without the version: a superseded PR's head
	// branch is deleted only when it starts with it. Empty means Branch up
	// to its last '-'.
	BranchPrefix string
}

// BumpResult says what ProposeBump did.
type BumpResult struct {
	Number int
	URL    string
	// Created is true for a new pull request, false for one updated in place.
	Created bool
	// Committed is true when the branch got a new commit this run.
	Committed bool
	// Superseded are the older bump PRs closed in favour of this one.
	Superseded []int
	// Declined is set, and nothing written, when the PR from Branch was
	// closed without merging: a human said no to this version.
	Declined bool
	// Warnings are housekeeping failures that leave the proposal standing,
	// e.g. a superseded PR's branch that could not be deleted.
	Warnings []string
}

// ProposeBump puts Content at Path on Branch (creating the branch from Base
// when missing), opens the pull request from Branch to Base or updates the
// open one in place, and closes the other open PRs carrying Marker with a
// comment that links the new one. Writes are skipped when nothing would
// change. A 403 names the permission the token lacks.
//
// Only our own pull requests are updated, superseded or read as declined:
// those whose head is a branch of Repo and whose author is the token's
// identity. Branch names and the marker are public, so a fork's PR or
// another person's can carry both.
func (c *Client) ProposeBump(ctx context.Context, b Bump) (BumpResult, error) {
	owner, name, err := splitRepo(b.Repo)
	if err != nil {
		return BumpResult{}, err
	}
	if strings.TrimSpace(b.Marker) == "" || !strings.Contains(b.Body, b.Marker) {
		return BumpResult{}, errors.New("propose: the body must carry a non-empty marker")
	}
	declined, err := c.declined(ctx, owner, name, b.Branch)
	if err != nil || declined != nil {
		if declined != nil {
			return BumpResult{Number: declined.GetNumber(), URL: declined.GetHTMLURL(), Declined: true}, nil
		}
		return BumpResult{}, err
	}
	var res BumpResult
	if res.Committed, err = c.pushFile(ctx, owner, name, b); err != nil {
		return BumpResult{}, err
	}
	open, err := c.openBumps(ctx, owner, name, b)
	if err != nil {
		return BumpResult{}, err
	}
	var mine *gh.PullRequest
	var older []*gh.PullRequest
	for _, pr := range open {
		if pr.GetHead().GetRef() == b.Branch && sameRepo(pr.GetHead().GetRepo().GetFullName(), b.Repo) && mine == nil {
			mine = pr
		} else {
			older = append(older, pr)
		}
	}
	if mine == nil {
		if mine, err = c.createPull(ctx, owner, name, b); err != nil {
			return BumpResult{}, err
		}
		res.Created = true
	} else if mine.GetBody() != b.Body || mine.GetTitle() != b.Title {
		op := fmt.Sprintf("update pull request #%d of %s", mine.GetNumber(), b.Repo)
		got, resp, err := c.api.PullRequests.Edit(ctx, owner, name, mine.GetNumber(), &gh.PullRequest{Title: gh.Ptr(b.Title), Body: gh.Ptr(b.Body)})
		if err != nil {
			return BumpResult{}, needs(wrap(op, resp, err), PermPullRequests)
		}
		mine = got
	}
	res.Number, res.URL = mine.GetNumber(), mine.GetHTMLURL()
	for _, pr := range older {
		if err := c.supersede(ctx, owner, name, pr.GetNumber(), res); err != nil {
			return res, err
		}
		res.Superseded = append(res.Superseded, pr.GetNumber())
		if w := c.deleteBranch(ctx, owner, name, pr, b); w != "" {
			res.Warnings = append(res.Warnings, w)
		}
	}
	return res, nil
}

// deleteBranch removes a superseded PR's head branch, as the branch of a
// closed bump is of no further use. Only a branch of this repository named
// like ours (same prefix as current) is deleted; a failure is a warning.
func (c *Client) deleteBranch(ctx context.Context, owner, name string, pr *gh.PullRequest, b Bump) string {
	head := pr.GetHead().GetRef()
	prefix := b.BranchPrefix
	if prefix == "" {
		prefix = b.Branch[:strings.LastIndex(b.Branch, "-")+1]
	}
	if !sameRepo(pr.GetHead().GetRepo().GetFullName(), owner+"/"+name) || prefix == "" || !strings.HasPrefix(head, prefix) {
		return ""
	}
	resp, err := c.api.Git.DeleteRef(ctx, owner, name, "heads/"+head)
	if err != nil && !isStatus(resp, http.StatusUnprocessableEntity) && !isStatus(resp, http.StatusNotFound) {
		return fmt.Sprintf("branch %s of superseded #%d left in place: %v", head, pr.GetNumber(), needs(wrap("delete branch "+head, resp, err), PermContents))
	}
	return ""
}

// pushFile makes Branch hold Content at Path, committing only when it does
// not yet. It reports whether it committed.
func (c *Client) pushFile(ctx context.Context, owner, name string, b Bump) (bool, error) {
	repo := owner + "/" + name
	base, resp, err := c.api.Git.GetRef(ctx, owner, name, "heads/"+b.Base)
	if err != nil {
		return false, wrap(fmt.Sprintf("read branch %s of %s", b.Base, repo), resp, err)
	}
	_, resp, err = c.api.Git.CreateRef(ctx, owner, name, gh.CreateRef{Ref: "refs/heads/" + b.Branch, SHA: base.GetObject().GetSHA()})
	if err != nil && !refExists(resp, err) {
		return false, needs(wrap(fmt.Sprintf("create branch %s in %s", b.Branch, repo), resp, err), PermContents)
	}
	// A stale SHA (someone pushed to the branch in between) is a 409: read
	// the file again and retry once.
	for attempt := 0; ; attempt++ {
		cur, err := c.ReadFile(ctx, repo, b.Path, b.Branch)
		if err != nil && !IsKind(err, KindNotFound) {
			return false, err
		}
		if err == nil && bytes.Equal(cur.Content, b.Content) {
			return false, nil
		}
		opts := &gh.RepositoryContentFileOptions{Message: gh.Ptr(b.Message), Content: b.Content, Branch: gh.Ptr(b.Branch)}
		if cur.SHA != "" {
			opts.SHA = gh.Ptr(cur.SHA)
		}
		_, resp, err = c.api.Repositories.UpdateFile(ctx, owner, name, b.Path, opts)
		if err == nil {
			return true, nil
		}
		if isStatus(resp, http.StatusConflict) && attempt == 0 {
			continue
		}
		return false, needs(wrap(fmt.Sprintf("commit %s to branch %s of %s", b.Path, b.Branch, repo), resp, err), PermContents)
	}
}

// declined returns the pull request from branch that was closed without
// merging, unless one from it is open (reopened) or was merged.
func (c *Client) declined(ctx context.Context, owner, name, branch string) (*gh.PullRequest, error) {
	prs, resp, err := c.api.PullRequests.List(ctx, owner, name, &gh.PullRequestListOptions{
		State: "all", Head: owner + ":" + branch, ListOptions: gh.ListOptions{PerPage: 100}})
	if err != nil {
		return nil, wrap(fmt.Sprintf("list pull requests from %s of %s/%s", branch, owner, name), resp, err)
	}
	var closed *gh.PullRequest
	for _, pr := range prs {
		if !sameRepo(pr.GetHead().GetRepo().GetFullName(), owner+"/"+name) {
			continue
		}
		if pr.GetState() == "open" || !pr.GetMergedAt().IsZero() {
			return nil, nil
		}
		if closed == nil {
			ours, err := c.ours(ctx, owner, name, pr)
			if err != nil {
				return nil, err
			}
			if ours {
				closed = pr
			}
		}
	}
	return closed, nil
}

// ours reports whether pr is one this token proposed: its head is a branch
// of owner/name and its author is the token's identity. The identity is
// asked for only when a candidate turns up, once per client.
func (c *Client) ours(ctx context.Context, owner, name string, pr *gh.PullRequest) (bool, error) {
	if !sameRepo(pr.GetHead().GetRepo().GetFullName(), owner+"/"+name) {
		return false, nil
	}
	me, err := c.Identity(ctx)
	if err != nil {
		return false, err
	}
	return sameLogin(pr.GetUser().GetLogin(), me), nil
}

func sameRepo(a, b string) bool { return a != "" && strings.EqualFold(a, b) }

// maxPullPages bounds the search for open bump PRs.
const maxPullPages = 20

// openBumps lists our open pull requests into Base that carry Marker.
func (c *Client) openBumps(ctx context.Context, owner, name string, b Bump) ([]*gh.PullRequest, error) {
	opts := &gh.PullRequestListOptions{State: "open", Base: b.Base, ListOptions: gh.ListOptions{PerPage: 100}}
	var out []*gh.PullRequest
	for page := 0; page < maxPullPages; page++ {
		prs, resp, err := c.api.PullRequests.List(ctx, owner, name, opts)
		if err != nil {
			return nil, wrap(fmt.Sprintf("list pull requests of %s/%s", owner, name), resp, err)
		}
		for _, pr := range prs {
			if !strings.Contains(pr.GetBody(), b.Marker) {
				continue
			}
			ours, err := c.ours(ctx, owner, name, pr)
			if err != nil {
				return nil, err
			}
			if ours {
				out = append(out, pr)
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return out, nil
}

func (c *Client) createPull(ctx context.Context, owner, name string, b Bump) (*gh.PullRequest, error) {
	op := fmt.Sprintf("open a pull request from %s into %s of %s/%s", b.Branch, b.Base, owner, name)
	pr, resp, err := c.api.PullRequests.Create(ctx, owner, name, &gh.NewPullRequest{
		Title: gh.Ptr(b.Title), Head: gh.Ptr(b.Branch), Base: gh.Ptr(b.Base), Body: gh.Ptr(b.Body),
	})
	if err != nil {
		return nil, needs(wrap(op, resp, err), PermPullRequests)
	}
	return pr, nil
}

// supersede closes an older bump PR, first saying which one replaces it.
func (c *Client) supersede(ctx context.Context, owner, name string, number int, by BumpResult) error {
	repo := owner + "/" + name
	msg := fmt.Sprintf("Superseded by #%d (%s): a newer version is proposed there. Closing this one.", by.Number, by.URL)
	_, resp, err := c.api.Issues.CreateComment(ctx, owner, name, number, &gh.IssueComment{Body: gh.Ptr(msg)})
	if err != nil {
		return needs(wrap(fmt.Sprintf("comment on superseded pull request #%d of %s", number, repo), resp, err), PermPullRequests)
	}
	_, resp, err = c.api.PullRequests.Edit(ctx, owner, name, number, &gh.PullRequest{State: gh.Ptr("closed")})
	if err != nil {
		return needs(wrap(fmt.Sprintf("close superseded pull request #%d of %s", number, repo), resp, err), PermPullRequests)
	}
	return nil
}

// refExists recognises GitHub's 422 "Reference already exists": the branch
// of an earlier run, which is then updated.
func refExists(resp *gh.Response, err error) bool {
	var er *gh.ErrorResponse
	return isStatus(resp, http.StatusUnprocessableEntity) && errors.As(err, &er) &&
		strings.Contains(strings.ToLower(er.Message), "already exists")
}

func isStatus(resp *gh.Response, status int) bool {
	return resp != nil && resp.Response != nil && resp.StatusCode == status
}

// needs records on a 403 which permission the call needed: the one GitHub
// names in X-Accepted-GitHub-Permissions when it sends the header, else
// perm.
func needs(err error, perm string) error {
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindForbidden {
		return err
	}
	e.Permission = perm
	if accepted := acceptedPermissions(e.header); accepted != "" {
		e.Permission = accepted
	}
	return err
}

// acceptedPermissions turns GitHub's `pull_requests=write; issues=write`
// (alternatives separated by ';', sets within one by ',') into workflow
// syntax: `pull-requests: write` or `issues: write`.
func acceptedPermissions(h http.Header) string {
	v := h.Get("X-Accepted-GitHub-Permissions")
	if strings.TrimSpace(v) == "" {
		return ""
	}
	var alts []string
	for _, alt := range strings.Split(v, ";") {
		var set []string
		for _, p := range strings.Split(alt, ",") {
			scope, level, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || scope == "metadata" {
				continue
			}
			set = append(set, strings.ReplaceAll(scope, "_", "-")+": "+level)
		}
		if len(set) > 0 {
			alts = append(alts, strings.Join(set, ", "))
		}
	}
	return strings.Join(alts, "` or `")
}
