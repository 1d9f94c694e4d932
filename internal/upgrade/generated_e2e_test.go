package upgrade

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

// secretValue reads one key of a Secret from the cluster.
func (s *scenario) secretValue(name, key string) string {
	s.t.Helper()
	sec, err := s.w.Kube.CoreV1().Secrets(s.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	v := string(sec.Data[key])
	if v == "" {
		s.t.Fatalf("Secret %s has no %s", name, key)
	}
	return v
}

// envValue reads an environment variable of a Deployment's first container.
func (s *scenario) envValue(deployment, name string) string {
	s.t.Helper()
	d, err := s.w.Kube.AppsV1().Deployments(s.ns).Get(context.Background(), deployment, metav1.GetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// generated indexes the report's generated fields by Object/Path.
func generated(rep *report.Report) map[string]report.GeneratedField {
	out := map[string]report.GeneratedField{}
	for _, f := range rep.Generated {
		out[f.Object+"/"+f.Path] = f
	}
	return out
}

const (
	deploymentIDField = "Secret/pachyderm-deployment-id-secret/data.CLUSTER_DEPLOYMENT_ID"
	sessionKeyField   = "Secret/pachyderm-session/data.session-key"
)

func TestGeneratedValuesKeptAcrossUpgrades(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.10.0", baseValues())
	id := s.secretValue("pachyderm-deployment-id-secret", "CLUSTER_DEPLOYMENT_ID")
	session := s.secretValue("pachyderm-session", "session-key")

	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.5", config.InputMode: "plan"})
	if rep.Result != report.ResultPlanned {
		t.Fatalf("plan: %s (%s)", rep.Result, rep.Failure)
	}
	g := generated(rep)
	if f := g[deploymentIDField]; !f.Carried || f.How != "values" || f.ValuesKey != "pachd.clusterDeploymentID" {
		t.Errorf("plan: deployment ID %+v, want carried by values key pachd.clusterDeploymentID", f)
	}
	if f := g[sessionKeyField]; !f.Carried || f.How != "post-renderer" || f.ValuesKey != "" {
		t.Errorf("plan: session key %+v, want carried by the post-renderer", f)
	}
	if f := g["Secret/postgres/data.postgresql-password"]; !f.Carried || f.ValuesKey != "global.postgresql.postgresqlPassword" {
		t.Errorf("plan: built-in PostgreSQL password %+v, want listed as carried like the others", f)
	}
	summary := report.Summary(rep)
	for _, want := range []string{"### Generated values", "Secret/pachyderm-session", "`data.session-key`", "`pachd.clusterDeploymentID`"} {
		if !strings.Contains(summary, want) {
			t.Errorf("plan summary lacks %q", want)
		}
	}
	if strings.Contains(rep.Plan.ManifestDiff, "redacted: changed") {
		t.Errorf("plan would change a Secret value:\n%s", rep.Plan.ManifestDiff)
	}
	s.wantRelease(1, "deployed", "2.10.7")

	if rep := s.run(map[string]string{config.InputTargetVersion: "2.11.5"}); rep.Result != report.ResultUpgraded {
		t.Fatalf("upgrade to 2.11.5: %s (%s)", rep.Result, rep.Failure)
	}
	if s.secretValue("pachyderm-deployment-id-secret", "CLUSTER_DEPLOYMENT_ID") != id || s.secretValue("pachyderm-session", "session-key") != session {
		t.Error("the upgrade to 2.11.5 replaced a generated value")
	}
	nonce := s.envValue("pachd", "UPGRADE_NO_OP")
	if nonce == "" {
		t.Fatal("pachd has no UPGRADE_NO_OP after an upgrade")
	}

	// The live release now has the rollout marker; the deployment ID is
	// pinned by its values key, so only the session key is carried again.
	rep = s.run(map[string]string{config.InputTargetVersion: "2.11.6"})
	if rep.Result != report.ResultUpgraded {
		t.Fatalf("upgrade to 2.11.6: %s (%s)", rep.Result, rep.Failure)
	}
	g = generated(rep)
	if _, ok := g[deploymentIDField]; ok {
		t.Errorf("second upgrade carries the pinned deployment ID again: %+v", rep.Generated)
	}
	if f := g[sessionKeyField]; !f.Carried {
		t.Errorf("second upgrade: session key %+v", f)
	}
	for id := range g {
		if strings.Contains(id, "UPGRADE_NO_OP") {
			t.Errorf("the rollout marker is listed as carried: %+v", g[id])
		}
	}
	if got := s.envValue("pachd", "UPGRADE_NO_OP"); got == nonce || got == "" {
		t.Error("UPGRADE_NO_OP was carried over: it must change to force the rollout")
	}
	if s.secretValue("pachyderm-deployment-id-secret", "CLUSTER_DEPLOYMENT_ID") != id || s.secretValue("pachyderm-session", "session-key") != session {
		t.Error("the upgrade to 2.11.6 replaced a generated value")
	}
	s.wantRelease(3, "deployed", "2.11.6")
	s.assertNeverLeaked(id)
	s.assertNeverLeaked(session)
}

func TestUncarriableGeneratedFieldFailsBeforeAnyChange(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	vals := baseValues()
	vals["pachd"] = map[string]any{"scratch": map[string]any{"enabled": true}}
	s.install("7.11.5", vals)
	session := s.secretValue("pachyderm-session", "session-key")
	const field = "ConfigMap/pachd-scratch/data.path"

	for _, mode := range []string{"plan", "apply"} {
		rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputMode: mode})
		if rep.Result != report.ResultFailed || !strings.Contains(rep.Failure, field) {
			t.Fatalf("%s: %s (%s), want failed naming %s", mode, rep.Result, rep.Failure, field)
		}
		if f := generated(rep)[field]; f.Carried || f.How != "cannot carry" {
			t.Errorf("%s: %s listed as %+v", mode, field, f)
		}
		if rep.BackupPath != "" {
			t.Errorf("%s: backed up before failing on generated values", mode)
		}
	}
	s.wantRelease(1, "deployed", "2.11.5")

	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputRegenerate: "ConfigMap/pachd-scratch"})
	if rep.Result != report.ResultUpgraded {
		t.Fatalf("with regenerate: %s (%s)", rep.Result, rep.Failure)
	}
	if f := generated(rep)[field]; f.Carried || f.How != "regenerated" {
		t.Errorf("with regenerate: %s listed as %+v", field, f)
	}
	if s.secretValue("pachyderm-session", "session-key") != session {
		t.Error("regenerating one object replaced another's generated value")
	}
	s.assertNeverLeaked(session)
}

func TestPlainUpgradeReportsNoGeneratedValues(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	vals := baseValues()
	vals["pachd"] = map[string]any{"clusterDeploymentID": "pinned-by-the-user-0001", "session": map[string]any{"enabled": false}}
	vals["global"] = map[string]any{"postgresql": map[string]any{"postgresqlPassword": "pinned-Pw-0002"}}
	s.install("7.11.5", vals)
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6"})
	if rep.Result != report.ResultUpgraded {
		t.Fatalf("%s (%s)", rep.Result, rep.Failure)
	}
	if len(rep.Generated) != 0 {
		t.Errorf("report lists generated fields: %+v", rep.Generated)
	}
	if strings.Contains(report.Summary(rep), "### Generated values") || strings.Contains(report.Comment(rep), "<summary>Generated values") {
		t.Error("summary or comment has a generated-values section")
	}
}

// TestProposePlansWithGeneratedValues is issue 21 item 10: propose runs the
// generated-values step as apply and plan do, so the bump PR's plan shows
// no generated Secret value (deployment ID, session key) as changing, and
// lists what the upgrade will carry.
func TestProposePlansWithGeneratedValues(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.w.GitHub.SetFile(deployRepo, "PACHYDERM_VERSION", []byte("2.10.7\n"))
	s.repository = deployRepo
	s.install("7.10.0", baseValues())
	rep := s.run(map[string]string{config.InputMode: "propose", config.InputTargetVersion: "2.11.5",
		config.InputVersionFile: "PACHYDERM_VERSION", config.InputGitHubToken: "app-token", config.InputAllowMinor: "true"})
	if rep.Result != report.ResultProposed || rep.Plan == nil {
		t.Fatalf("propose: %s (%s)", rep.Result, rep.Failure)
	}
	if f := generated(rep)[deploymentIDField]; !f.Carried || f.ValuesKey != "pachd.clusterDeploymentID" {
		t.Errorf("propose: deployment ID %+v, want carried by values as apply carries it", f)
	}
	if strings.Contains(rep.Plan.ManifestDiff, "redacted: changed") {
		t.Errorf("the proposal's plan changes a generated Secret value:\n%s", rep.Plan.ManifestDiff)
	}
	s.wantRelease(1, "deployed", "2.10.7")
}
