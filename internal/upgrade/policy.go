package upgrade

import (
	"fmt"
	"strings"

	rcommon "helm.sh/helm/v4/pkg/release/common"

	"github.com/pach-upgrade/pach-upgrade/internal/database"
	"github.com/pach-upgrade/pach-upgrade/internal/helmrelease"
)

// The release's lifecycle policy, whole, in this file.
//
// Helm records a revision `deployed` as soon as it is applied, before anyone knows whether
// its pods run; a revision is `failed` when Helm's apply or a recovery stopped; `pending-*`
// when an operation never finished. None of these alone says what the cluster runs. So the
// run never walks a fixed path: at each point where the release may have changed under it
// (the release check, the apply, a failure) it observes the release and asks one of the
// functions below for the next action, as Flux's helm-controller picks each reconcile action
// from the observed state:
//
//	decideStart   the release check: proceed from a revision, recover a pending one, or refuse
//	decideTarget  once the target is known: upgrade, no-op (verified), or verify
//	decideApply   just before Helm applies: refuse when another client wrote since the read
//	decideApplied once Helm's apply returned: refuse when another client wrote during it
//	decideFailure after a failed upgrade or verification: roll back, leave, or refuse
//	recoveryMethod how a recovery or rollback brings the old version back
//
// A revision is verified when this tool watched every pod of it to Ready and found pachctl
// and pachd at its version; the mark is kept in the revision's description on the release
// (helmrelease.VerifiedMark), which `helm history` shows. A revision without it is never
// reported as current: the next run verifies it (decideTarget) or recovers it.

// Action is the next thing a run does with the release.
type Action string

const (
	ActUpgrade  Action = "upgrade"   // apply the target chart
	ActNoOp     Action = "no-op"     // at the target, verified: nothing to do
	ActVerify   Action = "verify"    // at the target, not verified: watch it and check versions
	ActRecover  Action = "recover"   // a pending operation: bring the release back to To
	ActRollBack Action = "roll back" // undo this run's revision: back to To
	ActLeave    Action = "leave"     // after a failure: change nothing more, say why
	ActRefuse   Action = "refuse"    // the state is not one this run may act on
	ActProceed  Action = "proceed"   // the release check found a revision to start from
)

// observed is what the cluster shows of the release at one decision point.
type observed struct {
	Latest  *helmrelease.Release
	History []*helmrelease.Release // oldest first; may be nil where not needed
}

// decision is a policy function's answer.
type decision struct {
	Action Action
	// Base is the revision the run starts from: its values are carried, its version is the
	// current one, and a failed upgrade rolls back to it.
	Base *helmrelease.Release
	// To is the revision a recovery or rollback returns to.
	To int
	// Reapply: the latest revision did not deploy cleanly, so the target is applied even
	// when Base already runs its version.
	Reapply bool
	// DatabaseAhead: the latest revision was left by an earlier run after its pachd migrated
	// the database (helmrelease.LeftMark), so Base's pachd refuses the database as it is now.
	DatabaseAhead bool
	// Reason says why, for the log and the report.
	Reason string
}

// decideStart is the release check's policy. A pending latest revision is recovered (only
// with recover-pending in apply mode) to its own target (helmrelease.RecoveryTarget: for an
// interrupted rollback, the revision it was rolling back to). A failed latest revision is
// never taken as current: the run starts from the revision recovery would return to, and
// applies the target even when that one runs it.
func decideStart(o observed, recoverPending bool) decision {
	l := o.Latest
	status := rcommon.Status(l.Status)
	switch {
	case status.IsPending():
		if !recoverPending {
			return decision{Action: ActRefuse, Reason: l.Pending().Error()}
		}
		to := helmrelease.RecoveryTarget(o.History, l.Revision)
		if to == 0 {
			return decision{Action: ActRefuse, Reason: fmt.Sprintf("recover %v: no earlier deployed revision to roll back to", l.Pending())}
		}
		return decision{Action: ActRecover, To: to, Reason: fmt.Sprintf("revision %d is %s: recovering to revision %d", l.Revision, l.Status, to)}
	case status == rcommon.StatusFailed:
		to := helmrelease.RecoveryTarget(o.History, l.Revision)
		base := revision(o.History, to)
		if base == nil {
			return decision{Action: ActRefuse, Reason: fmt.Sprintf("release %s revision %d is failed (%s) and no earlier revision was deployed: "+
				"fix it by hand (`helm history %s -n %s`)", l.Name, l.Revision, l.Description, l.Name, l.Namespace)}
		}
		if l.Left() {
			// Fixing forward is the way out that needs no restore: the target's pachd knows
			// the migrations. A rollback to base is not, whatever this run reads or dumps:
			// its "before" is already the migrated database.
			return decision{Action: ActProceed, Base: base, Reapply: true, DatabaseAhead: true,
				Reason: fmt.Sprintf("latest revision %d was left by an earlier run after its pachd migrated the database (%s): "+
					"applying the target again from revision %d's values; if it fails, the chart is left again, not rolled back, "+
					"because revision %d's pachd refuses the migrated database", l.Revision, l.Description, base.Revision, base.Revision)}
		}
		return decision{Action: ActProceed, Base: base, Reapply: true,
			Reason: fmt.Sprintf("latest revision %d is failed (%s): starting from revision %d, the last deployed, and applying the target whatever it runs",
				l.Revision, l.Description, base.Revision)}
	case status == rcommon.StatusDeployed:
		return decision{Action: ActProceed, Base: l}
	}
	return decision{Action: ActRefuse, Reason: fmt.Sprintf("release %s revision %d is %s: only a deployed, failed or pending release can be upgraded",
		l.Name, l.Revision, l.Status)}
}

// decideTarget is the policy once the target is known: at the target, a verified revision
// is a no-op and an unverified one is verified; a failed latest revision is applied again.
func decideTarget(start decision, atTarget bool) Action {
	switch {
	case !atTarget || start.Reapply:
		return ActUpgrade
	case start.Base.Verified():
		return ActNoOp
	}
	return ActVerify
}

// decideApply refuses to apply when the release is no longer what the run read: another
// client (Flux, the Helm CLI, a person) wrote a revision since, and the upgrade, built from
// the values read before it, would overwrite its work.
func decideApply(read, latest *helmrelease.Release) decision {
	if latest.Revision == read.Revision && latest.Status == read.Status {
		return decision{Action: ActUpgrade, Base: read}
	}
	return decision{Action: ActRefuse, Reason: fmt.Sprintf("release %s changed since this run read it: it read revision %d (%s), "+
		"the latest is now revision %d (%s, %q), written by another client (Flux, the Helm CLI, a person); "+
		"nothing was applied: run again to start from revision %d",
		read.Name, read.Revision, read.Status, latest.Revision, latest.Status, latest.Description, latest.Revision)}
}

// decideApplied is the policy once Helm's apply has returned: the revision it wrote must
// still be the latest. Helm's rollback (CLI or SDK) does not refuse a pending release, so a
// person's `helm rollback` during the apply succeeds, and the apply, already under way, then
// writes over the objects it restored: watching and verifying this run's revision would
// report an upgrade of a release whose latest revision is someone else's. The run refuses
// instead, and decideFailure then rolls nothing back (the other client wrote after it).
func decideApplied(applied, latest *helmrelease.Release) decision {
	if latest.Revision == applied.Revision {
		return decision{Action: ActProceed, Base: applied}
	}
	return decision{Action: ActRefuse, Reason: fmt.Sprintf("release %s changed during this run's apply: revision %d (%s, %q) was written by another client "+
		"(Flux, the Helm CLI, a person) while Helm applied this run's revision %d, whose objects may have been written over it: "+
		"revision %d not watched, not verified; check the cluster and `helm history %s -n %s`, then run again",
		applied.Name, latest.Revision, latest.Status, latest.Description, applied.Revision, applied.Revision, applied.Name, applied.Namespace)}
}

// failure is what the cluster shows after an upgrade or verification failed.
type failure struct {
	// Base is the revision the run started from (the rollback target).
	Base *helmrelease.Release
	// Applied is the revision this run (or, for a verification, the earlier pach-upgrade
	// run) wrote; 0 when Helm created none.
	Applied int
	// Latest is the release as read after the failure; nil when it could not be read.
	Latest          *helmrelease.Release
	RollbackAllowed bool
}

// decideFailure is the policy after a failure. Nothing is rolled back when nothing was
// applied (Helm failed before creating a revision: rolling back would apply the old manifest
// over whatever is there, possibly another client's work), nor when another client wrote
// after this run's revision, nor when rollback-on-failure is off.
func decideFailure(f failure) decision {
	switch {
	case f.Applied == 0:
		return decision{Action: ActLeave, Reason: "Helm created no revision: nothing was applied, nothing to roll back"}
	case f.Latest != nil && f.Latest.Revision > f.Applied:
		return decision{Action: ActRefuse, Reason: fmt.Sprintf("revision %d (%s, %q) was written by another client after this run's revision %d; "+
			"rolling back would undo its work", f.Latest.Revision, f.Latest.Status, f.Latest.Description, f.Applied)}
	case !f.RollbackAllowed:
		return decision{Action: ActLeave, Reason: fmt.Sprintf("rollback-on-failure is false: revision %d is left as it is, not verified", f.Applied)}
	case f.Base == nil || f.Base.Revision >= f.Applied:
		return decision{Action: ActLeave, Reason: fmt.Sprintf("no earlier deployed revision to roll revision %d back to", f.Applied)}
	}
	return decision{Action: ActRollBack, To: f.Base.Revision, Base: f.Base}
}

// RecoveryMethod is how a recovery or rollback brings the old version back.
type RecoveryMethod string

const (
	// RecoverChartRollback rolls the Helm release back: enough when the new pachd added no
	// schema migration.
	RecoverChartRollback RecoveryMethod = "chart rollback"
	// RecoverRestoreAndRollback restores the databases from this run's dump, then rolls the
	// chart back: the new pachd migrated the database.
	RecoverRestoreAndRollback RecoveryMethod = "restore and rollback"
	// RecoverLeaveAndInstruct leaves the new revision and tells the operator what to restore
	// and roll back: migrations were added and this run holds no dump to undo them.
	RecoverLeaveAndInstruct RecoveryMethod = "leave and instruct"
)

// recoveryInput is what chooses the recovery method: pachd's migrations table before the
// upgrade and after the failure (nil when they could not be read), and whether this run
// holds a checked dump taken before any change.
type recoveryInput struct {
	Before, After *database.Migrations
	HaveDump      bool
	// DatabaseAhead: the run started from a revision an earlier run left (decision's
	// field): the database was migrated before this run read or dumped it.
	DatabaseAhead bool
}

// recoveryMethod chooses how to bring the old version back. pachd applies its schema
// migrations at start and refuses a database that holds more than it knows, so once the new
// pachd added migrations a chart rollback alone brings back a pachd that crash-loops.
func recoveryMethod(in recoveryInput) RecoveryMethod {
	switch {
	case in.DatabaseAhead:
		// This run's reading and dump are of the migrated database: neither brings back
		// what the rollback target's pachd ran against.
		return RecoverLeaveAndInstruct
	case in.Before != nil && in.After != nil && !in.Before.Added(*in.After):
		return RecoverChartRollback
	case in.HaveDump:
		// Added, or not known to be unchanged: the dump is the state the old pachd ran
		// against, and restoring it is always right.
		return RecoverRestoreAndRollback
	case in.Before == nil:
		// Nothing to restore and nothing known before the upgrade: a rollback is the only
		// move, and its readiness check tells whether pachd starts.
		return RecoverChartRollback
	case in.After == nil:
		// Known before, unreadable after, nothing to restore: the new pachd may have migrated
		// the database, and a rollback would then leave a pachd that refuses it.
		return RecoverLeaveAndInstruct
	}
	return RecoverLeaveAndInstruct
}

// revision finds revision n in history.
func revision(history []*helmrelease.Release, n int) *helmrelease.Release {
	for _, r := range history {
		if r.Revision == n {
			return r
		}
	}
	return nil
}

// upgradeDescription is the description of a revision this tool's upgrade writes, by which a
// later run knows the revision as this tool's own.
func upgradeDescription(from, to fmt.Stringer) string {
	return fmt.Sprintf("pach-upgrade %s → %s", from, to)
}

// writtenByUs reports whether rel was written by this tool's upgrade.
func writtenByUs(rel *helmrelease.Release) bool {
	return strings.HasPrefix(rel.Description, "pach-upgrade ")
}
