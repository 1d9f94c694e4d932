package upgrade

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/helmrelease"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
)

// The Actions runner cancels a step with SIGINT, then SIGTERM 7.5 s later,
// then kills it 2.5 s after that; the report must be published before the
// kill, so everything a cancelled run still does is bounded by these.
const (
	// cancelCleanup bounds the cluster calls a cancelled run still makes:
	// reading and marking the release, listing pods, releasing the Lease.
	cancelCleanup = 2 * time.Second
	// applyGrace is how long a cancel lets Helm finish applying a revision
	// it is sending. Helm, cancelled mid-apply, records the revision failed
	// while its apply goes on in the background and may record it deployed
	// later; letting the apply end makes the state the report names true.
	applyGrace = 1500 * time.Millisecond
)

// phase is how far the run has changed the cluster, for what a cancel
// leaves behind.
type phase int

const (
	phaseUnchanged   phase = iota
	phaseUpgrading         // Helm upgrade started: a new revision may exist
	phaseRollingBack       // a rollback was started after a failure
	phaseRecovering        // recover-pending is rolling a pending revision back
	phaseRestoring         // the databases are being restored from the dump, before a rollback
)

// cancelled reports whether the run itself was cancelled (a signal), as
// opposed to timing out or losing its Lease.
func (r *runner) cancelled() bool { return r.runCtx.Err() != nil }

// stopOnCancel returns a context derived from ctx that also ends when the
// run is cancelled, for the waits of work that otherwise outlives a cancel.
func (r *runner) stopOnCancel(ctx context.Context) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(r.runCtx, func() { cancel(context.Cause(r.runCtx)) })
	return c, func() { stop(); cancel(nil) }
}

// cleanupContext is the context of the work every run does on its way out
// (releasing the Lease): limit long, or cancelCleanup once cancelled.
func (r *runner) cleanupContext(limit time.Duration) (context.Context, context.CancelFunc) {
	if r.cancelled() {
		limit = cancelCleanup
	}
	return context.WithTimeout(context.WithoutCancel(r.runCtx), limit)
}

// helmUpgrade runs Helm's upgrade (apply and hooks, no wait). Neither a cancel nor the
// upgrade timeout cuts it at once: Helm, its context ended mid-apply, records the revision
// failed and returns while its apply goes on in the background, which would race the
// rollback that follows a timeout. So the timeout only bounds Helm's hooks (its Timeout),
// and the apply is let finish; a cancel gets applyGrace, then Helm's context ends, for the
// report must be published before the runner's kill.
func (r *runner) helmUpgrade(ctx context.Context, ch *helmrelease.Chart) (*helmrelease.Release, error) {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	// A timer left running after the return only cancels again.
	stop := context.AfterFunc(r.runCtx, func() { time.AfterFunc(applyGrace, cancel) })
	defer stop()
	r.phase = phaseUpgrading
	return r.d.Helm.Upgrade(hctx, r.cfg.Release, ch, r.upgradeValues(), helmrelease.UpgradeOptions{
		Timeout:        r.remaining(ctx),
		Description:    r.upgradeDescription(),
		ForceConflicts: r.cfg.ForceConflicts,
		PostRenderer:   r.carry.PostRenderer(),
	})
}

// cancel ends a cancelled run: it starts no wait, says which step was
// running, leaves the release in a state the next run recognises, and says
// how that run recovers. Its cluster calls are bounded by cancelCleanup.
func (r *runner) cancel() report.Result {
	ctx, done := context.WithTimeout(context.WithoutCancel(r.runCtx), cancelCleanup)
	defer done()
	c := &report.Cancellation{Cause: context.Cause(r.runCtx).Error(), Step: r.running}
	r.rep.Cancelled = c
	switch r.phase {
	case phaseUnchanged:
		c.State, c.Recovery = r.unchanged(), "nothing to recover: run it again."
		r.cancelQuiesce(c)
	case phaseUpgrading:
		r.cancelUpgrade(ctx, c)
		r.recordPods(ctx)
	case phaseRollingBack:
		r.cancelRollback(ctx, c)
		r.recordPods(ctx)
	case phaseRecovering:
		r.cancelRecovery(ctx, c)
	case phaseRestoring:
		r.cancelRestore(ctx, c)
		r.recordPods(ctx)
	}
	r.log.Warningf("Cancelled", "%s during %q. Release left as: %s. Next run: %s", c.Cause, c.Step, c.State, c.Recovery)
	return report.ResultCancelled
}

func (r *runner) unchanged() string {
	if r.release == nil {
		return "unchanged"
	}
	return fmt.Sprintf("unchanged, revision %d %s (chart %s, Pachyderm %s)",
		r.release.Revision, r.release.Status, r.release.ChartVersion, r.release.AppVersion)
}

// cancelUpgrade handles a cancel after the Helm upgrade started. A new
// revision whose rollout was not checked to the end is marked
// pending-upgrade, as `helm upgrade --wait` leaves one it did not finish,
// so the next run must recover it instead of taking it as done.
func (r *runner) cancelUpgrade(ctx context.Context, c *report.Cancellation) {
	history := fmt.Sprintf("`helm history %s -n %s`", r.cfg.Release, r.cfg.Namespace)
	latest, err := r.d.Helm.Get(ctx, r.cfg.Release)
	if err != nil {
		c.State = "unknown: " + r.log.Redact(err.Error())
		c.Recovery = fmt.Sprintf("check %s; if the latest revision is pending, run again with `recover-pending: true`.", history)
		return
	}
	if latest.Revision <= r.latest.Revision {
		c.State, c.Recovery = r.unchanged(), "nothing to recover: run it again."
		r.cancelQuiesce(c)
		return
	}
	status := latest.Status
	if latest.Pending() == nil {
		desc := fmt.Sprintf("pach-upgrade cancelled during %s before the rollout was verified; recover with recover-pending", r.running)
		if err := r.d.Helm.MarkPendingUpgrade(ctx, r.cfg.Release, latest.Revision, desc); err != nil {
			r.log.Warningf("Release not marked pending", "%v", err)
			c.State = fmt.Sprintf("revision %d %s (chart %s, Pachyderm %s), its rollout not verified",
				latest.Revision, status, latest.ChartVersion, latest.AppVersion)
			c.Recovery = fmt.Sprintf("it could not be marked pending-upgrade; check %s and the pods before trusting revision %d.",
				history, latest.Revision)
			return
		}
		status = "pending-upgrade"
	}
	c.State = fmt.Sprintf("revision %d %s (chart %s, Pachyderm %s), its rollout not verified; revision %d (Pachyderm %s) is the last deployed",
		latest.Revision, status, latest.ChartVersion, latest.AppVersion, r.release.Revision, r.from)
	c.Recovery = fmt.Sprintf("run again with `recover-pending: true`: it rolls back to revision %d, then upgrades again.", r.release.Revision)
}

// cancelRollback handles a cancel while a rollback was waiting for Ready:
// the rollback is applied, so the release runs the old version again; only
// its readiness is unchecked.
func (r *runner) cancelRollback(ctx context.Context, c *report.Cancellation) {
	latest, err := r.d.Helm.Get(ctx, r.cfg.Release)
	if err != nil {
		c.State = "unknown: " + r.log.Redact(err.Error())
	} else {
		c.State = fmt.Sprintf("revision %d %s (chart %s, Pachyderm %s), a rollback to revision %d whose pods were not yet checked Ready",
			latest.Revision, latest.Status, latest.ChartVersion, latest.AppVersion, r.rollbackTo)
	}
	c.Recovery = fmt.Sprintf("check the pods (`kubectl get pods -n %s -l app.kubernetes.io/instance=%s`); the next run upgrades again from Pachyderm %s.",
		r.cfg.Namespace, r.cfg.Release, r.from)
}

// cancelRecovery handles a cancel while recover-pending was rolling a pending revision back:
// the release may be failed or pending-rollback now, and only another recovery settles it.
func (r *runner) cancelRecovery(ctx context.Context, c *report.Cancellation) {
	latest, err := r.d.Helm.Get(ctx, r.cfg.Release)
	if err != nil {
		c.State = "unknown: " + r.log.Redact(err.Error())
	} else {
		c.State = fmt.Sprintf("revision %d %s (chart %s, Pachyderm %s), interrupted while recovering revision %d (%s)",
			latest.Revision, latest.Status, latest.ChartVersion, latest.AppVersion, r.latest.Revision, r.latest.Status)
	}
	c.Recovery = "run again with `recover-pending: true`: it finishes the recovery, then upgrades or verifies."
}

// cancelQuiesce says, for a cancel during the database dump, what became of
// the dump and of the quiesce, and what to do when a count or the pause
// could not be undone.
func (r *runner) cancelQuiesce(c *report.Cancellation) {
	d := r.rep.Database
	if d == nil || d.QuiesceMethod == "" || d.QuiescedUntil.IsZero() {
		return
	}
	c.State += "; the database dump was stopped and its partial files removed"
	var undone []string
	for _, w := range r.rep.Warnings {
		if strings.HasPrefix(w, "replicas not restored") || strings.HasPrefix(w, "pachd is still paused") {
			undone = append(undone, w)
		}
	}
	if len(undone) > 0 {
		c.Recovery = "undo the quiesce first (" + strings.Join(undone, "; ") + "), or let the next run give the recorded replicas back; then run it again."
		return
	}
	if d.QuiesceMethod == report.QuiescePause {
		c.State += "; pachd unpaused"
	} else {
		c.State += "; pachd and the pipeline workers given back their replicas"
	}
}

// cancelRestore says, for a cancel while the databases were restored from
// the dump after a failed upgrade, what became of them and which command
// finishes the recovery: recover-pending would roll the chart back alone,
// and the old pachd would refuse the migrated database.
func (r *runner) cancelRestore(ctx context.Context, c *report.Cancellation) {
	// Not pending-upgrade (cancelUpgrade's mark): recover-pending would roll the chart back
	// alone, to a pachd that refuses the migrated database. Marked left, the next run fixes
	// forward or leaves it again, and never rolls back to it.
	r.markLeft(ctx, "cancelled while the databases were being restored from this run's dump")
	c.State = fmt.Sprintf("revision %d failed and left (marked so in `helm history %s -n %s`); revision %d (Pachyderm %s) is the last deployed",
		r.applied, r.cfg.Release, r.cfg.Namespace, r.release.Revision, r.from)
	c.State += "; the database restore was stopped: each database is restored in one transaction, so each is either as the failed upgrade " +
		"left it or fully restored, never half"
	undone := false
	for _, w := range r.rep.Warnings {
		undone = undone || strings.HasPrefix(w, "replicas not restored")
	}
	if !undone {
		c.State += "; pachd and the pipeline workers given back their replicas"
	}
	c.Recovery = "do not use recover-pending (it rolls the chart back alone, and the old pachd refuses the migrated database). " +
		"Run " + r.restoreCommand() + ": it checks this run's dumps, restores the databases and rolls the chart back to revision " +
		fmt.Sprint(r.release.Revision) + "."
}
