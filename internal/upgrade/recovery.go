package upgrade

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"

	"github.com/pach-upgrade/pach-upgrade/internal/database"
)

// planRecovery is what the plan says of the recovery, before any change.
func planRecovery(haveDump bool) string {
	if haveDump {
		return "if the upgrade fails after the new pachd added schema migrations, the databases are restored from this run's dump " +
			"and then the chart is rolled back; with no migration added, the chart is rolled back alone"
	}
	return "a failed upgrade is rolled back; this run holds no dump, so if the new pachd added schema migrations the old pachd " +
		"refuses the database (\"database state is newer than application is expecting\") and crash-loops: then restore " +
		"the databases from your backup-command's backup and roll back again"
}

// planRecoveryNoDump is the plan's word for a built-in database this run
// does not dump, whose migrations it reads.
const planRecoveryNoDump = "if the upgrade fails after the new pachd added schema migrations, the chart is not rolled back " +
	"(the old pachd would refuse the migrated database) and the summary gives the steps: restore the databases from your backup, " +
	"then helm rollback; with no migration added, the chart is rolled back"

// beforeRollback runs before the chart is rolled back after a failure: it
// reads the migrations again, chooses the recovery and, for a restore,
// quiesces and restores the databases. It returns false when the chart
// must not be rolled back.
func (r *runner) beforeRollback(ctx context.Context) (rollback bool, err error) {
	if r.db == nil && !r.start.DatabaseAhead {
		return true, nil
	}
	in := recoveryInput{DatabaseAhead: r.start.DatabaseAhead}
	var readErr error
	if r.db != nil {
		in.Before, in.HaveDump = r.db.before, len(r.db.dumps) > 0
		in.After, readErr = r.migrationsAfter(ctx)
	}
	switch recoveryMethod(in) {
	case RecoverChartRollback:
		r.rep.Database.Recovery = "no schema migration was added (or none could be read): chart rolled back"
		return true, nil
	case RecoverLeaveAndInstruct:
		why := leaveReason(in.Before, in.After, readErr)
		if in.DatabaseAhead {
			why = fmt.Sprintf("the run started from revision %d, which an earlier run left after its pachd migrated the database", r.latest.Revision)
		}
		r.leaveAndInstruct(ctx, why)
		return false, nil
	}
	r.rep.Database.Recovery = "schema migrations were added: databases restored from this run's dump, then chart rolled back"
	// pachd stays down from the restore through the chart rollback: the new
	// pachd, scaled back in between, would migrate the restored database
	// again. afterRollback gives the replicas back to the old revision.
	var changed []cluster.Scaled
	var start time.Time
	r.phase = phaseRestoring
	err = r.step(ctx, "Restore the databases", func(ctx context.Context) (string, error) {
		// The restore stops on a cancel, and rolls back: the runner kills
		// the run soon after its signal, and the report must say where the
		// databases are and what to run.
		ctx, stop := r.stopOnCancel(ctx)
		defer stop()
		var err error
		if changed, start, err = r.quiesce(ctx); err != nil {
			return "", err
		}
		login := database.Login{User: r.db.dbs.User}
		for _, d := range r.db.dumps {
			if err := database.RestoreDatabase(ctx, r.db.runner, r.db.dir, d, login); err != nil {
				return "", err
			}
		}
		m, err := database.ReadMigrations(ctx, r.db.runner, r.db.dbs.Pachyderm, login)
		if err != nil {
			return "", fmt.Errorf("databases restored, migrations not read back: %w", err)
		}
		if m != *r.db.before {
			return "", fmt.Errorf("databases restored, but the migrations table holds %s, not the %s of before the upgrade", m, r.db.before)
		}
		return fmt.Sprintf("restored %s from %s; migrations back to %s", strings.Join(r.db.dbs.names(), " and "), r.db.dir, m), nil
	})
	if err != nil {
		// The new revision stays: give it its replicas back.
		r.resume(ctx, changed, start)
		what := "failed"
		if r.cancelled() {
			what = "was cancelled"
		}
		r.rep.Database.Recovery = "the restore " + what + ", so the chart was not rolled back: each database is as the failed upgrade " +
			"left it or fully restored (one transaction each). To recover, run " + r.restoreCommand() +
			": it checks this run's dumps, restores the databases and rolls the chart back"
		if !r.cancelled() {
			// A cancel marks the revision in cancelRestore, with the rest of its state.
			r.markLeft(ctx, "the restore of the databases from this run's dump failed")
		}
		return false, err
	}
	r.afterRollback = func(ctx context.Context) { r.resume(ctx, changed, start) }
	return true, nil
}

// restoreCommand is the command that finishes a recovery from this run's
// dump: `pach-upgrade restore` with the snapshot the run wrote.
func (r *runner) restoreCommand() string {
	return fmt.Sprintf("`pach-upgrade restore --snapshot %s --release %s --namespace %s`", r.rep.BackupPath, r.cfg.Release, r.cfg.Namespace)
}

// resume gives quiesced workloads their replica counts back, also after a
// cancel, and counts the downtime.
func (r *runner) resume(ctx context.Context, changed []cluster.Scaled, start time.Time) {
	if len(changed) == 0 {
		return
	}
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := r.unquiesce(bctx, changed); err != nil {
		r.log.Errorf("Replicas not restored", "%v", err)
		r.rep.Warnings = append(r.rep.Warnings, "replicas not restored: "+err.Error())
	}
	r.rep.Database.Downtime += r.now().Sub(start)
}
