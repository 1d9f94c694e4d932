package version

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"
)

// ChartName is the name of the Pachyderm chart in its repository.
const ChartName = "pachyderm"

// ErrNotInIndex is wrapped by every error about a version that the chart
// repository index does not hold.
var ErrNotInIndex = errors.New("not in the chart repository index")

// Chart is one release of the chart in the repository index.
type Chart struct {
	// ChartVersion is the chart's own version, the one to pass to Helm. It
	// need not equal AppVersion.
	ChartVersion string
	// AppVersion is the Pachyderm version the chart installs.
	AppVersion *semver.Version
	// URLs are the archive locations as written in the index; they may be
	// relative to the repository URL.
	URLs []string
	// Digest is the archive's SHA-256 from the index, in hex.
	Digest string
}

// Index is a chart repository index, restricted to one chart.
type Index struct {
	name    string
	entries []entry // sorted by app version, then chart version, ascending
}

type entry struct {
	chart    Chart
	chartVer *semver.Version
}

// LoadIndex reads an index.yaml file; see ParseIndex.
func LoadIndex(path, chartName string) (*Index, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read chart repository index: %w", err)
	}
	return ParseIndex(data, chartName)
}

// ParseIndex reads a Helm chart repository index (YAML or JSON) and keeps
// the entries of chartName. Entries marked removed, and entries whose chart
// version or appVersion is not a version, are skipped, because no upgrade
// can be resolved to them.
func ParseIndex(data []byte, chartName string) (*Index, error) {
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, fmt.Errorf("parse chart repository index: %w", repo.ErrEmptyIndexYaml)
	}
	var f repo.IndexFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse chart repository index: not a valid YAML index (it begins %q): %w", head(data), err)
	}
	if f.APIVersion == "" {
		return nil, fmt.Errorf("parse chart repository index: %w", repo.ErrNoAPIVersion)
	}
	cvs, ok := f.Entries[chartName]
	if !ok || len(cvs) == 0 {
		return nil, fmt.Errorf("chart repository index has no chart %q: %w", chartName, repo.ErrNoChartName)
	}
	ix := &Index{name: chartName}
	for _, cv := range cvs {
		if cv == nil || cv.Metadata == nil || cv.Removed {
			continue
		}
		chartVer, err := semver.NewVersion(cv.Version)
		if err != nil {
			continue
		}
		appVer, err := Parse(cv.AppVersion)
		if err != nil {
			continue
		}
		ix.entries = append(ix.entries, entry{
			chart: Chart{
				ChartVersion: cv.Version,
				AppVersion:   appVer,
				URLs:         slices.Clone(cv.URLs),
				Digest:       cv.Digest,
			},
			chartVer: chartVer,
		})
	}
	if len(ix.entries) == 0 {
		return nil, fmt.Errorf("chart repository index has no usable release of chart %q (each needs a chart version and an appVersion)", chartName)
	}
	slices.SortStableFunc(ix.entries, func(a, b entry) int {
		if c := a.chart.AppVersion.Compare(b.chart.AppVersion); c != 0 {
			return c
		}
		return a.chartVer.Compare(b.chartVer)
	})
	return ix, nil
}

// Selector says how a target is chosen.
type Selector string

// The selectors use the same words as the target-version input.
const (
	Exact       Selector = "exact"
	LatestPatch Selector = "latest-patch"
	LatestMinor Selector = "latest-minor"
)

// Request is what the user asked for.
type Request struct {
	Selector Selector
	// Version is the wanted Pachyderm version, for Exact only.
	Version *semver.Version
	// ChartVersion, when set, picks the chart version directly and
	// overrides the lookup by app version. With Exact, the chart's
	// appVersion must still equal Version.
	ChartVersion string
}

// Resolve finds the chart release to upgrade to from the current version.
//
// LatestPatch picks the highest app version with the current major and
// minor, LatestMinor the highest with the current major; neither ever picks
// a pre-release or anything older than current. When the index holds
// nothing newer, the result's AppVersion is current (ChartVersion may then
// be empty if current itself is not in the index), so the policy decides
// NoOp. Resolve does not apply the policy: call Policy.Check on the result.
func (ix *Index) Resolve(current *semver.Version, req Request) (Chart, error) {
	if req.ChartVersion != "" {
		return ix.resolveChartVersion(req)
	}
	switch req.Selector {
	case Exact:
		if req.Version == nil {
			return Chart{}, errors.New("resolve target: an exact target needs a version")
		}
		return ix.ByAppVersion(req.Version)
	case LatestPatch, LatestMinor:
		if current == nil {
			return Chart{}, fmt.Errorf("resolve %s: the current version is required", req.Selector)
		}
		best := Chart{AppVersion: current}
		for _, e := range ix.entries {
			v := e.chart.AppVersion
			if v.Prerelease() != "" || e.chartVer.Prerelease() != "" || v.Major() != current.Major() {
				continue
			}
			if req.Selector == LatestPatch && v.Minor() != current.Minor() {
				continue
			}
			// Entries are sorted ascending, so the last match wins, and among
			// several charts of one app version the highest chart version.
			if !v.LessThan(current) {
				best = e.chart
			}
		}
		return cloneChart(best), nil
	default:
		return Chart{}, fmt.Errorf("resolve target: unknown selector %q (want %s, %s or %s)", req.Selector, Exact, LatestPatch, LatestMinor)
	}
}

// ByAppVersion returns the chart release that installs Pachyderm v; when
// several chart versions carry that appVersion, the highest chart version.
func (ix *Index) ByAppVersion(v *semver.Version) (Chart, error) {
	for i := len(ix.entries) - 1; i >= 0; i-- {
		if ix.entries[i].chart.AppVersion.Equal(v) {
			return cloneChart(ix.entries[i].chart), nil
		}
	}
	return Chart{}, fmt.Errorf("pachyderm %s: no %s chart with that appVersion: %w (available: %s)",
		v, ix.name, ErrNotInIndex, strings.Join(ix.AppVersions(), ", "))
}

func (ix *Index) resolveChartVersion(req Request) (Chart, error) {
	want, err := semver.NewVersion(req.ChartVersion)
	if err != nil {
		return Chart{}, fmt.Errorf("chart-version %q: %w", req.ChartVersion, err)
	}
	for _, e := range ix.entries {
		if !e.chartVer.Equal(want) {
			continue
		}
		if req.Selector == Exact && req.Version != nil && !e.chart.AppVersion.Equal(req.Version) {
			return Chart{}, fmt.Errorf("chart-version %s installs pachyderm %s, not the target-version %s",
				req.ChartVersion, e.chart.AppVersion, req.Version)
		}
		return cloneChart(e.chart), nil
	}
	return Chart{}, fmt.Errorf("chart-version %s of %s: %w", req.ChartVersion, ix.name, ErrNotInIndex)
}

// AppVersionsBetween lists the released app versions in (from, to],
// ascending and without duplicates. Pre-releases are listed only when to is
// itself a pre-release, since only then did the user opt into them.
func (ix *Index) AppVersionsBetween(from, to *semver.Version) []*semver.Version {
	var out []*semver.Version
	for _, e := range ix.entries {
		v := e.chart.AppVersion
		if !v.GreaterThan(from) || v.GreaterThan(to) {
			continue
		}
		if v.Prerelease() != "" && to.Prerelease() == "" {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Equal(v) {
			continue
		}
		out = append(out, v)
	}
	return out
}

// AppVersions lists the app versions the index holds, ascending and without duplicates.
func (ix *Index) AppVersions() []string {
	var out []string
	for _, e := range ix.entries {
		s := e.chart.AppVersion.String()
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

func cloneChart(c Chart) Chart {
	c.URLs = slices.Clone(c.URLs)
	return c
}

// ArchiveURLs returns the chart archive's URLs resolved against the
// repository URL, since an index may list them relative to itself.
func (c Chart) ArchiveURLs(repoURL string) ([]string, error) {
	if len(c.URLs) == 0 {
		return nil, fmt.Errorf("chart %s: the index lists no archive URL", c.ChartVersion)
	}
	out := make([]string, 0, len(c.URLs))
	for _, u := range c.URLs {
		abs, err := repo.ResolveReferenceURL(repoURL, u)
		if err != nil {
			return nil, fmt.Errorf("chart %s: resolve archive URL %q against %q: %w", c.ChartVersion, u, repoURL, err)
		}
		out = append(out, abs)
	}
	return out, nil
}

// head is the start of data's first non-blank line, to show what a server
// sent instead of an index (an HTML login page, say).
func head(data []byte) string {
	line := strings.TrimSpace(string(data))
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = strings.TrimSpace(line[:i])
	}
	if r := []rune(line); len(r) > 60 {
		line = string(r[:60]) + "…"
	}
	return line
}
