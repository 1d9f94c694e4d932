package upgrade

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/actionrun"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin/pachpb"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/postgres"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

// activity counts pachd's writes (table standin_activity) before, inside
// and after the window [from, until].
func activity(t *testing.T, srv *postgres.Server, from, until time.Time) (before, inside, after int) {
	t.Helper()
	err := srv.Open(t, "pachyderm").QueryRow(`SELECT
		count(*) FILTER (WHERE at < $1),
		count(*) FILTER (WHERE at >= $1 AND at <= $2),
		count(*) FILTER (WHERE at > $2)
		FROM standin_activity`, from, until).Scan(&before, &inside, &after)
	if err != nil {
		t.Fatal(err)
	}
	return before, inside, after
}

// wantGivenBack checks that pachd runs its one replica again and that no
// workload still carries a recorded replica count.
func (s *scenario) wantGivenBack() {
	s.t.Helper()
	d, err := s.w.Kube.AppsV1().Deployments(s.ns).Get(context.Background(), "pachd", metav1.GetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		s.t.Errorf("pachd replicas = %v, want 1 given back", d.Spec.Replicas)
	}
	left, err := s.kube.Quiesced(context.Background(), s.ns)
	if err != nil || len(left) != 0 {
		s.t.Errorf("workloads still recorded as quiesced: %+v (%v)", left, err)
	}
}

// The dump is taken with nothing writing: pachd writes a row every 50ms
// while it runs unpaused, and none falls inside the quiesce, whether it is
// `pachctl enterprise pause` (enterprise active) or pachd scaled to zero.
func TestDumpWhileQuiescedWritesNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		enterprise bool
		method     string
	}{
		{"enterprise pause", true, report.QuiescePause},
		{"scaled to zero", false, report.QuiesceScale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, srv := databaseScenarioWith(t, world.Options{Migrations: pachstandin.DefaultMigrations, DatabaseActivity: 50 * time.Millisecond})
			if tc.enterprise {
				s.w.Pachd.SetEnterprise(pachpb.EnterpriseActive)
			}
			// pachd has been writing before the run starts.
			time.Sleep(time.Second)
			rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "90s", config.InputDatabaseBackup: "true"})
			if rep.Result != report.ResultUpgraded {
				t.Fatalf("result = %s (%s), want upgraded\n%s", rep.Result, rep.Failure, s.last)
			}
			d := rep.Database
			if d == nil || d.QuiesceMethod != tc.method || d.QuiescedFrom.IsZero() || !d.QuiescedUntil.After(d.QuiescedFrom) || d.Downtime <= 0 {
				t.Fatalf("database report = %+v, want quiesced by %s with its window and downtime", d, tc.method)
			}
			if tc.enterprise != (len(d.Quiesced) == 0) {
				t.Errorf("workloads scaled = %v with enterprise %t", d.Quiesced, tc.enterprise)
			}
			if tc.enterprise && s.w.Pachd.PausedByEnterprise() {
				t.Error("pachd is still paused after the run")
			}
			sum := report.Summary(rep)
			if tc.enterprise && !strings.Contains(sum, "Quiesced with `pachctl enterprise pause` for") {
				t.Errorf("the summary does not say how the dump was quiesced:\n%s", sum)
			}
			before, inside, after := activity(t, srv, d.QuiescedFrom, d.QuiescedUntil)
			t.Logf("%s: quiesced %s (window %s); pachd's writes before %d, inside %d, after %d",
				tc.method, d.Downtime, d.QuiescedUntil.Sub(d.QuiescedFrom), before, inside, after)
			if before == 0 || after == 0 {
				t.Fatalf("pachd wrote %d rows before the quiesce and %d after: the activity this test watches did not run", before, after)
			}
			if inside != 0 {
				t.Errorf("%d rows written while quiesced", inside)
			}
			wantOwnershipBeside(t, rep, false)
			s.wantGivenBack()
		})
	}
}

// A dump that fails half way (database dex is gone, after pachyderm was
// dumped while pachd was down) aborts the run before the upgrade: nothing
// upgraded, no half backup left, and pachd's replicas given back.
func TestFailedDumpAbortsWithReplicasGivenBack(t *testing.T) {
	t.Parallel()
	s, srv := databaseScenario(t, pachstandin.DefaultMigrations)
	if _, err := srv.Open(t, "postgres").Exec("DROP DATABASE dex WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "60s", config.InputDatabaseBackup: "true"})
	if rep.Result != report.ResultFailed || !strings.Contains(rep.Failure, "database backup failed") {
		t.Fatalf("result = %s (%s), want failed by the dump", rep.Result, rep.Failure)
	}
	for _, st := range rep.Steps {
		if st.Name == "Helm upgrade" {
			t.Errorf("the upgrade ran after a failed dump: %+v", st)
		}
	}
	d := rep.Database
	if d == nil || len(d.Quiesced) == 0 || !strings.Contains(d.Quiesced[0], "pachd") || d.QuiescedUntil.IsZero() {
		t.Fatalf("database report = %+v, want pachd quiesced and given back", d)
	}
	if len(d.Dumps) != 0 || d.Path != "" {
		t.Errorf("a failed dump is reported as a backup: %+v", d)
	}
	s.wantRelease(1, "deployed", "2.11.5")
	s.wantGivenBack()
}

// databaseFolders lists the dump folders (…-databases) under dir.
func databaseFolders(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() && strings.HasSuffix(e.Name(), "-databases") {
			out = append(out, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// bulk makes database pachyderm big enough (some 40 MB of hex) that its
// dump lasts while a test signals the run.
func bulk(t *testing.T, srv *postgres.Server) {
	t.Helper()
	if _, err := srv.Open(t, "pachyderm").Exec(`CREATE TABLE bulk AS
		SELECT md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) AS v FROM generate_series(1, 400000) g`); err != nil {
		t.Fatal(err)
	}
}

// dumpRunner is the binary as an Actions step against s, stopped by sig as
// soon as the log says pachd is quiesced for the dump.
func (s *scenario) dumpRunner(sig os.Signal) (actionrun.Runner, map[string]string, *armedWriter, context.Context) {
	s.t.Helper()
	bin, err := binary()
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.t.Cleanup(cancel)
	out := &armedWriter{after: "quiesced: ", fire: cancel}
	runner := actionrun.Runner{Binary: bin, Dir: s.t.TempDir(), Repository: "acme/platform",
		APIURL: s.w.GitHub.APIURL, ServerURL: s.w.GitHub.ServerURL,
		Env:    []string{"KUBECONFIG=" + testenv.Kubeconfig(s.t)},
		Cancel: []actionrun.Signal{{Signal: sig}}, Output: out}
	inputs := s.w.Inputs()
	inputs[config.InputRelease] = releaseName
	inputs[config.InputGitHubToken] = "test-token"
	inputs[config.InputTargetVersion] = "2.11.6"
	inputs[config.InputTimeout] = "2m"
	inputs[config.InputComment] = "false"
	inputs[config.InputDatabaseBackup] = "true"
	return runner, inputs, out, ctx
}

// SIGINT during the dump: the run ends cancelled with no half state (no
// partial dump folder, the release as it was), pachd given back its
// replicas, and the report says so and what to do next.
func TestSIGINTDuringTheDump(t *testing.T) {
	t.Parallel()
	s, srv := databaseScenario(t, pachstandin.DefaultMigrations)
	bulk(t, srv)
	runner, inputs, out, ctx := s.dumpRunner(os.Interrupt)
	res, err := runner.Run(ctx, inputs)
	if err != nil {
		t.Fatal(err)
	}
	if !out.fired() || len(res.Signals) != 1 {
		t.Fatalf("the run was not interrupted while quiesced (signals %v):\n%s", res.Signals, res.Log)
	}
	if got := res.Outputs["result"]; got != "cancelled" || res.ExitCode != 1 {
		t.Fatalf("result %q, exit %d; want cancelled, 1:\n%s", got, res.ExitCode, res.Log)
	}
	for _, want := range []string{"Cancelled", "the database dump was stopped and its partial files removed",
		"pachd and the pipeline workers given back their replicas", "nothing to recover: run it again"} {
		if !strings.Contains(res.Summary, want) {
			t.Errorf("job summary lacks %q:\n%s", want, res.Summary)
		}
	}
	if dirs := databaseFolders(t, runner.Dir); len(dirs) != 0 {
		t.Errorf("half a backup left: %v", dirs)
	}
	s.wantRelease(1, "deployed", "2.11.5")
	s.wantGivenBack()
}

// SIGKILL while pachd is scaled to zero for the dump: nothing in the
// process can give the replicas back, but the count was recorded on the
// Deployment first. The plan says the next apply gives them back, and the
// next apply does so before anything else, then upgrades.
func TestSIGKILLWhileQuiescedNextRunGivesReplicasBack(t *testing.T) {
	t.Parallel()
	s, srv := databaseScenario(t, pachstandin.DefaultMigrations)
	bulk(t, srv)
	runner, inputs, out, ctx := s.dumpRunner(os.Kill)
	res, err := runner.Run(ctx, inputs)
	if err != nil {
		t.Fatal(err)
	}
	if !out.fired() || len(res.Signals) != 1 {
		t.Fatalf("the run was not killed while quiesced (signals %v):\n%s", res.Signals, res.Log)
	}
	left, err := s.kube.Quiesced(context.Background(), s.ns)
	if err != nil || len(left) != 1 || left[0].Name != "pachd" || left[0].Replicas != 1 {
		t.Fatalf("after the kill, recorded = %+v (%v); want pachd's 1", left, err)
	}
	d, err := s.w.Kube.AppsV1().Deployments(s.ns).Get(context.Background(), "pachd", metav1.GetOptions{})
	if err != nil || d.Spec.Replicas == nil || *d.Spec.Replicas != 0 {
		t.Fatalf("pachd after the kill: %v replicas (%v), want 0", d.Spec.Replicas, err)
	}
	// The killed process held the Lease; it expires, or a person deletes it.
	err = s.w.Kube.CoordinationV1().Leases(s.ns).Delete(context.Background(), cluster.LeaseName(releaseName), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}

	plan := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputMode: "plan"})
	if st := giveBackStep(t, plan); plan.Result != report.ResultPlanned ||
		!strings.Contains(st.Detail, "an apply run gives them back before anything else: Deployment/pachd: 1") {
		t.Fatalf("plan = %s (%s), step %+v", plan.Result, plan.Failure, st)
	}
	if d, _ := s.w.Kube.AppsV1().Deployments(s.ns).Get(context.Background(), "pachd", metav1.GetOptions{}); *d.Spec.Replicas != 0 {
		t.Fatalf("the plan changed pachd's replicas to %d", *d.Spec.Replicas)
	}

	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "2m", config.InputDatabaseBackup: "true"})
	if rep.Result != report.ResultUpgraded {
		t.Fatalf("next run: %s (%s)\n%s", rep.Result, rep.Failure, s.last)
	}
	if st := giveBackStep(t, rep); rep.Database == nil || strings.Join(rep.Database.Resumed, ",") != "Deployment/pachd: 1" ||
		!strings.Contains(st.Detail, "given back: Deployment/pachd: 1") {
		t.Errorf("step %+v, resumed %+v; want pachd given back first", st, rep.Database)
	}
	if !strings.Contains(report.Summary(rep), "given back first: Deployment/pachd: 1") {
		t.Errorf("the summary does not say what was given back")
	}
	s.wantGivenBack()
}

// giveBackStep is the run's "Give back quiesced workloads" step, which must
// come before every step that reads or changes the release.
func giveBackStep(t *testing.T, rep *report.Report) report.Step {
	t.Helper()
	for _, st := range rep.Steps {
		switch st.Name {
		case "Give back quiesced workloads":
			return st
		case "Lock the release":
		default:
			t.Fatalf("step %q ran before the quiesced workloads were given back: %+v", st.Name, rep.Steps)
		}
	}
	t.Fatalf("no step gave back the quiesced workloads: %+v", rep.Steps)
	return report.Step{}
}

// SIGKILL while pachd is paused for the dump (enterprise active): the pause
// was recorded on pachd first. The plan says the next apply unpauses, and
// the next apply unpauses as soon as pachctl is installed, then upgrades.
func TestSIGKILLWhilePausedNextRunUnpauses(t *testing.T) {
	t.Parallel()
	s, srv := databaseScenario(t, pachstandin.DefaultMigrations)
	s.w.Pachd.SetEnterprise(pachpb.EnterpriseActive)
	bulk(t, srv)
	runner, inputs, out, ctx := s.dumpRunner(os.Kill)
	res, err := runner.Run(ctx, inputs)
	if err != nil {
		t.Fatal(err)
	}
	if !out.fired() || len(res.Signals) != 1 || !strings.Contains(res.Log, "quiesced: pachctl enterprise pause") {
		t.Fatalf("the run was not killed while pachd was paused (signals %v):\n%s", res.Signals, res.Log)
	}
	marked, err := s.kube.Annotated(context.Background(), s.ns, pachdSelector, cluster.AnnotationEnterprisePaused)
	if !s.w.Pachd.PausedByEnterprise() || err != nil || len(marked) != 1 {
		t.Fatalf("after the kill: paused %t, recorded on %+v (%v); want paused and recorded on pachd", s.w.Pachd.PausedByEnterprise(), marked, err)
	}
	err = s.w.Kube.CoordinationV1().Leases(s.ns).Delete(context.Background(), cluster.LeaseName(releaseName), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}

	plan := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputMode: "plan"})
	if st := giveBackStep(t, plan); !strings.Contains(st.Detail, "an apply run unpauses it as soon as pachctl is installed") {
		t.Fatalf("plan = %s (%s), step %+v", plan.Result, plan.Failure, st)
	}
	if !s.w.Pachd.PausedByEnterprise() {
		t.Fatal("the plan unpaused pachd")
	}

	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "2m", config.InputDatabaseBackup: "true"})
	if rep.Result != report.ResultUpgraded {
		t.Fatalf("next run: %s (%s)\n%s", rep.Result, rep.Failure, s.last)
	}
	if st := stepNamed(t, rep, "Unpause pachd"); st.Outcome != report.OutcomeOK || !strings.Contains(st.Detail, "pachd unpaused") {
		t.Errorf("unpause step = %+v", st)
	}
	wantStepOrder(t, rep, "Give back quiesced workloads", "Unpause pachd", "Read pachd's health", "Back up", "Helm upgrade")
	if s.w.Pachd.PausedByEnterprise() {
		t.Error("pachd is still paused after the next run")
	}
	if marked, err := s.kube.Annotated(context.Background(), s.ns, pachdSelector, cluster.AnnotationEnterprisePaused); err != nil || len(marked) != 0 {
		t.Errorf("pause still recorded on %+v (%v)", marked, err)
	}
	s.wantGivenBack()
}
