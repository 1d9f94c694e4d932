package upgrade

import (
	"path/filepath"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/chartrepo"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

// TestLocalChartUpgrades is issue 21 item 11 end to end: with the chart
// input naming a local archive, the action upgrades to that chart, as the
// input documents, instead of looking its path up in chart-repo's index.
func TestLocalChartUpgrades(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	dir := t.TempDir()
	if err := chartrepo.Build(dir, chartrepo.Chart{Version: "7.11.6", AppVersion: "2.11.6"}); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "pachyderm-7.11.6.tgz")
	rep := s.run(map[string]string{config.InputChart: archive, config.InputTargetVersion: "latest-patch"})
	if rep.Result != report.ResultUpgraded || rep.ToChart != "7.11.6" || rep.ToVersion != "2.11.6" {
		t.Fatalf("local chart %s: %s (%s), to chart %s app %s", archive, rep.Result, rep.Failure, rep.ToChart, rep.ToVersion)
	}
	s.wantRelease(2, "deployed", "2.11.6")
}
