// Package report holds the one model of a run's outcome and renders it twice:
// the full job summary and the compact sticky PR comment. It also holds the
// Actions-facing logger every step writes through.
package report

import (
	"strings"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/changelog"
	"github.com/pach-upgrade/pach-upgrade/internal/github"
)

// Result is the run's outcome, also the `result` output.
type Result string

const (
	ResultUpgraded   Result = "upgraded"
	ResultNoOp       Result = "no-op"
	ResultPlanned    Result = "planned"
	ResultProposed   Result = "proposed"
	ResultRolledBack Result = "rolled-back"
	ResultFailed     Result = "failed"
	// ResultCancelled: the run was stopped by a signal (the runner's cancel);
	// Report.Cancelled says where and what the release is left as.
	ResultCancelled Result = "cancelled"
)

// Icon is the emoji shown beside the result.
func (r Result) Icon() string {
	switch r {
	case ResultUpgraded:
		return "✅"
	case ResultNoOp:
		return "☑️"
	case ResultPlanned:
		return "📝"
	case ResultProposed:
		return "🔀"
	case ResultRolledBack:
		return "↩️"
	case ResultFailed:
		return "❌"
	case ResultCancelled:
		return "⏹️"
	}
	return "❔"
}

// Headline is the result in words.
func (r Result) Headline() string {
	switch r {
	case ResultUpgraded:
		return "Upgraded"
	case ResultNoOp:
		return "Already at the target version, nothing changed"
	case ResultPlanned:
		return "Planned (no change made)"
	case ResultProposed:
		return "Upgrade proposed as a pull request (no change made to the cluster)"
	case ResultRolledBack:
		return "Upgrade failed and was rolled back"
	case ResultFailed:
		return "Upgrade failed"
	case ResultCancelled:
		return "Cancelled"
	}
	return string(r)
}

// Outcome is how one step ended.
type Outcome string

const (
	OutcomeOK      Outcome = "ok"
	OutcomeFailed  Outcome = "failed"
	OutcomeSkipped Outcome = "skipped"
	OutcomeWarning Outcome = "warning"
	// OutcomeCancelled: the step was running when the run was cancelled.
	OutcomeCancelled Outcome = "cancelled"
)

// Icon is the emoji shown beside the outcome.
func (o Outcome) Icon() string {
	switch o {
	case OutcomeOK:
		return "✅"
	case OutcomeFailed:
		return "❌"
	case OutcomeSkipped:
		return "⏭️"
	case OutcomeWarning:
		return "⚠️"
	case OutcomeCancelled:
		return "⏹️"
	}
	return "❔"
}

// Step is one step of the seed procedure as it ran.
type Step struct {
	Name     string
	Duration time.Duration
	Outcome  Outcome
	// Detail is one line: what was done or why it failed.
	Detail string
	// Background is set for a network step that ran beside the others
	// (chart, notes, pachctl): Duration is its own time, Waited the time
	// the run spent waiting for its result.
	Background bool
	Waited     time.Duration
}

// RunTime is what the step added to the run's time: its duration, or for a
// background step the time the run waited on it.
func (s Step) RunTime() time.Duration {
	if s.Background {
		return s.Waited
	}
	return s.Duration
}

// Pod is one row of the pods table, as the readiness watch recorded it.
type Pod struct {
	Name     string
	Ready    string // "1/1"
	Status   string // Running, CrashLoopBackOff, ...
	Restarts int32
	ImageTag string
	Age      time.Duration
}

// ComponentVersion is one row of the versions table: pachctl, pachd, or a
// workload's image tag.
type ComponentVersion struct {
	Component string
	Version   string
	// Want is the expected version; a row whose Version differs is flagged.
	Want string
}

// Plan is what plan mode would change, already redacted by the caller.
type Plan struct {
	ValuesDiff   string
	ManifestDiff string
}

// GeneratedField is a field the chart generates anew at every render, and
// what the run did about it. It never holds the value.
type GeneratedField struct {
	// Object is Kind/name; Path the field in it.
	Object, Path string
	// Carried says the live value was kept; How says how ("values",
	// "post-renderer") or, when not carried, why (rollout marker, new,
	// regenerated, cannot carry).
	Carried bool
	How     string
	// ValuesKey pins the field for good; empty when the chart has none.
	ValuesKey string
	Note      string
}

// PullRequest is the bump pull request of a propose run.
type PullRequest struct {
	Number int
	URL    string
	Branch string
	// Created is true for a new PR, false for one updated in place.
	Created bool
	// Superseded are older bump PRs closed in favour of this one.
	Superseded []int
}

// Rollback says what was rolled back. Set it only once the rollback is done
// and the old revision is Ready again, or with Err when it failed.
type Rollback struct {
	// Revision is the Helm revision rolled back to.
	Revision int
	// Version is the app version running again.
	Version string
	// Err is set when the rollback itself failed: the release needs a
	// human.
	Err string
}

// Cancellation says how a cancelled run ended, so that whoever reads the
// comment knows what the cluster is left as and what the next run does.
type Cancellation struct {
	// Cause is what stopped the run, e.g. "terminated signal received".
	Cause string
	// Step is the step that was running.
	Step string
	// State is the release as the run left it, e.g. "revision 2
	// pending-upgrade (Pachyderm 2.11.6)".
	State string
	// Recovery is what the next run needs, e.g. "run again with
	// `recover-pending: true`".
	Recovery string
}

// Report is everything the summary and the comment show.
type Report struct {
	Release   string
	Namespace string
	Result    Result
	// Mode is "apply", "plan" or "propose".
	Mode string
	// Pinned is the version the repository's version-file pins (propose).
	Pinned string
	// PullRequest is the bump PR propose opened or updated.
	PullRequest *PullRequest

	FromVersion, ToVersion string // Pachyderm (app) versions
	FromChart, ToChart     string // chart versions

	Steps    []Step
	Pods     []Pod
	Versions []ComponentVersion
	Plan     *Plan
	// Generated lists the fields the chart generates: carried over, or
	// left as rendered and why.
	Generated []GeneratedField
	Notes     []changelog.Note
	// NotesWarning says why notes are incomplete, if they are.
	NotesWarning string

	// Failure is what failed and why, for failed and rolled-back runs.
	Failure    string
	RolledBack *Rollback
	Cancelled  *Cancellation
	BackupPath string
	// VerifiedVersion is the version pachctl and pachd both reported after
	// an upgraded run, or a no-op whose version check passed; empty
	// otherwise (see VerifiedVersionOf).
	VerifiedVersion string
	// Database is the database backup and recovery; nil when not looked at.
	Database *Database
	// Warnings are non-fatal problems to surface (e.g. a version
	// disagreement between the Helm release and the pachd image).
	Warnings []string
	RunURL   string
}

// Marker is the hidden first line of the PR comment, which identifies the
// sticky comment of this release on later runs.
func (r *Report) Marker() string {
	return github.Marker(r.Namespace, r.Release)
}

// RunURL builds the link to the workflow run from the runner's environment;
// empty outside Actions.
func RunURL(getenv func(string) string) string {
	server, repo, id := getenv("GITHUB_SERVER_URL"), getenv("GITHUB_REPOSITORY"), getenv("GITHUB_RUN_ID")
	if server == "" || repo == "" || id == "" {
		return ""
	}
	u := strings.TrimRight(server, "/") + "/" + repo + "/actions/runs/" + id
	if a := getenv("GITHUB_RUN_ATTEMPT"); a != "" && a != "1" {
		u += "/attempts/" + a
	}
	return u
}
