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
	"path"
	"path/filepath"
	"strconv"
	"sync"

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

	mu     sync.Mutex
	faults map[string]Fault // by served path, e.g. "/index.yaml"
}

// Fault is a failure the repository serves instead of a file, as a broken or
// misconfigured chart repository (or a proxy in front of it) answers.
type Fault string

const (
	// FaultNotFound answers 404, as a repository that lost the file does.
	FaultNotFound Fault = "not-found"
	// FaultTruncated announces the whole file in Content-Length, sends half
	// of it and closes the connection: a download cut short.
	FaultTruncated Fault = "truncated"
	// FaultOtherBytes serves other bytes (the file with its last byte
	// flipped) than those the index's digest was computed from.
	FaultOtherBytes Fault = "other-bytes"
	// FaultHTML answers 200 with an HTML page instead of the file, as a
	// login page or a web server's index page in front of a wrong URL does.
	FaultHTML Fault = "html"
)

// Fail makes the file at name (relative to the repository root, e.g.
// "index.yaml" or "pachyderm-1.0.0.tgz") answer with f from now on; an
// empty f serves the file again.
func (r *Repo) Fail(name string, f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := path.Clean("/" + name)
	if f == "" {
		delete(r.faults, p)
		return
	}
	r.faults[p] = f
}

func (r *Repo) fault(p string) Fault {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.faults[path.Clean(p)]
}

// serve serves the folder, or the fault injected for the requested file.
func (r *Repo) serve(files http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		f := r.fault(req.URL.Path)
		if f == "" {
			files.ServeHTTP(w, req)
			return
		}
		if f == FaultNotFound {
			http.NotFound(w, req)
			return
		}
		if f == FaultHTML {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte("<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n<body><form action=\"/login\">Sign in to continue</form></body></html>\n"))
			return
		}
		data, err := os.ReadFile(filepath.Join(r.Dir, filepath.FromSlash(path.Clean(req.URL.Path))))
		if err != nil {
			http.NotFound(w, req)
			return
		}
		switch f {
		case FaultTruncated:
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(data[:len(data)/2])
			// Flush, then hijack and close: the client sees the connection end early.
			if fl, ok := w.(http.Flusher); ok {
				fl.Flush()
			}
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
				}
			}
		case FaultOtherBytes:
			if len(data) > 0 {
				data[len(data)-1] ^= 0xff
			}
			_, _ = w.Write(data)
		}
	})
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
	r := &Repo{Dir: abs, faults: map[string]Fault{}}
	srv := httptest.NewUnstartedServer(r.serve(http.FileServer(http.Dir(abs))))
	// httptest listens on whatever it picks by default; bind loopback explicitly.
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	r.URL, r.srv = srv.URL, srv
	return r, nil
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
