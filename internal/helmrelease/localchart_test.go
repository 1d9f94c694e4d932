package helmrelease

import (
	"context"
	"testing"

	"github.com/Masterminds/semver/v3"

	"github.com/pach-upgrade/pach-upgrade/internal/version"
)

// TestLocalChartInputLoads is issue 21 item 11: the chart input documents
// a local chart path, which used to be looked up by name in chart-repo's
// index. It must load from the path, and resolve to its own version,
// whatever chart-repo says.
func TestLocalChartInputLoads(t *testing.T) {
	const path = "../../testdata/charts/pachyderm"
	if !IsLocalChart(path) || IsLocalChart("pachyderm") {
		t.Fatal("IsLocalChart does not tell a path from a chart name")
	}
	ctx := context.Background()
	ch, err := PullChart(ctx, "https://charts.invalid", path, "", PullOptions{})
	if err != nil {
		t.Fatalf("local chart %s: %v", path, err)
	}
	if ch.Name() != "pachyderm" || ch.Source != path {
		t.Errorf("loaded %q from %q", ch.Name(), ch.Source)
	}
	if _, err := PullChart(ctx, "https://charts.invalid", path, "9.9.9", PullOptions{}); err == nil {
		t.Error("a local chart of another version was accepted")
	}
	raw, name, err := LocalChartIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := version.ParseIndex(raw, name)
	if err != nil {
		t.Fatalf("the local chart's index: %v", err)
	}
	target, err := ix.Resolve(semver.MustParse("2.11.4"), version.Request{Selector: version.LatestPatch})
	if err != nil || target.ChartVersion != ch.Version() || target.AppVersion.String() != ch.AppVersion() {
		t.Fatalf("resolve against the local chart: %+v, %v; want chart %s app %s", target, err, ch.Version(), ch.AppVersion())
	}
}
