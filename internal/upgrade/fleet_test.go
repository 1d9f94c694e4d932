package upgrade

import (
	"strings"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

// TestVerifiedVersionOnlyWhenVerified runs one cluster through every
// result a rollout's next wave could be handed, and checks that only an
// upgrade, and a no-op whose check passed, give verified-version.
func TestVerifiedVersionOnlyWhenVerified(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	runs := []struct {
		name   string
		inputs map[string]string
		result report.Result
		want   string
	}{
		{"plan", map[string]string{config.InputTargetVersion: "2.11.6", config.InputMode: "plan"}, report.ResultPlanned, ""},
		{"refused by the policy", map[string]string{config.InputTargetVersion: "3.0.0"}, report.ResultFailed, ""},
		{"pachd left on the old image", map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "20s",
			config.InputValues: "pachd:\n  image:\n    tag: \"2.11.5\"\n"}, report.ResultRolledBack, ""},
		{"no-op without the version check", map[string]string{config.InputTargetVersion: "2.11.5",
			config.InputPachctlVersionCheck: "false"}, report.ResultNoOp, ""},
		{"no-op with the version check", map[string]string{config.InputTargetVersion: "2.11.5"}, report.ResultNoOp, "2.11.5"},
		{"upgraded", map[string]string{config.InputTargetVersion: "2.11.6"}, report.ResultUpgraded, "2.11.6"},
		{"no-op at 2.11.6 without the version check", map[string]string{config.InputTargetVersion: "2.11.6",
			config.InputPachctlVersionCheck: "false"}, report.ResultNoOp, ""},
		{"no-op at the new version", map[string]string{config.InputTargetVersion: "latest-patch"}, report.ResultNoOp, "2.11.6"},
	}
	for _, r := range runs {
		rep := s.run(r.inputs)
		if rep.Result != r.result {
			t.Fatalf("%s: result %s (%s), want %s", r.name, rep.Result, rep.Failure, r.result)
		}
		if got := report.VerifiedVersionOf(rep); got != r.want {
			t.Errorf("%s: verified-version %q, want %q (versions %+v)", r.name, got, r.want, rep.Versions)
		}
	}
	s.wantRelease(4, "deployed", "2.11.6")
}

// TestNoOpWhosePachdDisagreesHasNoVerifiedVersion: the release says
// 2.11.6 but pachd runs 2.11.5 (someone pinned the image). Nothing is
// changed, and nothing is handed on as verified.
func TestNoOpWhosePachdDisagreesHasNoVerifiedVersion(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.6", map[string]any{"deployTarget": "LOCAL", "pachd": map[string]any{"image": map[string]any{"tag": "2.11.5"}}})
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6"})
	if rep.Result == report.ResultUpgraded || rep.Result == report.ResultRolledBack {
		t.Fatalf("result %s (%s): the run changed the release", rep.Result, rep.Failure)
	}
	if got := report.VerifiedVersionOf(rep); got != "" {
		t.Errorf("verified-version %q for a pachd that runs 2.11.5; want empty (versions %+v)", got, rep.Versions)
	}
	s.wantRelease(1, "deployed", "2.11.6")
}

// TestExpectCurrentVersionRefusesDrift: a cluster changed by hand since the
// workflow planned is refused with both versions named, before the backup
// or anything else, and the release is untouched.
func TestExpectCurrentVersionRefusesDrift(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	for _, mode := range []string{"apply", "plan"} {
		rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputMode: mode,
			config.InputExpectCurrentVersion: "2.10.7", config.InputBackupCommand: "echo backup-ran"})
		if rep.Result != report.ResultFailed {
			t.Fatalf("%s: result %s, want failed", mode, rep.Result)
		}
		for _, part := range []string{config.InputExpectCurrentVersion, "2.10.7", "2.11.5", "nothing was changed"} {
			if !strings.Contains(rep.Failure, part) {
				t.Errorf("%s: failure %q does not say %q", mode, rep.Failure, part)
			}
		}
		last := rep.Steps[len(rep.Steps)-1]
		if last.Name != "Check the expected version" || last.Outcome != report.OutcomeFailed {
			t.Errorf("%s: last step %+v, want the expected-version check failed", mode, last)
		}
		if rep.BackupPath != "" || strings.Contains(s.last, "backup-ran") {
			t.Errorf("%s: the refused run backed up", mode)
		}
		if got := report.VerifiedVersionOf(rep); got != "" {
			t.Errorf("%s: verified-version %q on a refusal", mode, got)
		}
	}
	s.wantRelease(1, "deployed", "2.11.5")

	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputExpectCurrentVersion: "v2.11.5"})
	if rep.Result != report.ResultUpgraded || report.VerifiedVersionOf(rep) != "2.11.6" {
		t.Fatalf("at the expected version: result %s (%s), verified-version %q; want upgraded, 2.11.6",
			rep.Result, rep.Failure, report.VerifiedVersionOf(rep))
	}
	s.wantRelease(2, "deployed", "2.11.6")
}
