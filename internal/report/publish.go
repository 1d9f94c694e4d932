package report

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/github"
)

// Commenter writes the sticky PR comment; *github.Client implements it.
type Commenter interface {
	UpsertComment(ctx context.Context, repo string, pr int, marker, body string) (github.CommentResult, error)
}

// CommentLookup is the search for the sticky comment started ahead of
// publishing; *github.CommentLookup implements it.
type CommentLookup interface {
	// For says whether it searched for this comment.
	For(repo string, pr int, marker string) bool
	// Upsert writes body with the lookup's answer: one call when it found
	// the comment.
	Upsert(ctx context.Context, body string) (github.CommentResult, error)
}

// CommentTarget says where the comment goes. A zero PR or nil Client means
// no comment.
type CommentTarget struct {
	Client Commenter
	// Repo is GITHUB_REPOSITORY, the repository of the pull request.
	Repo string
	PR   int
	// Lookup, when set, found the comment while the run went on; without
	// it (or when it searched for another) Client looks for it now.
	Lookup CommentLookup
}

// PublishContext returns the context to publish a run's report with. It is
// not ctx: a cancelled run (SIGINT, SIGTERM) must still publish, and the
// Actions runner kills the step 10 s after its first signal. So it lives on
// after ctx ends, for at most grace from that moment, and for at most limit
// in all.
func PublishContext(ctx context.Context, grace, limit time.Duration) (context.Context, context.CancelFunc) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
	// A timer left running after the returned cancel only cancels again.
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancel) })
	return pctx, func() { stop(); cancel() }
}

// Publish ends a run: outputs, the job summary and the sticky PR comment.
// The comment's body is final once the report is, so its call starts
// first and the outputs and summary are written while it is under way; a
// comment failure cannot cost them. Publish returns only once the call has
// ended: the runner kills a container action's process when it exits. It
// never changes r.Result and never returns an error for the comment: a
// read-only token on a forked PR, a 404, a 5xx or a rate limit becomes a
// warning annotation, because the upgrade has already happened (or not)
// and that is the job's result.
func Publish(ctx context.Context, log Logger, r *Report, target CommentTarget) {
	var written chan commentWrite
	if target.Client != nil && target.PR > 0 {
		// The comment is public on the PR and no runner masks it.
		body := log.Redact(Comment(r))
		written = make(chan commentWrite, 1)
		go func() { written <- writeComment(ctx, target, r.Marker(), body) }()
	}

	log.SetOutput(config.OutputResult, string(r.Result))
	log.SetOutput(config.OutputPreviousVersion, r.FromVersion)
	log.SetOutput(config.OutputTargetVersion, r.ToVersion)
	log.SetOutput(config.OutputChartVersion, r.ToChart)
	log.SetOutput(config.OutputBackupPath, r.BackupPath)
	log.SetOutput(config.OutputVerifiedVersion, VerifiedVersionOf(r))
	log.SetOutput(config.OutputDatabaseBackupPath, r.DatabaseBackupPath())
	if pr := r.PullRequest; pr != nil {
		log.SetOutput(config.OutputPRNumber, strconv.Itoa(pr.Number))
		log.SetOutput(config.OutputPRURL, pr.URL)
	}
	log.AddSummary(Summary(r))

	if written == nil {
		return
	}
	w := <-written
	if a := w.res.Lookahead; a != nil {
		line := fmt.Sprintf("PR #%d comment looked up beside the run (%s; publishing waited %s for it)", target.PR,
			a.Took.Round(time.Millisecond), a.Waited.Round(time.Millisecond))
		if a.LookedAgain != "" {
			line += "; looked again: " + a.LookedAgain
		}
		log.Infof("%s", line)
	}
	if w.err != nil {
		log.Warningf("PR comment not written", "%s%s", w.err, commentHint(w.err))
		return
	}
	verb := "updated"
	switch {
	case w.res.Created:
		verb = "created"
	case w.res.Unchanged:
		verb = "already up to date"
	}
	log.Infof("PR #%d comment %s in %s: %s", target.PR, verb, w.took.Round(time.Millisecond), w.res.URL)
}

type commentWrite struct {
	res  github.CommentResult
	err  error
	took time.Duration
}

// writeComment upserts the comment, with the lookup made ahead when it
// searched for this one.
func writeComment(ctx context.Context, target CommentTarget, marker, body string) commentWrite {
	start := time.Now()
	var w commentWrite
	if target.Lookup != nil && target.Lookup.For(target.Repo, target.PR, marker) {
		w.res, w.err = target.Lookup.Upsert(ctx, body)
	} else {
		w.res, w.err = target.Client.UpsertComment(ctx, target.Repo, target.PR, marker, body)
	}
	w.took = time.Since(start)
	return w
}

// commentHint tells the user how to fix the usual causes.
func commentHint(err error) string {
	var ge *github.Error
	if !errors.As(err, &ge) {
		return ""
	}
	switch ge.Kind {
	case github.KindForbidden:
		return " (the token cannot write to the pull request: grant `pull-requests: write`; a pull request from a fork only gets a read-only token)"
	case github.KindUnauthorized:
		return " (check the `github-token` input)"
	case github.KindRateLimited:
		if ge.RetryAfter > 0 {
			return fmt.Sprintf(" (rate limited: GitHub accepts calls again in %s)", ge.RetryAfter.Round(time.Second))
		}
		return " (rate limited, and GitHub did not say until when)"
	case github.KindNotFound:
		return " (no such pull request, or the token cannot see the repository)"
	}
	return ""
}
