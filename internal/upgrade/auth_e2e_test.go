package upgrade

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin/pachpb"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/postgres"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

// authScenario is a release with enterprise and auth active, as the
// common enterprise setup has it (a license Secret, the chart's default
// pachd.activateAuth), over the built-in PostgreSQL, and a pachd that
// knows root as its root token and has a running pipeline.
func authScenario(t *testing.T, root string) *scenario {
	t.Helper()
	srv := postgres.Start(t)
	s := newScenario(t, nil, world.Options{Migrations: pachstandin.DefaultMigrations, Database: srv})
	s.secret("pachyderm-license", map[string]string{"enterprise-license-key": "license-for-the-test"})
	vals := baseValues()
	vals["pachd"] = map[string]any{"podAnnotations": pachstandin.PodAnnotations(), "enterpriseLicenseKeySecretName": "pachyderm-license"}
	vals["global"] = map[string]any{"postgresql": map[string]any{"postgresqlPassword": srv.Password}}
	s.install("7.11.5", vals)
	s.setPostgresPassword(srv.Password)
	s.w.Pachd.SetEnterprise(pachpb.EnterpriseActive)
	s.w.Pachd.SetPipelines(pachpb.PipelineInfo{Name: "edges", Version: 1, State: pachpb.PipelineRunning})
	s.w.Pachd.SetAuth(root)
	return s
}

// secret creates Secret name in the scenario's namespace.
func (s *scenario) secret(name string, data map[string]string) {
	s.t.Helper()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: data}
	if _, err := s.w.Kube.CoreV1().Secrets(s.ns).Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
		s.t.Fatal(err)
	}
}

// With auth active, pachctl signs in with the root token from the chart's
// Secret pachyderm-auth: pachd's health is read and checked, and the dump
// is quiesced with `pachctl enterprise pause`, with no call refused and
// the token never printed.
func TestAuthActiveUpgradeSignsInWithTheRootToken(t *testing.T) {
	t.Parallel()
	const root = "pach-root-0f3b9c27d1e84a56"
	s := authScenario(t, root)
	// What the real chart generates with auth active: the token pachd was
	// deployed with (AUTH_ROOT_TOKEN).
	s.secret("pachyderm-auth", map[string]string{"root-token": root, "auth-config": "client_id: pachd\n"})
	plan := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputMode: "plan"})
	if plan.Result != report.ResultPlanned {
		t.Fatalf("plan = %s (%s), want planned\n%s", plan.Result, plan.Failure, s.last)
	}
	if st := stepNamed(t, plan, "pachd's root token"); st.Outcome != report.OutcomeOK ||
		!strings.Contains(st.Detail, "root token from Secret pachyderm-auth") {
		t.Errorf("plan's root token step %+v, want ok, saying where the token comes from", st)
	}
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "90s", config.InputDatabaseBackup: "true"})
	if rep.Result != report.ResultUpgraded {
		t.Fatalf("result = %s (%s), want upgraded\n%s", rep.Result, rep.Failure, s.last)
	}
	steps := map[string]report.Step{}
	for _, st := range rep.Steps {
		steps[st.Name] = st
	}
	for _, name := range []string{"Read pachd's health", "Check pachd's health"} {
		if st := steps[name]; st.Outcome != report.OutcomeOK {
			t.Errorf("step %q: %s (%s), want ok", name, st.Outcome, st.Detail)
		}
	}
	d := rep.Database
	if d == nil || d.QuiesceMethod != report.QuiescePause || len(d.PipelinesBefore) != 1 || len(d.PipelinesAfter) != 1 {
		t.Fatalf("database report = %+v, want the dump quiesced by pachctl enterprise pause and the pipeline listed", d)
	}
	if s.w.Pachd.PausedByEnterprise() {
		t.Error("pachd is still paused after the run")
	}
	if n := s.w.Pachd.Denied(); n != 0 {
		t.Errorf("pachd refused %d call(s) for want of the token", n)
	}
	if !strings.Contains(s.last, "root token from Secret pachyderm-auth") {
		t.Errorf("the log does not say where the token came from:\n%s", s.last)
	}
	s.assertNeverLeaked(root)
}

// With auth active and no root token anywhere, the run refuses before any
// change, naming the input that fixes it; pachd saw no call without it.
func TestAuthActiveWithoutRootTokenRefusesBeforeAnyChange(t *testing.T) {
	t.Parallel()
	s := authScenario(t, "pach-root-the-run-cannot-find")
	plan := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputMode: "plan"})
	if plan.Result != report.ResultFailed || !strings.Contains(plan.Failure, "set input root-token-secret") {
		t.Errorf("plan = %s (%s), want failed as the apply would, naming root-token-secret", plan.Result, plan.Failure)
	}
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "60s", config.InputDatabaseBackup: "true"})
	if rep.Result != report.ResultFailed || !strings.Contains(rep.Failure, "set input root-token-secret") {
		t.Fatalf("result = %s (%s), want failed naming root-token-secret\n%s", rep.Result, rep.Failure, s.last)
	}
	for _, st := range rep.Steps {
		if st.Name == "Back up" || st.Name == "Helm upgrade" {
			t.Errorf("step %q ran after the refusal: %+v", st.Name, st)
		}
	}
	if d := rep.Database; d != nil && (len(d.Quiesced) > 0 || d.QuiesceMethod != "" || len(d.Dumps) > 0) {
		t.Errorf("the refused run quiesced or dumped: %+v", d)
	}
	s.wantRelease(1, "deployed", "2.11.5")
	if n := s.w.Pachd.Denied(); n != 0 {
		t.Errorf("pachd refused %d call(s): the run asked without a token", n)
	}
}
