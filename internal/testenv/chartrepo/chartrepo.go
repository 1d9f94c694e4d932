// Package chartrepo serves Helm chart repositories over HTTP on 127.0.0.1 for tests and the demo:
// either the project's Pachyderm-shaped test chart packaged at chosen versions, or an existing
// folder of packaged charts with its index.yaml.
package chartrepo

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

// ChartName is the name of the test chart, the same as the real Pachyderm chart's.
const ChartName = "pachyderm"

// chartSource is where the test chart lives, relative to the repository root.
var chartSource = filepath.Join("testdata", "charts", ChartName)

// Chart selects one packaged version of the test chart. Version is the chart version and
// AppVersion the Pachyderm version; they may differ, as they can in a real repository.
type Chart struct {
	Version    string
	AppVersion string
}

// Repo is a running chart repository.
type Repo struct {
	// URL is the repository URL (index.yaml lives at URL + "/index.yaml").
	URL string
	// Dir is the served folder. Tests may change files in it (for example to break a digest).
	Dir string

	srv *httptest.Server
}

// Close stops the server. It does not remove Dir.
func (r *Repo) Close() {
	if r.srv != nil {
		r.srv.Close()
	}
}

// New serves dir as a chart repository. When dir has no index.yaml, one is generated from the
// chart archives in it (with digests), so a folder of .tgz files is enough.
func New(dir string) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("chart repository folder %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(abs, "index.yaml")); errors.Is(err, os.ErrNotExist) {
		if err := WriteIndex(abs); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("chart repository index in %s: %w", abs, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for chart repository: %w", err)
	}
	srv := httptest.NewUnstartedServer(http.FileServer(http.Dir(abs)))
	// httptest listens on whatever it picks by default; bind loopback explicitly.
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	return &Repo{URL: srv.URL, Dir: abs, srv: srv}, nil
}

// Build packages the test chart at each requested version into dir and writes index.yaml.
func Build(dir string, charts ...Chart) error {
	if len(charts) == 0 {
		return errors.New("build chart repository: no chart versions requested")
	}
	src, err := FindChart()
	if err != nil {
		return err
	}
	for _, c := range charts {
		if _, err := Package(src, dir, c); err != nil {
			return err
		}
	}
	return WriteIndex(dir)
}

// Package loads the chart at src, sets its version and appVersion, and saves the archive in
// dest. It returns the archive's path.
func Package(src, dest string, c Chart) (string, error) {
	if c.Version == "" {
		return "", errors.New("package chart: empty chart version")
	}
	ch, err := loader.Load(src)
	if err != nil {
		return "", fmt.Errorf("load chart %s: %w", src, err)
	}
	ch.Metadata.Version = c.Version
	ch.Metadata.AppVersion = c.AppVersion
	if c.AppVersion == "" {
		ch.Metadata.AppVersion = c.Version
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return "", fmt.Errorf("create chart repository folder: %w", err)
	}
	path, err := chartutil.Save(ch, dest)
	if err != nil {
		return "", fmt.Errorf("package chart %s %s: %w", ch.Name(), c.Version, err)
	}
	return path, nil
}

// WriteIndex (re)writes dir/index.yaml for the archives in dir. URLs are relative so the
// index works whatever address the server gets.
func WriteIndex(dir string) error {
	idx, err := repo.IndexDirectory(dir, "")
	if err != nil {
		return fmt.Errorf("index charts in %s: %w", dir, err)
	}
	idx.SortEntries()
	if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		return fmt.Errorf("write chart repository index: %w", err)
	}
	return nil
}

// FindChart returns the test chart's folder, searched from the working directory upwards, so
// it works from the repository root (the demo) and from any package folder (tests).
func FindChart() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find test chart: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		candidate := filepath.Join(dir, chartSource)
		if _, err := os.Stat(filepath.Join(candidate, "Chart.yaml")); err == nil {
			return candidate, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("find test chart: no %s above %s", chartSource, wd)
		}
	}
}
