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

// The version check signs in with the root token like every other call to
// pachd. Verifying a revision an earlier run left unverified therefore
// needs the token too: where it is gone, the run refuses before the check,
// and the revision, which a failed check would roll back, stays.
func TestUnverifiedRevisionWithoutRootTokenIsNotRolledBack(t *testing.T) {
	t.Parallel()
	const root = "pach-root-5e1d0c9ab7f24e83"
	s := newScenario(t, nil, world.Options{})
	s.secret("pachyderm-license", map[string]string{"enterprise-license-key": "license-for-the-test"})
	vals := baseValues()
	vals["pachd"] = map[string]any{"enterpriseLicenseKeySecretName": "pachyderm-license"}
	s.install("7.11.5", vals)
	s.w.Pachd.SetAuth(root)
	s.secret("pachyderm-auth", map[string]string{"root-token": root})

	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "8s",
		config.InputRollbackOnFailure: "false", config.InputValues: neverReady})
	if rep.Result != report.ResultFailed {
		t.Fatalf("first run: result = %s (%s), want failed\n%s", rep.Result, rep.Failure, s.last)
	}
	s.wantRelease(2, "deployed", "2.11.6")

	if err := s.w.Kube.CoreV1().Secrets(s.ns).Delete(context.Background(), "pachyderm-auth", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	s.markReady(s.waitForPod("2.11.6"))
	rep = s.run(map[string]string{config.InputTargetVersion: "2.11.6"})
	if rep.Result != report.ResultFailed || !strings.Contains(rep.Failure, "set input root-token-secret") {
		t.Fatalf("second run: result = %s (%s), want failed naming root-token-secret\n%s", rep.Result, rep.Failure, s.last)
	}
	if rep.RolledBack != nil || hasStep(rep, "Verify the release", report.OutcomeOK) {
		t.Errorf("second run: rollback %+v, steps %+v: want the refusal before the check", rep.RolledBack, rep.Steps)
	}
	s.wantRelease(2, "deployed", "2.11.6")
	if n := s.w.Pachd.Denied(); n != 0 {
		t.Errorf("pachd refused %d call(s) for want of the token", n)
	}
	s.assertNeverLeaked(root)
}
