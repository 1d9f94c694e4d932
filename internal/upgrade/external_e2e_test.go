package upgrade

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/postgres"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

// externalScenario is a release on an external PostgreSQL (postgresql.enabled: false): the
// world's real server, which pachd's start is gated on and which a port-forward to the
// release's pg-bouncer pod reaches. No postgres pod exists to exec into. With secret set, the
// password is in that existing Secret (key "password") and the values name it; otherwise the
// chart renders Secret postgres from global.postgresql.postgresqlPassword.
func externalScenario(t *testing.T, chartVersion, secret string) (*scenario, *postgres.Server) {
	t.Helper()
	srv := postgres.Start(t)
	s := newScenario(t, nil, world.Options{Database: srv, Migrations: pachstandin.DefaultMigrations})
	s.publish = true
	pg := map[string]any{"postgresqlHost": "db.example.internal", "postgresqlPort": "5432", "postgresqlSSL": "require"}
	if secret != "" {
		_, err := s.w.Kube.CoreV1().Secrets(s.ns).Create(context.Background(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: secret},
			Data:       map[string][]byte{"password": []byte(srv.Password)},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pg["postgresqlExistingSecretName"], pg["postgresqlExistingSecretKey"] = secret, "password"
		pg["postgresqlPassword"] = ""
	} else {
		pg["postgresqlPassword"] = srv.Password
	}
	vals := baseValues()
	vals["postgresql"] = map[string]any{"enabled": false}
	vals["pachd"] = map[string]any{"podAnnotations": pachstandin.PodAnnotations()}
	vals["global"] = map[string]any{"postgresql": pg}
	s.install(chartVersion, vals)
	if _, err := s.w.Kube.CoreV1().Pods(s.ns).Get(context.Background(), postgres.Pod, metav1.GetOptions{}); err == nil {
		t.Fatalf("pod %s exists: the release should have no built-in PostgreSQL", postgres.Pod)
	}
	return s, srv
}

// A minor upgrade (2.10.7 → 2.11.6) on an external database whose new pachd adds migrations
// (18 → 21) and then fails a check: this run holds no dump, so the chart is not rolled back.
// The plan says so before anything changes; the run leaves the new revision marked failed,
// its result is failed, and the log, the summary and the comment give the steps with the
// revision to roll back to.
func TestExternalDatabaseMigrationsAddedLeavesAndInstructs(t *testing.T) {
	t.Parallel()
	s, srv := externalScenario(t, "7.10.0", "")
	if n := migrationCount(t, srv); n != 18 {
		t.Fatalf("migrations after install = %d, want 2.10's 18", n)
	}
	inputs := map[string]string{
		config.InputTargetVersion: "2.11.6",
		config.InputTimeout:       "40s",
		config.InputValues:        "console:\n  podAnnotations:\n    " + testenv.AnnotationNeverReady + ": \"true\"\n",
		// What a user's command would dump: the databases it is told to cover.
		config.InputBackupCommand: `echo "would dump $PACH_UPGRADE_DATABASES at $PACH_UPGRADE_DATABASE_HOST"`,
	}

	plan := map[string]string{config.InputMode: "plan"}
	for k, v := range inputs {
		if _, ok := plan[k]; !ok {
			plan[k] = v
		}
	}
	rep := s.run(plan)
	if rep.Result != report.ResultPlanned {
		t.Fatalf("plan: result = %s (%s)", rep.Result, rep.Failure)
	}
	if d := rep.Database; d == nil || d.Builtin || !strings.Contains(d.MigrationsBefore, "18 migrations") ||
		!strings.Contains(d.Recovery, "the chart is not rolled back") {
		t.Errorf("plan's database section = %+v; want the 18 migrations and that the chart would be left", d)
	}

	rep = s.run(inputs)
	if rep.Result != report.ResultFailed || rep.RolledBack != nil {
		t.Fatalf("result = %s, rollback %+v; want failed and no rollback (%s)\n%s", rep.Result, rep.RolledBack, rep.Failure, s.lastOutput())
	}
	s.wantRelease(2, "failed", "2.11.6")
	if n := migrationCount(t, srv); n != 21 {
		t.Errorf("migrations = %d, want the 21 the new pachd left", n)
	}
	d := rep.Database
	if d == nil || !strings.Contains(d.MigrationsBefore, "18 migrations") || !strings.Contains(d.MigrationsAfter, "21 migrations") {
		t.Fatalf("database report = %+v; want 18 migrations before and 21 after", d)
	}
	rollback := fmt.Sprintf("helm rollback %s 1 --namespace %s", releaseName, s.ns)
	restore := "Restore databases pachyderm and dex from the backup your backup-command took in this run, before any change " +
		"(the one it made with PACH_UPGRADE_SNAPSHOT=" + filepath.Base(rep.BackupPath) + ")"
	out := s.lastOutput()
	for name, text := range map[string]string{"log and summary": out, "comment": s.comment()} {
		for _, want := range []string{rollback, restore, "18 migrations"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
	}
	if !strings.Contains(out, "result=failed") {
		t.Errorf("the outputs do not say result=failed")
	}
	if !strings.Contains(out, "Not rolled back: recover by hand") {
		t.Errorf("the log has no group with the recovery steps")
	}
	s.assertNeverLeaked(srv.Password)

	// A second run that fails again must not roll back either: what it reads before its
	// upgrade is already the migrated database, so "no migration added" says nothing of
	// whether revision 1's pachd can start.
	rep = s.run(inputs)
	if rep.Result != report.ResultFailed || rep.RolledBack != nil {
		t.Fatalf("second run: result = %s, rollback %+v; want failed and no rollback (%s)\n%s", rep.Result, rep.RolledBack, rep.Failure, s.lastOutput())
	}
	s.wantRelease(3, "failed", "2.11.6")
	out = s.lastOutput()
	for _, want := range []string{"revision 2, which an earlier run left", "the backup taken before revision 2 was applied", rollback} {
		if !strings.Contains(out, want) {
			t.Errorf("second run's log and summary lack %q", want)
		}
	}
}

// The same external database with the password in an existing Secret, and a patch whose
// new pachd adds no migration before it fails: a plain chart rollback, with the migrations
// read before and after through pg-bouncer.
func TestExternalDatabaseNoMigrationAddedRollsBack(t *testing.T) {
	t.Parallel()
	s, srv := externalScenario(t, "7.11.5", "pach-db")

	// A Secret that holds a wrong password, then none: the plan warns, naming the Secret,
	// the value that chooses it and the fix, and says a failure would be rolled back blind.
	secrets := s.w.Kube.CoreV1().Secrets(s.ns)
	setPassword := func(pw string) {
		t.Helper()
		sec, err := secrets.Get(context.Background(), "pach-db", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sec.Data["password"] = []byte(pw)
		if _, err := secrets.Update(context.Background(), sec, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	planWarning := func(want ...string) {
		t.Helper()
		rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputMode: "plan"})
		w := strings.Join(rep.Warnings, "\n")
		for _, x := range want {
			if !strings.Contains(w, x) {
				t.Errorf("plan warnings %q lack %q", w, x)
			}
		}
		if rep.Database == nil || rep.Database.MigrationsBefore != "" || !strings.Contains(rep.Database.Recovery, "rolled back") {
			t.Errorf("plan's database section = %+v; want no migrations and the blind rollback said", rep.Database)
		}
	}
	const wrong = "Wr0ng-pAssword"
	setPassword(wrong)
	planWarning("secret pach-db key password is not accepted for user pachyderm", "global.postgresql.postgresqlUsername")
	s.assertNeverLeaked(wrong)
	if err := secrets.Delete(context.Background(), "pach-db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	planWarning("secret "+s.ns+"/pach-db", "does not exist", "global.postgresql.postgresqlExistingSecretName")
	if _, err := secrets.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pach-db"},
		Data: map[string][]byte{"password": []byte(srv.Password)}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	rep := s.run(map[string]string{
		config.InputTargetVersion: "2.11.6",
		config.InputTimeout:       "40s",
		config.InputValues:        "console:\n  podAnnotations:\n    " + testenv.AnnotationNeverReady + ": \"true\"\n",
	})
	if rep.Result != report.ResultRolledBack {
		t.Fatalf("result = %s (%s), want rolled-back\n%s", rep.Result, rep.Failure, s.lastOutput())
	}
	s.wantRelease(3, "deployed", "2.11.5")
	d := rep.Database
	if d == nil || !strings.Contains(d.MigrationsBefore, "21 migrations") || !strings.Contains(d.MigrationsAfter, "21 migrations") ||
		!strings.Contains(d.Recovery, "no schema migration was added") || len(d.RecoverySteps) != 0 {
		t.Fatalf("database report = %+v; want 21 migrations before and after and a plain rollback", d)
	}
	s.assertNeverLeaked(srv.Password)
}
