package helmrelease

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv/chartrepo"
)

func TestPullChartFromHTTPRepo(t *testing.T) {
	r := chartrepo.Serve(t, chartrepo.Chart{Version: "1.0.0", AppVersion: "2.11.5"}, chartrepo.Chart{Version: "1.0.1", AppVersion: "2.11.6"})
	for _, tc := range []struct{ ask, wantChart, wantApp string }{
		{"1.0.0", "1.0.0", "2.11.5"},
		{"", "1.0.1", "2.11.6"}, // newest
	} {
		ch, err := PullChart(context.Background(), r.URL, "pachyderm", tc.ask, PullOptions{})
		if err != nil {
			t.Fatalf("pull %q: %v", tc.ask, err)
		}
		if ch.Version() != tc.wantChart || ch.AppVersion() != tc.wantApp {
			t.Errorf("pull %q: got chart %s app %s, want %s/%s", tc.ask, ch.Version(), ch.AppVersion(), tc.wantChart, tc.wantApp)
		}
		if len(ch.Digest) != 64 || !strings.HasPrefix(ch.Source, r.URL) {
			t.Errorf("pull %q: digest %q source %q", tc.ask, ch.Digest, ch.Source)
		}
	}
}

func TestPullChartRefusesDigestMismatch(t *testing.T) {
	r := chartrepo.Serve(t, chartrepo.Chart{Version: "1.0.0", AppVersion: "2.11.5"})
	// Swap the archive for another valid chart after indexing: same name and file, other bytes.
	src, err := chartrepo.FindChart()
	if err != nil {
		t.Fatal(err)
	}
	other, err := chartrepo.Package(src, t.TempDir(), chartrepo.Chart{Version: "1.0.0", AppVersion: "6.6.6"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "pachyderm-1.0.0.tgz"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = PullChart(context.Background(), r.URL, "pachyderm", "1.0.0", PullOptions{})
	var mismatch *DigestMismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("pull of a tampered archive: err = %v, want a digest mismatch", err)
	}
	if mismatch.Expected == mismatch.Actual || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("mismatch error does not say what differs: %v", err)
	}
}

func TestPullChartLocalPaths(t *testing.T) {
	dir := t.TempDir()
	if err := chartrepo.Build(dir, chartrepo.Chart{Version: "2.0.0", AppVersion: "2.11.4"}); err != nil {
		t.Fatal(err)
	}
	src, err := chartrepo.FindChart()
	if err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{
		"repository folder": dir,
		"archive":           filepath.Join(dir, "pachyderm-2.0.0.tgz"),
		"chart folder":      src,
	} {
		want := "2.0.0"
		if name == "chart folder" {
			want = ""
		}
		ch, err := PullChart(context.Background(), path, "pachyderm", want, PullOptions{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if ch.Name() != "pachyderm" {
			t.Errorf("%s: chart %q", name, ch.Name())
		}
		if name == "repository folder" && ch.Digest == "" {
			t.Errorf("%s: digest not checked", name)
		}
	}
	if _, err := PullChart(context.Background(), dir, "pachyderm", "9.9.9", PullOptions{}); err == nil {
		t.Error("pull of a version missing from the index succeeded")
	}
	if _, err := PullChart(context.Background(), filepath.Join(dir, "pachyderm-2.0.0.tgz"), "other", "", PullOptions{}); err == nil {
		t.Error("pull of an archive holding another chart name succeeded")
	}
	if _, err := PullChart(context.Background(), filepath.Join(dir, "nope"), "pachyderm", "", PullOptions{}); err == nil {
		t.Error("pull from a missing path succeeded")
	}
}

func TestPullChartRefusesIndexWithoutDigest(t *testing.T) {
	dir := t.TempDir()
	if err := chartrepo.Build(dir, chartrepo.Chart{Version: "1.0.0", AppVersion: "2.11.5"}); err != nil {
		t.Fatal(err)
	}
	idx := filepath.Join(dir, "index.yaml")
	b, err := os.ReadFile(idx)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "digest:") {
			kept = append(kept, line)
		}
	}
	if err := os.WriteFile(idx, []byte(strings.Join(kept, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	r := chartrepo.ServeDir(t, dir)
	if _, err := PullChart(context.Background(), r.URL, "pachyderm", "1.0.0", PullOptions{}); err == nil || !strings.Contains(err.Error(), "no digest") {
		t.Fatalf("pull with no digest in the index: err = %v", err)
	}
}
