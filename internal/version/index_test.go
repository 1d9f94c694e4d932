package version

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

func mustParse(t *testing.T, s string) *semver.Version {
	t.Helper()
	v, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func loadTestIndex(t *testing.T) *Index {
	t.Helper()
	ix, err := LoadIndex(filepath.Join("testdata", "index-offset.yaml"), ChartName)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestResolve(t *testing.T) {
	ix := loadTestIndex(t)
	for _, tc := range []struct {
		name     string
		current  string
		req      Request
		chart    string // "" means no chart (nothing newer, current not indexed)
		app      string
		urls     []string
		digest   string
		notFound bool
	}{
		{name: "exact maps app to chart version", current: "2.11.4",
			req: Request{Selector: Exact, Version: semver.MustParse("2.11.5")}, chart: "8.2.0", app: "2.11.5",
			urls: []string{"charts/pachyderm-8.2.0.tgz", "https://mirror.example/pachyderm-8.2.0.tgz"}, digest: "aa50"},
		{name: "exact picks the highest chart of an app version", current: "2.11.4",
			req: Request{Selector: Exact, Version: semver.MustParse("2.11.6")}, chart: "8.3.1", app: "2.11.6",
			urls: []string{"charts/pachyderm-8.3.1.tgz"}, digest: "aa61"},
		{name: "exact matches an appVersion written with v", current: "2.10.7",
			req: Request{Selector: Exact, Version: semver.MustParse("2.11.4")}, chart: "8.1.0", app: "2.11.4"},
		{name: "exact pre-release only when asked exactly", current: "2.11.6",
			req: Request{Selector: Exact, Version: semver.MustParse("2.11.7-rc.1")}, chart: "8.4.0-rc.1", app: "2.11.7-rc.1"},
		{name: "exact not in index", current: "2.11.4",
			req: Request{Selector: Exact, Version: semver.MustParse("2.11.9")}, notFound: true},
		{name: "exact removed entry is not offered", current: "2.11.4",
			req: Request{Selector: Exact, Version: semver.MustParse("2.11.8")}, notFound: true},
		{name: "exact chart version is not an app version", current: "2.11.4",
			req: Request{Selector: Exact, Version: semver.MustParse("8.2.0")}, notFound: true},
		{name: "latest-patch skips pre-release and removed", current: "2.11.4",
			req: Request{Selector: LatestPatch}, chart: "8.3.1", app: "2.11.6", digest: "aa61"},
		{name: "latest-patch of older minor", current: "2.10.6",
			req: Request{Selector: LatestPatch}, chart: "7.9.2", app: "2.10.7"},
		{name: "latest-patch at newest is current", current: "2.11.6",
			req: Request{Selector: LatestPatch}, chart: "8.3.1", app: "2.11.6"},
		{name: "latest-patch ignores app versions with a pre-release chart", current: "2.12.1",
			req: Request{Selector: LatestPatch}, chart: "9.0.0", app: "2.12.1"},
		{name: "latest-patch never goes down", current: "2.11.7",
			req: Request{Selector: LatestPatch}, chart: "", app: "2.11.7"},
		{name: "latest-minor stays in the major", current: "2.10.6",
			req: Request{Selector: LatestMinor}, chart: "9.0.0", app: "2.12.1"},
		{name: "latest-minor from a pre-release", current: "2.12.0-rc.1",
			req: Request{Selector: LatestMinor}, chart: "9.0.0", app: "2.12.1"},
		{name: "chart-version override", current: "2.10.7",
			req: Request{Selector: LatestPatch, ChartVersion: "8.3.0"}, chart: "8.3.0", app: "2.11.6", digest: "aa60"},
		{name: "chart-version override with matching exact", current: "2.10.7",
			req: Request{Selector: Exact, Version: semver.MustParse("2.11.6"), ChartVersion: "8.3.0"}, chart: "8.3.0", app: "2.11.6"},
		{name: "chart-version override not in index", current: "2.10.7",
			req: Request{Selector: LatestPatch, ChartVersion: "2.11.6"}, notFound: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ix.Resolve(mustParse(t, tc.current), tc.req)
			if tc.notFound {
				if !errors.Is(err, ErrNotInIndex) {
					t.Fatalf("Resolve = %+v, %v; want ErrNotInIndex", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ChartVersion != tc.chart || got.AppVersion.String() != tc.app {
				t.Fatalf("Resolve = chart %q app %s, want chart %q app %s", got.ChartVersion, got.AppVersion, tc.chart, tc.app)
			}
			if tc.urls != nil && strings.Join(got.URLs, " ") != strings.Join(tc.urls, " ") {
				t.Errorf("URLs = %v, want %v", got.URLs, tc.urls)
			}
			if tc.digest != "" && got.Digest != tc.digest {
				t.Errorf("digest = %q, want %q", got.Digest, tc.digest)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	ix := loadTestIndex(t)
	cur := semver.MustParse("2.11.4")
	for name, req := range map[string]Request{
		"exact without version":     {Selector: Exact},
		"unknown selector":          {Selector: "latest"},
		"bad chart version":         {Selector: Exact, ChartVersion: "eight"},
		"chart app version differs": {Selector: Exact, Version: semver.MustParse("2.11.5"), ChartVersion: "8.3.0"},
	} {
		if got, err := ix.Resolve(cur, req); err == nil {
			t.Errorf("%s: Resolve = %+v, want an error", name, got)
		}
	}
	_, err := ix.Resolve(cur, Request{Selector: Exact, Version: semver.MustParse("2.11.5"), ChartVersion: "8.3.0"})
	if err == nil || !strings.Contains(err.Error(), "2.11.6") || !strings.Contains(err.Error(), "2.11.5") {
		t.Errorf("mismatch error %v does not name both app versions", err)
	}
	if _, err := ix.Resolve(nil, Request{Selector: LatestPatch}); err == nil {
		t.Error("latest-patch without a current version succeeded")
	}
}

func TestResolveDoesNotShareURLs(t *testing.T) {
	ix := loadTestIndex(t)
	a, err := ix.ByAppVersion(semver.MustParse("2.11.5"))
	if err != nil {
		t.Fatal(err)
	}
	a.URLs[0] = "changed"
	b, _ := ix.ByAppVersion(semver.MustParse("2.11.5"))
	if b.URLs[0] == "changed" {
		t.Error("a caller's change to URLs leaked into the index")
	}
}

func TestAppVersionsBetween(t *testing.T) {
	ix := loadTestIndex(t)
	for _, tc := range []struct{ from, to, want string }{
		{"2.10.6", "2.11.6", "2.10.7 2.11.4 2.11.5 2.11.6"},
		{"2.11.4", "2.11.6", "2.11.5 2.11.6"},
		{"2.11.6", "2.11.6", ""},
		{"2.11.6", "2.12.1", "2.12.1"}, // skips the pre-release and the removed 2.11.8
		{"2.11.6", "2.11.7-rc.1", "2.11.7-rc.1"},
		{"2.0.0", "2.10.6", "2.10.6"},
	} {
		var got []string
		for _, v := range ix.AppVersionsBetween(semver.MustParse(tc.from), semver.MustParse(tc.to)) {
			got = append(got, v.String())
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("AppVersionsBetween(%s, %s) = %v, want %q", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestParseIndexErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		data, chart, want string
	}{
		"empty":          {"", ChartName, "empty"},
		"not yaml":       {"apiVersion: [", ChartName, "parse chart repository index"},
		"no apiVersion":  {"entries: {pachyderm: [{name: pachyderm, version: 1.0.0, appVersion: 2.11.6}]}", ChartName, "API version"},
		"other chart":    {"apiVersion: v1\nentries: {other: [{name: other, version: 1.0.0, appVersion: 2.11.6}]}", ChartName, `"pachyderm"`},
		"nothing usable": {"apiVersion: v1\nentries: {pachyderm: [{name: pachyderm, version: 1.0.0, appVersion: main}]}", ChartName, "no usable release"},
	} {
		_, err := ParseIndex([]byte(tc.data), tc.chart)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", name, err, tc.want)
		}
	}
	if _, err := LoadIndex(filepath.Join("testdata", "missing.yaml"), ChartName); err == nil {
		t.Error("LoadIndex of a missing file succeeded")
	}
}

func TestParseIndexJSON(t *testing.T) {
	ix, err := ParseIndex([]byte(`{"apiVersion":"v1","entries":{"pachyderm":[{"name":"pachyderm","version":"0.1.0","appVersion":"2.11.6","urls":["a.tgz"],"digest":"ff"}]}}`), ChartName)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ix.ByAppVersion(semver.MustParse("2.11.6"))
	if err != nil || c.ChartVersion != "0.1.0" || c.Digest != "ff" {
		t.Fatalf("ByAppVersion = %+v, %v", c, err)
	}
}

// TestRealPachydermIndex reads the index of the real Pachyderm charts kept
// beside the repository. CI always has it; elsewhere it may be missing.
func TestRealPachydermIndex(t *testing.T) {
	path := filepath.Join(repoRoot(t), "..", "shared", "fixtures", "pachyderm", "index.yaml")
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("real chart index is required in CI: %v", err)
		}
		t.Skipf("real chart index not available: %v", err)
	}
	ix, err := LoadIndex(path, ChartName)
	if err != nil {
		t.Fatal(err)
	}
	got := ix.AppVersions()
	if strings.Join(got, " ") != "2.10.7 2.11.4 2.11.5 2.11.6" {
		t.Fatalf("app versions = %v", got)
	}
	c, err := ix.Resolve(semver.MustParse("2.11.4"), Request{Selector: LatestPatch})
	if err != nil {
		t.Fatal(err)
	}
	if c.AppVersion.String() != "2.11.6" || c.ChartVersion != "2.11.6" || len(c.Digest) != 64 || len(c.URLs) == 0 {
		t.Fatalf("latest-patch = %+v", c)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), c.URLs[0])); err != nil {
		t.Errorf("archive URL %q does not name a file beside the index: %v", c.URLs[0], err)
	}
	d, err := (Policy{}).Check(semver.MustParse("2.10.7"), c.AppVersion)
	var pe *PolicyError
	if !errors.As(err, &pe) || pe.Reason != RefuseMinor {
		t.Errorf("2.10.7 → 2.11.6 without allow-minor = %+v, %v; want a minor refusal", d, err)
	}
	c, err = ix.Resolve(semver.MustParse("2.10.7"), Request{Selector: LatestMinor})
	if err != nil || c.AppVersion.String() != "2.11.6" {
		t.Errorf("latest-minor from 2.10.7 = %+v, %v", c, err)
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

func TestArchiveURLs(t *testing.T) {
	ix := loadTestIndex(t)
	c, err := ix.ByAppVersion(semver.MustParse("2.11.5"))
	if err != nil {
		t.Fatal(err)
	}
	for _, repoURL := range []string{"http://127.0.0.1:8080/helm", "http://127.0.0.1:8080/helm/"} {
		got, err := c.ArchiveURLs(repoURL)
		if err != nil {
			t.Fatal(err)
		}
		want := "http://127.0.0.1:8080/helm/charts/pachyderm-8.2.0.tgz https://mirror.example/pachyderm-8.2.0.tgz"
		if strings.Join(got, " ") != want {
			t.Errorf("ArchiveURLs(%s) = %v, want %s", repoURL, got, want)
		}
	}
	if _, err := (Chart{ChartVersion: "1.0.0"}).ArchiveURLs("http://127.0.0.1/"); err == nil {
		t.Error("ArchiveURLs without URLs succeeded")
	}
}
