package upgrade

import (
	"strings"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin/pachpb"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

// Pipelines crash-looping under the new pachd, or an enterprise state it
// lost, make the run fail and roll back, though every pod is Ready and
// both versions match.
func TestUnhealthyPachdAfterUpgradeRollsBack(t *testing.T) {
	t.Parallel()
	crashing := pachpb.PipelineCrashing
	none := pachpb.EnterpriseNone
	for _, c := range []struct {
		name  string
		state pachstandin.VersionState
		want  string
	}{
		{"pipelines crash", pachstandin.VersionState{Pipelines: map[string]pachpb.PipelineState{"edges": crashing}}, "pipeline default/edges is crashing"},
		{"enterprise lost", pachstandin.VersionState{Enterprise: &none}, "enterprise state ACTIVE before the upgrade, NONE after"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newScenario(t, nil, world.Options{})
			s.w.Pachd.SetEnterprise(pachpb.EnterpriseActive)
			s.w.Pachd.SetPipelines(pachpb.PipelineInfo{Name: "edges", Version: 1, State: pachpb.PipelineRunning},
				pachpb.PipelineInfo{Name: "montage", Version: 1, State: pachpb.PipelineRunning})
			s.w.Pachd.SetVersionState("2.11.6", c.state)
			s.install("7.11.5", baseValues())
			rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "30s"})
			if rep.Result != report.ResultRolledBack || !strings.Contains(rep.Failure, c.want) {
				t.Fatalf("result = %s (%s), want rolled-back naming %q", rep.Result, rep.Failure, c.want)
			}
			if d := rep.Database; d == nil || len(d.PipelinesBefore) != 2 || len(d.PipelinesAfter) != 2 {
				t.Errorf("pipelines before/after not reported: %+v", d)
			}
			s.wantRelease(3, "deployed", "2.11.5")
		})
	}
}
