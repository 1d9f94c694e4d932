package upgrade

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/pach-upgrade/pach-upgrade/internal/database"
	"github.com/pach-upgrade/pach-upgrade/internal/helmrelease"
	"github.com/pach-upgrade/pach-upgrade/internal/values"
)

// An external PostgreSQL (chart value postgresql.enabled: false) has no pod
// to exec into: the run reads pachd's migrations table the way pachd reaches
// it, through the release's pg-bouncer, over a port-forward, logged in as the
// user pachd uses with the password pg-bouncer is given.

// Names of the chart's pg-bouncer, and of the values that say where its
// password is (templates/pgbouncer/deployment.yaml, POSTGRESQL_PASSWORD).
const (
	pgBouncerService = "pg-bouncer"
	pgBouncerPort    = 5432

	valueSecretName = "global.postgresql.postgresqlExistingSecretName"
	valueSecretKey  = "global.postgresql.postgresqlExistingSecretKey"
	valueUsername   = "global.postgresql.postgresqlUsername"
	valueIAMLogin   = "cloudsqlAuthProxy.iamLogin"
	// The chart's defaults for the two secret values: the Secret `postgres`
	// it renders from global.postgresql.postgresqlPassword.
	defaultPasswordSecret = "postgres"
	defaultPasswordKey    = "postgresql-password"
)

// passwordSource is where pg-bouncer's password is: Secret Name, key Key.
type passwordSource struct {
	Name, Key string
	// IAM: Cloud SQL IAM login, where the chart gives pg-bouncer the fixed
	// password "password" and the proxy does the real login.
	IAM bool
}

func (p passwordSource) String() string {
	if p.IAM {
		return valueIAMLogin + " (pg-bouncer's fixed password)"
	}
	return fmt.Sprintf("secret %s key %s", p.Name, p.Key)
}

// releasePasswordSource reads, from the release's values, the Secret and
// key the chart points pg-bouncer (and pachd) at.
func releasePasswordSource(vals map[string]any) passwordSource {
	str := func(path, def string) string {
		if v, ok := values.Lookup(vals, path); ok && v != nil {
			if s := fmt.Sprint(v); s != "" {
				return s
			}
		}
		return def
	}
	return passwordSource{
		Name: str(valueSecretName, defaultPasswordSecret),
		Key:  str(valueSecretKey, defaultPasswordKey),
		IAM:  strings.EqualFold(str(valueIAMLogin, "false"), "true"),
	}
}

// externalLogin is the user and password pachd logs in with, from the
// Secret the release points pg-bouncer at. Errors name the Secret, the
// values that choose it, and the fix.
func (r *runner) externalLogin(ctx context.Context, dbs pgDatabases) (database.SQLLogin, passwordSource, error) {
	src := releasePasswordSource(r.release.Values)
	login := database.SQLLogin{User: dbs.User}
	if src.IAM {
		login.Password = "password"
		return login, src, nil
	}
	data, err := r.d.Cluster.SecretData(ctx, r.cfg.Namespace, src.Name)
	switch {
	case apierrors.IsNotFound(err):
		return login, src, fmt.Errorf("the database password: secret %s/%s, which pg-bouncer reads (value %s, default %q), does not exist: "+
			"create it, or set %s and %s to the Secret and key that hold the password pachd uses", r.cfg.Namespace, src.Name,
			valueSecretName, defaultPasswordSecret, valueSecretName, valueSecretKey)
	case apierrors.IsForbidden(err):
		return login, src, fmt.Errorf("the database password: this run may not read secret %s/%s (value %s): give its service account get on that Secret",
			r.cfg.Namespace, src.Name, valueSecretName)
	case err != nil:
		return login, src, fmt.Errorf("the database password: read secret %s/%s: %w", r.cfg.Namespace, src.Name, err)
	}
	pw := string(data[src.Key])
	if pw == "" {
		return login, src, fmt.Errorf("the database password: secret %s/%s has no key %q, or it is empty (value %s, default %q): "+
			"set %s to the key that holds the password pachd uses", r.cfg.Namespace, src.Name, src.Key, valueSecretKey, defaultPasswordKey, valueSecretKey)
	}
	// Never printed: masked in the log like every other credential.
	r.log.AddMask(pw)
	login.Password = pw
	return login, src, nil
}

// readExternalMigrations reads pachd's migrations table of an external
// database through a port-forward to the release's pg-bouncer.
func (r *runner) readExternalMigrations(ctx context.Context, dbs pgDatabases) (database.Migrations, error) {
	// One bound for the Secret, the forward and the queries.
	fctx, cancel := context.WithTimeout(ctx, database.ExternalReadTimeout)
	defer cancel()
	login, src, err := r.externalLogin(fctx, dbs)
	if err != nil {
		return database.Migrations{}, err
	}
	addr, stop, err := r.d.Cluster.PortForward(fctx, r.cfg.Namespace, pgBouncerService, pgBouncerPort)
	if err != nil {
		return database.Migrations{}, fmt.Errorf("reach the database through pg-bouncer: %w "+
			"(the release's pg-bouncer must be Ready, and this run's service account needs create on pods/portforward)", err)
	}
	defer stop()
	m, err := database.ReadMigrationsSQL(fctx, addr, dbs.Pachyderm, login)
	if err != nil && database.AuthFailed(err) {
		return m, fmt.Errorf("%w: the password in %s is not accepted for user %s (value %s): "+
			"make it the password pachd logs in with", err, src, login.User, valueUsername)
	}
	if err != nil {
		return m, fmt.Errorf("through service %s/%s: %w", r.cfg.Namespace, pgBouncerService, err)
	}
	return m, nil
}

// externalBefore reads the migrations of an external database before any
// change, for the report and the recovery. A read that fails does not stop
// the upgrade: the recovery then cannot know what the new pachd did, and
// the plan and a warning say so. It returns a line for the step.
func (r *runner) externalBefore(ctx context.Context, dbs pgDatabases) string {
	rd := r.dbReport()
	if r.db == nil {
		// A plan keeps what it read as an apply would.
		r.db = &dbState{dbs: dbs}
	}
	m, err := r.readExternalMigrations(ctx, dbs)
	if err != nil {
		rd.Recovery = planRecovery(false)
		r.log.Warningf("Migrations not read", "%v", err)
		r.rep.Warnings = append(r.rep.Warnings, fmt.Sprintf("pachd's migrations table was not read (%v): "+
			"a failure would be rolled back without knowing whether the new pachd migrated the database", r.log.Redact(err.Error())))
		return "; migrations not read"
	}
	r.db.before, rd.MigrationsBefore = &m, m.String()
	r.db.read = func(ctx context.Context) (database.Migrations, error) { return r.readExternalMigrations(ctx, dbs) }
	rd.Recovery = planRecoveryExternal
	return fmt.Sprintf(" (%s, read through pg-bouncer)", m)
}

// planRecoveryExternal is the plan's word for an external database whose
// migrations were read.
const planRecoveryExternal = "this run cannot dump an external database: if the upgrade fails after the new pachd added schema migrations, " +
	"the chart is not rolled back (the old pachd would refuse the migrated database): the new revision is left, marked failed, " +
	"and the summary gives the steps: restore the databases from your backup-command's backup, then helm rollback; " +
	"with no migration added, the chart is rolled back; if the migrations cannot be read after the failure, the chart is left likewise"

// migrationsAfter reads the migrations again after a failure, wherever
// they are; nil and the reason when they cannot be read.
func (r *runner) migrationsAfter(ctx context.Context) (*database.Migrations, error) {
	var m database.Migrations
	var err error
	switch {
	case r.db.runner != nil:
		m, err = database.ReadMigrations(ctx, r.db.runner, r.db.dbs.Pachyderm, database.Login{User: r.db.dbs.User})
	case r.db.read != nil:
		m, err = r.db.read(ctx)
	default:
		return nil, nil
	}
	if err != nil {
		r.log.Warningf("Migrations not read", "%v", err)
		return nil, err
	}
	r.rep.Database.MigrationsAfter = m.String()
	return &m, nil
}

// leaveAndInstruct is the recovery when nothing this run holds can undo
// what the new pachd did to the database: the new revision stays, marked
// failed so that no one (and no later run) takes it for a good one, and the
// log, the summary and the comment give the exact steps. why says why the
// chart was not rolled back.
func (r *runner) leaveAndInstruct(ctx context.Context, why string) {
	steps := r.recoverySteps()
	rd := r.rep.Database
	rd.RecoverySteps = steps
	rd.Recovery = why + ": the chart was not rolled back (the old pachd would refuse the migrated database); recover by hand with the steps listed"
	r.log.Errorf("Not rolled back: recover by hand", "%s.\n%s", why, numbered(steps))
	r.markLeft(ctx, why)
}

// markLeft records on the revision this run applied that it failed and was left because
// its pachd migrated (or may have migrated) the database: `helm history` shows it, and a
// later run starting from it knows that a rollback cannot bring the old pachd back
// (decideStart's DatabaseAhead).
func (r *runner) markLeft(ctx context.Context, why string) {
	if r.applied == 0 {
		return
	}
	desc := fmt.Sprintf("%s: %s; restore databases %s from backup, then roll back to revision %d",
		helmrelease.LeftMark, why, r.databaseNames(), r.release.Revision)
	if err := r.d.Helm.MarkFailed(ctx, r.cfg.Release, r.applied, desc); err != nil {
		r.log.Warningf("Revision not marked failed", "%v", err)
		r.rep.Warnings = append(r.rep.Warnings, fmt.Sprintf("revision %d was not marked failed (%v): it shows as deployed, but it did not pass", r.applied, err))
	}
}

// recoverySteps are the commands that bring the old version back by hand
// when the run left the new revision: pachd stopped, the databases
// restored from the backup taken before the upgrade, the chart rolled back.
func (r *runner) recoverySteps() []string {
	rel, ns := shellWord(r.cfg.Release), shellWord(r.cfg.Namespace)
	dbs := r.databaseNames()
	var backup string
	switch {
	case r.start.DatabaseAhead:
		// This run's backups were taken after the earlier run's pachd migrated the database.
		backup = fmt.Sprintf("the backup taken before revision %d was applied (by the earlier run that left it; this run's backups already hold the migrated database)",
			r.latest.Revision)
	case r.cfg.BackupCommand != "" && r.rep.BackupPath != "":
		backup = fmt.Sprintf("the backup your backup-command took in this run, before any change (the one it made with PACH_UPGRADE_SNAPSHOT=%s)",
			filepath.Base(r.rep.BackupPath))
	case r.cfg.BackupCommand != "":
		backup = "the backup your backup-command took in this run, before any change"
	default:
		backup = "your latest backup taken before this run (this run was given no backup-command)"
	}
	from := ""
	if r.from != nil {
		from = " (Pachyderm " + r.from.String() + ")"
	}
	before := ""
	if r.db != nil && r.db.before != nil {
		before = fmt.Sprintf("; the migrations table of database %s holds %s again", r.db.dbs.Pachyderm, r.db.before)
	}
	return []string{
		fmt.Sprintf("Stop pachd so that it does not write to the databases while they are restored: `kubectl scale deployment pachd --replicas=0 -n %s`", ns),
		fmt.Sprintf("Restore databases %s from %s", dbs, backup),
		fmt.Sprintf("Roll the chart back to revision %d%s: `helm rollback %s %d --namespace %s --wait --timeout 10m`",
			r.release.Revision, from, rel, r.release.Revision, ns),
		fmt.Sprintf("Check that pachd is Ready at the old version: `kubectl get pods -n %s`, `pachctl version`%s", ns, before),
	}
}

// databaseNames names the databases a person restores by hand.
func (r *runner) databaseNames() string {
	if r.db == nil {
		return "pachyderm and dex"
	}
	return strings.Join(r.db.dbs.names(), " and ")
}

// shellWord quotes s for a shell when it holds anything but the characters
// Kubernetes names use.
func shellWord(s string) string {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

func numbered(steps []string) string {
	var b strings.Builder
	for i, s := range steps {
		fmt.Fprintf(&b, "%d. %s\n", i+1, s)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// leaveReason says why the chart is left: the migrations added, or that
// they could not be read (err) after the failure.
func leaveReason(before, after *database.Migrations, err error) string {
	if after == nil {
		why := "pachd's migrations table could not be read after the failure"
		if err != nil {
			why += " (" + err.Error() + ")"
		}
		return why + ", so whether the new pachd migrated the database is not known, and this run holds no dump to undo it"
	}
	if before == nil {
		return fmt.Sprintf("the new pachd left %s and this run holds no dump to undo it", after)
	}
	return fmt.Sprintf("the new pachd added schema migrations (%d → %d; now %s) and this run holds no dump to undo them",
		before.Count, after.Count, after)
}
