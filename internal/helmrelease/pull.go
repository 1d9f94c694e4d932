package helmrelease

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"

	"github.com/pach-upgrade/pach-upgrade/internal/redact"
	pvalues "github.com/pach-upgrade/pach-upgrade/internal/values"
)

// maxDownload bounds what is read from a chart repository: the real Pachyderm chart archive
// is well under 1 MiB and its index a few MiB.
const maxDownload = 64 << 20

// Chart is a loaded chart and where it came from.
type Chart struct {
	*chart.Chart
	// Source is the archive URL (credentials left out) or local path it was loaded from.
	Source string
	// Digest is the archive's SHA-256 (hex) when it came from a repository index.
	Digest string
}

// Version is the chart version.
func (c *Chart) Version() string { return c.Metadata.Version }

// AppVersion is the application (Pachyderm) version the chart deploys.
func (c *Chart) AppVersion() string { return c.Metadata.AppVersion }

// DigestMismatchError means the archive downloaded is not the one the index describes.
type DigestMismatchError struct {
	URL      string
	Expected string
	Actual   string
}

func (e *DigestMismatchError) Error() string {
	return fmt.Sprintf("chart archive %s has digest sha256:%s, the repository index says sha256:%s; refusing to use it",
		redact.URL(e.URL), e.Actual, e.Expected)
}

// PullOptions tune PullChart.
type PullOptions struct {
	// HTTPClient is used for repository requests; http.DefaultClient when nil.
	HTTPClient *http.Client
}

func (o PullOptions) httpClient() *http.Client {
	if o.HTTPClient == nil {
		return http.DefaultClient
	}
	return o.HTTPClient
}

// PullChart loads chart chartName at version from repoURL. repoURL is either an http(s)
// chart repository (index.yaml, then the archive, whose SHA-256 must equal the index's
// digest), or a local path: a folder holding index.yaml and archives (checked the same way),
// a chart archive, or an unpacked chart folder. An empty version means the newest stable one.
func PullChart(ctx context.Context, repoURL, chartName, version string, opts PullOptions) (*Chart, error) {
	if chartName == "" {
		return nil, errors.New("pull chart: empty chart name")
	}
	if IsLocalChart(chartName) {
		return loadLocalChart(chartName, version)
	}
	client := opts.httpClient()
	if u, err := url.Parse(repoURL); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		return pullFromRepo(ctx, repoURL, chartName, version, func(ctx context.Context, ref string) ([]byte, error) {
			return httpGet(ctx, client, ref)
		})
	}
	info, err := os.Stat(repoURL)
	if err != nil {
		return nil, fmt.Errorf("pull chart %s: chart-repo %q is neither an http(s) URL nor a readable path: %w", chartName, repoURL, err)
	}
	if info.IsDir() {
		if _, err := os.Stat(filepath.Join(repoURL, "index.yaml")); err == nil {
			base, err := filepath.Abs(repoURL)
			if err != nil {
				return nil, fmt.Errorf("pull chart %s: resolve %s: %w", chartName, repoURL, err)
			}
			return pullFromRepo(ctx, base, chartName, version, func(_ context.Context, ref string) ([]byte, error) {
				return readLocal(base, ref)
			})
		}
	}
	ch, err := loader.Load(repoURL)
	if err != nil {
		return nil, fmt.Errorf("load chart from %s: %w", repoURL, err)
	}
	if err := checkLoaded(ch, chartName, version, repoURL); err != nil {
		return nil, err
	}
	return &Chart{Chart: ch, Source: repoURL}, nil
}

// IsLocalChart says whether the chart input is a path (`./charts/pachyderm`,
// `/abs/path`, `../x`, `pachyderm-2.11.6.tgz`) rather than a chart name in
// chart-repo: the rule the input's validation applies.
func IsLocalChart(chart string) bool {
	return strings.HasPrefix(chart, "/") || strings.HasPrefix(chart, "./") || strings.HasPrefix(chart, "../") || strings.HasSuffix(chart, ".tgz")
}

// loadLocalChart loads the chart directory or archive at path; version, when
// set, must be its version.
func loadLocalChart(path, version string) (*Chart, error) {
	ch, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("load local chart %s (the chart input): %w", path, err)
	}
	if ch.Metadata == nil {
		return nil, fmt.Errorf("local chart %s (the chart input) has no Chart.yaml metadata", path)
	}
	if err := checkLoaded(ch, ch.Metadata.Name, version, path); err != nil {
		return nil, err
	}
	return &Chart{Chart: ch, Source: path}, nil
}

// LocalChartIndex loads the local chart at path and returns an index.yaml
// listing just it, and its name, so that target resolution treats a local
// chart as a repository that holds this one chart version.
func LocalChartIndex(path string) ([]byte, string, error) {
	ch, err := loadLocalChart(path, "")
	if err != nil {
		return nil, "", err
	}
	idx := repo.NewIndexFile()
	if err := idx.MustAdd(ch.Metadata, filepath.Base(path), "", ""); err != nil {
		return nil, "", fmt.Errorf("local chart %s (the chart input): %w", path, err)
	}
	raw, err := yaml.Marshal(idx)
	if err != nil {
		return nil, "", fmt.Errorf("local chart %s: write its index: %w", path, err)
	}
	return raw, ch.Metadata.Name, nil
}

type fetchFunc func(ctx context.Context, ref string) ([]byte, error)

func pullFromRepo(ctx context.Context, repoURL, chartName, version string, fetch fetchFunc) (*Chart, error) {
	idxURL, err := repo.ResolveReferenceURL(repoURL, "index.yaml")
	if err != nil {
		return nil, fmt.Errorf("chart repository %s: %w", redact.URL(repoURL), err)
	}
	raw, err := fetch(ctx, idxURL)
	if err != nil {
		return nil, fmt.Errorf("fetch chart repository index: %w", err)
	}
	var idx repo.IndexFile
	if err := yaml.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("parse chart repository index %s: %w", redact.URL(idxURL), err)
	}
	if idx.Entries == nil {
		return nil, fmt.Errorf("chart repository index %s has no entries", redact.URL(idxURL))
	}
	idx.SortEntries()
	cv, err := idx.Get(chartName, version)
	if err != nil {
		return nil, fmt.Errorf("chart %s version %q in %s: %w", chartName, version, redact.URL(idxURL), err)
	}
	if len(cv.URLs) == 0 {
		return nil, fmt.Errorf("chart %s %s in %s lists no archive URL", chartName, cv.Version, redact.URL(idxURL))
	}
	if cv.Digest == "" {
		return nil, fmt.Errorf("chart %s %s in %s has no digest; refusing an unverifiable archive", chartName, cv.Version, redact.URL(idxURL))
	}
	archiveURL, err := repo.ResolveReferenceURL(repoURL, cv.URLs[0])
	if err != nil {
		return nil, fmt.Errorf("chart %s %s archive URL %q: %w", chartName, cv.Version, redact.URL(cv.URLs[0]), err)
	}
	data, err := fetch(ctx, archiveURL)
	if err != nil {
		return nil, fmt.Errorf("fetch chart %s %s: %w", chartName, cv.Version, err)
	}
	sum := sha256.Sum256(data)
	actual := hex.EncodeToString(sum[:])
	expected := strings.ToLower(strings.TrimPrefix(cv.Digest, "sha256:"))
	if actual != expected {
		return nil, &DigestMismatchError{URL: archiveURL, Expected: expected, Actual: actual}
	}
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("load chart archive %s: %w", redact.URL(archiveURL), err)
	}
	if err := checkLoaded(ch, chartName, cv.Version, redact.URL(archiveURL)); err != nil {
		return nil, err
	}
	return &Chart{Chart: ch, Source: redact.URL(archiveURL), Digest: actual}, nil
}

// checkLoaded makes sure the archive holds the chart that was asked for: an index can point
// at any file.
func checkLoaded(ch *chart.Chart, name, version, source string) error {
	if ch.Metadata == nil {
		return fmt.Errorf("chart from %s has no Chart.yaml metadata", source)
	}
	if ch.Metadata.Name != name {
		return fmt.Errorf("chart from %s is named %q, expected %q", source, ch.Metadata.Name, name)
	}
	if version != "" && ch.Metadata.Version != strings.TrimPrefix(version, "v") && ch.Metadata.Version != version {
		return fmt.Errorf("chart from %s has version %s, expected %s", source, ch.Metadata.Version, version)
	}
	return nil
}

func httpGet(ctx context.Context, client *http.Client, ref string) ([]byte, error) {
	shown := redact.URL(ref)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ref, nil)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", shown, urlErrorCause(err))
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", shown, urlErrorCause(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %s", shown, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxDownload+1))
	if err != nil {
		if resp.ContentLength > 0 {
			return nil, fmt.Errorf("GET %s: download cut short after %d of %d bytes: %w", shown, len(data), resp.ContentLength, err)
		}
		return nil, fmt.Errorf("GET %s: download cut short after %d bytes: %w", shown, len(data), err)
	}
	if len(data) > maxDownload {
		return nil, fmt.Errorf("GET %s: response larger than %d bytes", shown, maxDownload)
	}
	return data, nil
}

// urlErrorCause drops the URL the HTTP client puts in its errors: that copy
// keeps the user name (often a token) and the query.
func urlErrorCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// readLocal reads ref (as resolved against a local repository folder) and refuses anything
// outside the folder, since a local index's URLs are untrusted input too.
func readLocal(base, ref string) ([]byte, error) {
	p := ref
	if u, err := url.Parse(ref); err == nil && u.Scheme == "file" {
		p = u.Path
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	absBase, err := filepath.Abs(base)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", base, err)
	}
	absP, err := filepath.Abs(p)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", p, err)
	}
	if rel, err := filepath.Rel(absBase, absP); err != nil || strings.HasPrefix(rel, "..") {
		return nil, fmt.Errorf("chart file %s is outside the repository folder %s", ref, base)
	}
	data, err := os.ReadFile(absP)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", absP, err)
	}
	return data, nil
}

// clone copies what rendering changes in a chart, so that renders can run side by side:
// Helm's render marks each dependency enabled or not in the chart's metadata, drops the
// disabled ones from its dependency list and replaces its values with the imported ones.
// Templates and files, which it only reads, are shared.
func (c *Chart) clone() *Chart {
	cp := *c
	cp.Chart = copyChart(c.Chart)
	return &cp
}

func copyChart(c *chart.Chart) *chart.Chart {
	if c == nil {
		return nil
	}
	cp := *c
	if c.Metadata != nil {
		md := *c.Metadata
		md.Dependencies = nil
		if c.Metadata.Dependencies != nil {
			md.Dependencies = make([]*chart.Dependency, len(c.Metadata.Dependencies))
		}
		for i, d := range c.Metadata.Dependencies {
			if d != nil {
				dc := *d
				md.Dependencies[i] = &dc
			}
		}
		cp.Metadata = &md
	}
	if c.Values != nil {
		cp.Values = pvalues.Copy(c.Values)
	}
	deps := make([]*chart.Chart, 0, len(c.Dependencies()))
	for _, d := range c.Dependencies() {
		deps = append(deps, copyChart(d))
	}
	cp.SetDependencies(deps...)
	return &cp
}
