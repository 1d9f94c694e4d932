package upgrade

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	helmrel "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/helmrelease"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

// Issue 20: the release's lifecycle across failures (policy.go), on the local control plane.

// store is the release's Helm storage, to write revisions as other clients and crashes
// leave them.
func (s *scenario) store() *storage.Storage {
	return storage.Init(driver.NewSecrets(s.w.Kube.CoreV1().Secrets(s.ns)))
}

// rewrite changes the stored revision rev with f.
func (s *scenario) rewrite(rev int, f func(*helmrel.Release)) {
	s.t.Helper()
	ri, err := s.store().Get(releaseName, rev)
	if err != nil {
		s.t.Fatal(err)
	}
	rel := ri.(*helmrel.Release)
	f(rel)
	if err := s.store().Update(rel); err != nil {
		s.t.Fatal(err)
	}
}

// addRevision stores a copy of revision from as the next revision, with status and
// description, as an interrupted operation leaves it.
func (s *scenario) addRevision(from int, status rcommon.Status, description string) {
	s.t.Helper()
	ri, err := s.store().Get(releaseName, from)
	if err != nil {
		s.t.Fatal(err)
	}
	last, err := s.store().Last(releaseName)
	if err != nil {
		s.t.Fatal(err)
	}
	rel := *ri.(*helmrel.Release)
	info := *rel.Info
	info.Status, info.Description = status, description
	rel.Info = &info
	rel.Version = last.(*helmrel.Release).Version + 1
	if err := s.store().Create(&rel); err != nil {
		s.t.Fatal(err)
	}
}

func hasStep(rep *report.Report, name string, outcome report.Outcome) bool {
	for _, st := range rep.Steps {
		if st.Name == name && st.Outcome == outcome {
			return true
		}
	}
	return false
}

// Item 1: the watch fails and nothing rolls back (rollback-on-failure: false); Helm has
// recorded revision 2 deployed. The next run must verify it, not answer "no-op": it fails
// while the pod is not Ready, and once it is Ready it verifies it and marks it so on the
// release; only a run after that is a plain no-op.
func TestUnverifiedDeployedRevisionIsVerifiedNotNoOp(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	noRollback := map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "8s",
		config.InputRollbackOnFailure: "false", config.InputValues: neverReady}
	if rep := s.run(noRollback); rep.Result != report.ResultFailed {
		t.Fatalf("first run: result = %s (%s), want failed", rep.Result, rep.Failure)
	}
	s.wantRelease(2, "deployed", "2.11.6")
	if s.latest().Verified() {
		t.Fatal("revision 2 marked verified although its watch failed")
	}

	rep := s.run(noRollback)
	if rep.Result == report.ResultNoOp || rep.Result != report.ResultFailed {
		t.Fatalf("second run: result = %s (%s), want failed: revision 2 is not Ready", rep.Result, rep.Failure)
	}
	if !strings.Contains(rep.Failure, "revision 2") {
		t.Errorf("failure %q does not name revision 2", rep.Failure)
	}

	s.markReady(s.waitForPod("2.11.6"))
	rep = s.run(map[string]string{config.InputTargetVersion: "2.11.6"})
	if rep.Result != report.ResultNoOp || !hasStep(rep, "Verify the release", report.OutcomeOK) || !hasStep(rep, "Verify versions", report.OutcomeOK) {
		t.Fatalf("third run: result = %s (%s), steps %+v: want no-op after verifying revision 2", rep.Result, rep.Failure, rep.Steps)
	}
	rel := s.latest()
	if rel.Revision != 2 || !rel.Verified() || !strings.Contains(rel.Description, "2.11.6") {
		t.Errorf("revision %d description %q, want revision 2 marked verified", rel.Revision, rel.Description)
	}
	rep = s.run(map[string]string{config.InputTargetVersion: "2.11.6"})
	if rep.Result != report.ResultNoOp || hasStep(rep, "Verify the release", report.OutcomeOK) {
		t.Errorf("fourth run: result = %s, steps %+v: want a plain no-op", rep.Result, rep.Steps)
	}
}

// Item 1, the rollback path: a revision this tool wrote that never verifies is rolled back
// by the next run (rollback-on-failure defaults to true), to the revision before it.
func TestUnverifiedRevisionThatFailsIsRolledBack(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "8s",
		config.InputRollbackOnFailure: "false", config.InputValues: neverReady})
	if rep.Result != report.ResultFailed {
		t.Fatalf("first run: result = %s (%s), want failed", rep.Result, rep.Failure)
	}
	rep = s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "8s"})
	if rep.Result != report.ResultRolledBack || rep.RolledBack == nil || rep.RolledBack.Revision != 1 {
		t.Fatalf("second run: result = %s (%s), rollback %+v: want rolled back to revision 1", rep.Result, rep.Failure, rep.RolledBack)
	}
	s.wantRelease(3, "deployed", "2.11.5")
	if rel := s.latest(); !rel.Verified() || !strings.Contains(rel.Description, "after the rollback to revision 1") {
		t.Errorf("rollback revision 3: %q, want it marked verified after its rollout was watched", rel.Description)
	}
	s.wantAllReady()
}

// Item 2: a failed latest revision (recover-pending marked it failed, then its rollback
// failed) is not the current version: the run applies the target again and verifies it.
func TestFailedLatestRevisionIsNotCurrent(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	s.upgradeWithHelm("7.11.6", baseValues())
	s.rewrite(2, func(r *helmrel.Release) {
		r.SetStatus(rcommon.StatusFailed, "interrupted while pending-upgrade; recovered by pach-upgrade: rollback to 1")
	})
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6"})
	if rep.Result != report.ResultUpgraded {
		t.Fatalf("result = %s (%s), want upgraded: revision 2 failed, its version is not current", rep.Result, rep.Failure)
	}
	if rep.FromVersion != "2.11.5" && rep.FromVersion != "2.11.6" {
		t.Errorf("from version %q", rep.FromVersion)
	}
	s.wantRelease(3, "deployed", "2.11.6")
	if !s.latest().Verified() {
		t.Error("revision 3 not marked verified")
	}
	s.wantAllReady()
}

// upgradeWithHelm upgrades the release to chartVersion as another client would, without
// watching it.
func (s *scenario) upgradeWithHelm(chartVersion string, values map[string]any) {
	s.t.Helper()
	ctx := context.Background()
	ch, err := helmrelease.PullChart(ctx, s.w.Charts.URL, "pachyderm", chartVersion, helmrelease.PullOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.w.Helm.Upgrade(ctx, releaseName, ch, values, helmrelease.UpgradeOptions{Description: "Upgrade complete"}); err != nil {
		s.t.Fatal(err)
	}
}

// Item 3: an upgrade made revision 2, its rollback to 1 made revision 3 pending-rollback,
// then the run was killed. recover-pending must finish that rollback (to revision 1), not
// re-deploy revision 2's version.
func TestRecoverPendingRollbackUsesItsOwnTarget(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	s.upgradeWithHelm("7.11.6", baseValues())
	s.addRevision(1, rcommon.StatusPendingRollback, "Rollback to 1 by pach-upgrade")
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.5", config.InputRecoverPending: "true"})
	if rep.Result != report.ResultNoOp || !hasStep(rep, "Verify the release", report.OutcomeOK) {
		t.Fatalf("result = %s (%s), want no-op after recovering to revision 1 and verifying it", rep.Result, rep.Failure)
	}
	if !strings.Contains(rep.Steps[1].Detail+rep.Steps[0].Detail, "rolling back to revision 1") {
		t.Errorf("release check does not say it rolled back to revision 1: %+v", rep.Steps[:2])
	}
	s.wantRelease(4, "deployed", "2.11.5")
	if !s.latest().Verified() {
		t.Error("recovered revision 4 not marked verified")
	}
	s.wantAllReady()
}

// Items 4 and 5, two writers: while the run backs up (after its release check, before its
// apply), another client writes the release. The run must apply nothing, roll nothing back,
// and name the revision it read and the one it found.
func TestAnotherWriterBetweenCheckAndApply(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		write func(s *scenario)
		want  string // the latest revision's status afterwards
	}{
		{"pending operation", func(s *scenario) { s.addRevision(1, rcommon.StatusPendingUpgrade, "Flux upgrade in progress") }, "pending-upgrade"},
		{"Helm 3 CLI", func(s *scenario) { s.helmCLI(testenv.Helm3(s.t)) }, "deployed"},
		{"Helm 4 CLI", func(s *scenario) { s.helmCLI(os.Getenv(testenv.EnvHelm4)) }, "deployed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.name == "Helm 4 CLI" && os.Getenv(testenv.EnvHelm4) == "" {
				t.Skip("no Helm 4 CLI built with the cluster")
			}
			s := newScenario(t, nil, world.Options{})
			s.install("7.11.5", baseValues())
			hook := t.TempDir()
			started, proceed := filepath.Join(hook, "started"), filepath.Join(hook, "proceed")
			done := s.runAsync(map[string]string{config.InputTargetVersion: "2.11.6",
				config.InputBackupCommand: fmt.Sprintf("touch %s; while [ ! -e %s ]; do sleep 0.05; done", started, proceed)})
			waitFile(t, started)
			tc.write(s)
			if err := os.WriteFile(proceed, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			rep := s.await(done)
			if rep.Result != report.ResultFailed || rep.RolledBack != nil || hasStep(rep, "Roll back", report.OutcomeOK) || hasStep(rep, "Roll back", report.OutcomeFailed) {
				t.Fatalf("result = %s (%s), rollback %+v: want failed without a rollback", rep.Result, rep.Failure, rep.RolledBack)
			}
			for _, want := range []string{"revision 1 (deployed)", "revision 2 (" + tc.want, "another client"} {
				if !strings.Contains(rep.Failure, want) {
					t.Errorf("failure %q does not say %q", rep.Failure, want)
				}
			}
			rel := s.latest()
			if rel.Revision != 2 || rel.Status != tc.want {
				t.Errorf("latest revision %d %s, want the other client's revision 2 %s, untouched", rel.Revision, rel.Status, tc.want)
			}
		})
	}
}

// helmCLI upgrades the release with a Helm CLI, keeping its values, as a person would.
func (s *scenario) helmCLI(helm string) {
	s.t.Helper()
	args := []string{"upgrade", releaseName, "pachyderm", "--repo", s.w.Charts.URL, "--version", "7.11.6", "--reuse-values",
		"--kubeconfig", testenv.Kubeconfig(s.t), "--namespace", s.ns}
	cmd := execCommand(s.t, helm, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("%s %s: %v\n%s", filepath.Base(helm), strings.Join(args, " "), err, out)
	}
}

// execCommand is a Helm CLI command with its own cache, config and data folders.
func execCommand(t *testing.T, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	return cmd
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	for end := time.Now().Add(2 * time.Minute); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s never appeared", path)
}

// Item 6: the release crash-loops; an upgrade whose pods are fine must not fail fast on the
// old ReplicaSet's crash-looping pods and roll back to the broken version.
func TestUpgradeOutOfACrashLoop(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	crashing := map[string]any{"deployTarget": "LOCAL",
		"pachd": map[string]any{"podAnnotations": map[string]any{testenv.AnnotationCrashLoop: "true"}}}
	if _, err := s.w.Install(context.Background(), releaseName, "7.11.5", crashing); err != nil {
		t.Fatal(err)
	}
	s.waitForCrashLoop()
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "90s",
		config.InputValues: "pachd:\n  podAnnotations:\n    " + testenv.AnnotationCrashLoop + ": \"false\"\n"})
	if rep.Result != report.ResultUpgraded {
		t.Fatalf("result = %s (%s), want upgraded out of the crash loop", rep.Result, rep.Failure)
	}
	s.wantRelease(2, "deployed", "2.11.6")
	s.wantAllReady()
}

// waitForCrashLoop waits until a pachd container waits in CrashLoopBackOff.
func (s *scenario) waitForCrashLoop() {
	s.t.Helper()
	for end := time.Now().Add(2 * time.Minute); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		pods, err := s.w.Kube.CoreV1().Pods(s.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=pachd"})
		if err != nil {
			continue
		}
		for _, p := range pods.Items {
			for _, cs := range p.Status.ContainerStatuses {
				if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
					return
				}
			}
		}
	}
	s.t.Fatal("pachd never crash-looped")
}
