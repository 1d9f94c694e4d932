package upgrade

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/database"
	"github.com/pach-upgrade/pach-upgrade/internal/helmrelease"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/postgres"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

// migratingPatch makes 2.11.6 add two migrations to 2.11's 21, as a minor
// release would.
var migratingPatch = pachstandin.MigrationTable{{Since: "2.10.0", Count: 18}, {Since: "2.11.0", Count: 21}, {Since: "2.11.6", Count: 23}}

// databaseScenario is a release on the built-in PostgreSQL of the world: a
// real server that postgres-0's exec reaches and pachd's start is gated on.
func databaseScenario(t *testing.T, table pachstandin.MigrationTable) (*scenario, *postgres.Server) {
	t.Helper()
	return databaseScenarioWith(t, world.Options{Migrations: table})
}

// databaseScenarioWith is databaseScenario with more of the world's options
// (DatabaseActivity, say); opts.Database is set here.
func databaseScenarioWith(t *testing.T, opts world.Options) (*scenario, *postgres.Server) {
	t.Helper()
	srv := postgres.Start(t)
	opts.Database = srv
	s := newScenario(t, nil, opts)
	vals := baseValues()
	vals["pachd"] = map[string]any{"podAnnotations": pachstandin.PodAnnotations()}
	vals["global"] = map[string]any{"postgresql": map[string]any{"postgresqlPassword": srv.Password}}
	s.install("7.11.5", vals)
	s.setPostgresPassword(srv.Password)
	for _, db := range []string{"pachyderm", "dex"} {
		if _, err := srv.Open(t, db).Exec("CREATE TABLE sentinel (v TEXT); INSERT INTO sentinel VALUES ('before')"); err != nil {
			t.Fatal(err)
		}
	}
	return s, srv
}

func sentinels(t *testing.T, srv *postgres.Server) string {
	t.Helper()
	var out []string
	for _, db := range []string{"pachyderm", "dex"} {
		var v string
		if err := srv.Open(t, db).QueryRow("SELECT string_agg(v, ',') FROM sentinel").Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, db+":"+v)
	}
	return strings.Join(out, " ")
}

func migrationCount(t *testing.T, srv *postgres.Server) int {
	t.Helper()
	var n int
	if err := srv.Open(t, "pachyderm").QueryRow("SELECT count(*) FROM migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A patch whose new pachd adds migrations and then fails (console never
// Ready): the run restores the dump, rolls back, and the old pachd runs on
// the database as it was.
func TestFailedUpgradeAddingMigrationsRestoresTheDump(t *testing.T) {
	t.Parallel()
	s, srv := databaseScenario(t, migratingPatch)
	rep := s.run(map[string]string{
		config.InputTargetVersion:  "2.11.6",
		config.InputTimeout:        "60s",
		config.InputDatabaseBackup: "true",
		config.InputValues:         "console:\n  podAnnotations:\n    " + testenv.AnnotationNeverReady + ": \"true\"\n",
	})
	if rep.Result != report.ResultRolledBack {
		t.Fatalf("result = %s (%s), want rolled-back\n%s", rep.Result, rep.Failure, s.last)
	}
	d := rep.Database
	if d == nil || len(d.Dumps) != 2 || d.MigrationsBefore == "" || !strings.Contains(d.MigrationsAfter, "23 migrations") ||
		!strings.Contains(d.MigrationsBefore, "21 migrations") || !strings.Contains(d.Recovery, "restored") {
		t.Fatalf("database report = %+v", d)
	}
	if n := migrationCount(t, srv); n != 21 {
		t.Errorf("migrations after the recovery = %d, want 21", n)
	}
	if got := sentinels(t, srv); got != "pachyderm:before dex:before" {
		t.Errorf("sentinels after the recovery = %q", got)
	}
	s.wantRelease(3, "deployed", "2.11.5")

	// The dumps are in the snapshot with their checksums, 0600.
	var snap Snapshot
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(d.Path), "*.json"))
	if len(matches) != 1 {
		t.Fatalf("snapshots beside %s: %v", d.Path, matches)
	}
	data, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &snap); err != nil || snap.Databases == nil || len(snap.Databases.Dumps) != 2 {
		t.Fatalf("snapshot databases = %+v (%v)", snap.Databases, err)
	}
	for _, x := range snap.Databases.Dumps {
		if err := database.Check(d.Path, x); err != nil {
			t.Error(err)
		}
		if fi, err := os.Stat(filepath.Join(d.Path, x.File)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("dump %s: %v, mode %v", x.File, err, fi.Mode())
		}
	}
}

// The same failure with the dump turned off: the migrations were added and
// nothing can undo them, so the chart is not rolled back (the old pachd
// would crash-loop on the migrated database); the report gives the steps.
func TestMigrationsAddedWithoutDumpLeavesAndInstructs(t *testing.T) {
	t.Parallel()
	s, srv := databaseScenario(t, migratingPatch)
	rep := s.run(map[string]string{
		config.InputTargetVersion:  "2.11.6",
		config.InputTimeout:        "40s",
		config.InputDatabaseBackup: "false",
		config.InputValues:         "console:\n  podAnnotations:\n    " + testenv.AnnotationNeverReady + ": \"true\"\n",
	})
	if rep.Result != report.ResultFailed || rep.RolledBack != nil {
		t.Fatalf("result = %s, rollback %+v; want failed and no rollback", rep.Result, rep.RolledBack)
	}
	d := rep.Database
	want := fmt.Sprintf("helm rollback %s 1 --namespace %s", releaseName, s.ns)
	if d == nil || !strings.Contains(strings.Join(d.RecoverySteps, "\n"), want) || !strings.Contains(d.MigrationsAfter, "23 migrations") ||
		!strings.Contains(d.MigrationsBefore, "21 migrations") {
		t.Fatalf("database report = %+v; want the migrations and %q", d, want)
	}
	if !strings.Contains(report.Summary(rep), want) {
		t.Errorf("the summary lacks the recovery command")
	}
	if n := migrationCount(t, srv); n != 23 {
		t.Errorf("migrations = %d, want the 23 the new pachd left", n)
	}
	// Left, and marked failed: no one takes it for a good revision.
	s.wantRelease(2, "failed", "2.11.6")
}

// A failure with no migration added: a plain chart rollback, no restore.
func TestFailedUpgradeWithoutMigrationsRollsBackOnly(t *testing.T) {
	t.Parallel()
	s, srv := databaseScenario(t, pachstandin.DefaultMigrations)
	rep := s.run(map[string]string{
		config.InputTargetVersion:  "2.11.6",
		config.InputTimeout:        "40s",
		config.InputDatabaseBackup: "true",
		config.InputValues:         "console:\n  podAnnotations:\n    " + testenv.AnnotationNeverReady + ": \"true\"\n",
	})
	if rep.Result != report.ResultRolledBack {
		t.Fatalf("result = %s (%s), want rolled-back", rep.Result, rep.Failure)
	}
	for _, st := range rep.Steps {
		if st.Name == "Restore the databases" {
			t.Errorf("the databases were restored though no migration was added")
		}
	}
	if rep.Database == nil || !strings.Contains(rep.Database.Recovery, "no schema migration was added") {
		t.Errorf("recovery = %+v", rep.Database)
	}
	if got := sentinels(t, srv); got != "pachyderm:before dex:before" {
		t.Errorf("sentinels = %q", got)
	}
}

// restore from the artifact of a real run: the run failed with rollback
// turned off, leaving the new pachd's migrations; `restore` brings back the
// dump and the snapshot's revision, and refuses a tampered dump and another
// release's snapshot before anything changes.
func TestRestoreFromARunsBackup(t *testing.T) {
	t.Parallel()
	s, srv := databaseScenario(t, migratingPatch)
	rep := s.run(map[string]string{
		config.InputTargetVersion:     "2.11.6",
		config.InputTimeout:           "30s",
		config.InputDatabaseBackup:    "true",
		config.InputRollbackOnFailure: "false",
		config.InputValues:            "console:\n  podAnnotations:\n    " + testenv.AnnotationNeverReady + ": \"true\"\n",
	})
	if rep.Result != report.ResultFailed || rep.Database == nil || len(rep.Database.Dumps) != 2 {
		t.Fatalf("result = %s (%s), database %+v; want a failure with both dumps", rep.Result, rep.Failure, rep.Database)
	}
	if n := migrationCount(t, srv); n != 23 {
		t.Fatalf("migrations after the failed run = %d, want 23", n)
	}
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(rep.Database.Path), "*.json"))
	if len(matches) != 1 {
		t.Fatalf("snapshots: %v", matches)
	}
	snapshot := matches[0]
	helm, err := helmrelease.New(s.rc, s.ns)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	deps := func() Deps {
		return Deps{Log: report.NewCLILogger(&out, &out), Cluster: s.kube, Helm: helm}
	}
	opts := RestoreOptions{Snapshot: snapshot, Release: releaseName, Namespace: s.ns, Quiesce: true, Timeout: time.Minute}

	other := opts
	other.Release = "another"
	if err := Restore(t.Context(), other, deps()); err == nil || !strings.Contains(err.Error(), "another release") {
		t.Fatalf("restore into another release: %v", err)
	}
	plan := opts
	plan.Plan = true
	if err := Restore(t.Context(), plan, deps()); err != nil {
		t.Fatalf("plan: %v", err)
	}
	if n := migrationCount(t, srv); n != 23 {
		t.Fatalf("plan changed the database: %d migrations", n)
	}

	// One byte changed in the pachyderm dump: refused, nothing touched.
	dump := filepath.Join(rep.Database.Path, rep.Database.Dumps[0].File)
	orig, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), orig...)
	bad[len(bad)/2] ^= 0xff
	if err := os.WriteFile(dump, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Restore(t.Context(), opts, deps()); err == nil || !strings.Contains(err.Error(), "refusing to restore") {
		t.Fatalf("tampered dump: %v", err)
	}
	if n := migrationCount(t, srv); n != 23 {
		t.Fatalf("a refused restore changed the database: %d migrations", n)
	}
	if err := os.WriteFile(dump, orig, 0o600); err != nil {
		t.Fatal(err)
	}

	if err := Restore(t.Context(), opts, deps()); err != nil {
		t.Fatalf("restore: %v\n%s", err, out.String())
	}
	if n := migrationCount(t, srv); n != 21 {
		t.Errorf("migrations after restore = %d, want 21", n)
	}
	if got := sentinels(t, srv); got != "pachyderm:before dex:before" {
		t.Errorf("sentinels after restore = %q", got)
	}
	s.wantRelease(3, "deployed", "2.11.5")
}

// The plan says, before anything changes, what would be dumped and which
// recovery a failure would take, with the migrations as they are.
func TestPlanStatesTheDatabaseRecovery(t *testing.T) {
	t.Parallel()
	s, srv := databaseScenario(t, migratingPatch)
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputMode: "plan", config.InputDatabaseBackup: "true"})
	if rep.Result != report.ResultPlanned {
		t.Fatalf("result = %s (%s), want planned", rep.Result, rep.Failure)
	}
	d := rep.Database
	if d == nil || !strings.Contains(d.MigrationsBefore, "21 migrations") || !strings.Contains(d.Recovery, "restored from this run's dump") {
		t.Fatalf("plan's database section = %+v", d)
	}
	if !strings.Contains(report.Summary(rep), "### Databases") {
		t.Error("the summary has no Databases section")
	}
	if n := migrationCount(t, srv); n != 21 {
		t.Errorf("plan changed the migrations: %d", n)
	}
	s.wantRelease(1, "deployed", "2.11.5")
}
