package upgrade

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/database"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
)

// RestoreOptions say what `pach-upgrade restore` brings back.
type RestoreOptions struct {
	// Snapshot is the release snapshot a run wrote (its JSON file); the
	// dumps are in the folder it names beside it.
	Snapshot string
	// Release and Namespace must be the snapshot's: a dump is never
	// restored into another release's databases.
	Release, Namespace string
	// Plan checks everything and says what would happen, changing nothing.
	Plan    bool
	Quiesce bool
	Timeout time.Duration
}

// Restore is the after-the-fact recovery from a run's backup: it checks
// the dumps against the snapshot, quiesces pachd and the pipeline workers,
// restores both databases, rolls the chart back to the snapshot's revision
// and checks that the release is Ready and the migrations are the
// snapshot's. Every check runs before anything changes.
func Restore(ctx context.Context, o RestoreOptions, d Deps) error {
	if d.Now == nil {
		d.Now = time.Now
	}
	snap, dir, err := readSnapshot(o.Snapshot)
	if err != nil {
		return err
	}
	if o.Release != snap.Release || o.Namespace != snap.Namespace {
		return fmt.Errorf("snapshot %s is of release %s/%s, not %s/%s: refusing to restore another release's databases",
			o.Snapshot, snap.Namespace, snap.Release, o.Namespace, o.Release)
	}
	if snap.Databases == nil || len(snap.Databases.Dumps) == 0 {
		return fmt.Errorf("snapshot %s holds no database dump (the run used an external database or database-backup false)", o.Snapshot)
	}
	dumps := filepath.Join(dir, snap.Databases.Dir)
	for _, x := range snap.Databases.Dumps {
		if err := database.Check(dumps, x); err != nil {
			return fmt.Errorf("refusing to restore: %w", err)
		}
	}
	d.Log.Infof("dumps of %s checked against the snapshot", dumpNames(snap.Databases.Dumps))
	rel, err := d.Helm.Get(ctx, o.Release)
	if err != nil {
		return err
	}
	r := &runner{
		cfg: &config.Config{Release: o.Release, Namespace: o.Namespace, Timeout: o.Timeout,
			Database: config.DatabaseOptions{Quiesce: o.Quiesce}},
		d: d, log: d.Log, now: d.Now, runCtx: ctx,
		rep: &report.Report{Release: o.Release, Namespace: o.Namespace, Database: &report.Database{Builtin: true}},
	}
	run, err := r.databaseRunner(ctx)
	if err != nil {
		return err
	}
	login := database.Login{User: snap.Databases.User}
	now, err := database.ReadMigrations(ctx, run, databaseOf(snap.Databases.Dumps, 0), login)
	if err != nil {
		return err
	}
	d.Log.Infof("release %s/%s is at revision %d (%s); migrations now: %s; in the snapshot: %s",
		o.Namespace, o.Release, rel.Revision, rel.AppVersion, now, snap.Databases.Migrations)
	if o.Plan {
		d.Log.Infof("plan: restore %s from %s, then roll release %s/%s back to revision %d (Pachyderm %s); nothing changed",
			dumpNames(snap.Databases.Dumps), dumps, o.Namespace, o.Release, snap.Revision, snap.AppVersion)
		return nil
	}
	// pachd stays down from the restore through the rollback: the pachd
	// of the current revision would migrate the restored database again.
	changed, start := []cluster.Scaled(nil), d.Now()
	if o.Quiesce {
		changed, start, err = r.quiesce(ctx)
		defer func() { r.resume(ctx, changed, start) }() // no-op once resumed below
		if err != nil {
			return err
		}
	}
	for _, x := range snap.Databases.Dumps {
		if err := database.RestoreDatabase(ctx, run, dumps, x, login); err != nil {
			what := "restore"
			if ctx.Err() != nil {
				what = "restore cancelled"
			}
			return fmt.Errorf("%s: %w; each database is restored in one transaction, so each is as it was or fully restored, never half; "+
				"the release is unchanged at revision %d%s. Run the same command again (pach-upgrade restore --snapshot %s --release %s --namespace %s): "+
				"it restores every database from the start", what, err, rel.Revision, givenBack(o.Quiesce), o.Snapshot, o.Release, o.Namespace)
		}
		d.Log.Infof("restored database %s", x.Database)
	}
	if rel.Revision != snap.Revision {
		if err := d.Helm.Rollback(ctx, o.Release, snap.Revision, o.Timeout); err != nil {
			return fmt.Errorf("databases restored, chart not rolled back: %w; run helm rollback %s %d --namespace %s --wait",
				err, o.Release, snap.Revision, o.Namespace)
		}
		d.Log.Infof("rolled release %s/%s back to revision %d", o.Namespace, o.Release, snap.Revision)
	}
	r.resume(ctx, changed, start)
	changed = nil
	d.Log.Infof("databases restored; pachd and pipelines were down %s", r.rep.Database.Downtime.Round(time.Millisecond))
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := r.waitReady(wctx); err != nil {
		return fmt.Errorf("restored and rolled back, but the release is not Ready: %w", err)
	}
	after, err := database.ReadMigrations(ctx, run, databaseOf(snap.Databases.Dumps, 0), login)
	if err != nil {
		return err
	}
	if after != snap.Databases.Migrations {
		return fmt.Errorf("restored, but the migrations table holds %s, not the snapshot's %s", after, snap.Databases.Migrations)
	}
	d.Log.Infof("release %s/%s Ready at revision %d; migrations %s as in the snapshot", o.Namespace, o.Release, snap.Revision, after)
	return nil
}

// givenBack says, for an error, that a quiesce was undone.
func givenBack(quiesced bool) string {
	if !quiesced {
		return ""
	}
	return "; pachd and the pipeline workers get their replicas back as this command ends"
}

// readSnapshot reads a run's snapshot file and returns it with its folder.
func readSnapshot(path string) (*Snapshot, string, error) {
	if path == "" {
		return nil, "", errors.New("restore: --snapshot is required: the release snapshot (.json) a run wrote into its backup folder")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("restore: read snapshot: %w", err)
	}
	var s Snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, "", fmt.Errorf("restore: snapshot %s is not a run's snapshot: %w", path, err)
	}
	if s.Databases != nil && (s.Databases.Dir == "" || s.Databases.Dir != filepath.Base(s.Databases.Dir)) {
		return nil, "", fmt.Errorf("restore: snapshot %s names dump folder %q, not a folder beside it", path, s.Databases.Dir)
	}
	return &s, filepath.Dir(path), nil
}

func dumpNames(ds []database.Dump) string {
	var n []string
	for _, d := range ds {
		n = append(n, d.Database)
	}
	return strings.Join(n, " and ")
}

// databaseOf is the i-th dump's database: the first is pachd's.
func databaseOf(ds []database.Dump, i int) string { return ds[i].Database }
