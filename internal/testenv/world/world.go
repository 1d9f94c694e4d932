// Package world stands up everything around a cluster that an upgrade run
// talks to, all on 127.0.0.1: a chart repository of the Pachyderm-shaped
// test chart, a GitHub API with the CHANGELOG, releases and pachctl assets
// (with digests), and a pachd stand-in whose version is the one the pachd
// pods in the cluster actually run. End-to-end tests and the demo share it.
package world

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/Masterminds/semver/v3"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/pach-upgrade/pach-upgrade/internal/changelog"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/github/githubtest"
	"github.com/pach-upgrade/pach-upgrade/internal/helmrelease"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/chartrepo"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/postgres"
	"github.com/pach-upgrade/pach-upgrade/internal/version"
)

// Repo is the GitHub repository the world's releases and CHANGELOG live in,
// the real Pachyderm repository's name.
const Repo = "pachyderm/pachyderm"

// Options describe the world.
type Options struct {
	// RESTConfig reaches the cluster; Namespace is where the release lives.
	RESTConfig *rest.Config
	Namespace  string
	// Dir holds the chart repository and the pachctl assets.
	Dir string
	// Charts are the versions of the test chart the repository serves.
	// Leave empty when ChartDir is set.
	Charts []chartrepo.Chart
	// ChartDir, when set, is served instead: a folder of packaged charts
	// with its index.yaml (the real Pachyderm charts, say).
	ChartDir string
	// Changelog is the CHANGELOG.md content served for Repo.
	Changelog string
	// Database, when set, is the release's built-in PostgreSQL: an exec into postgres-0 runs
	// pg_dump/pg_restore/psql against it, a port-forward to pg-bouncer's pod reaches it, and
	// every pachd pod starts through a pachstandin.StartGate against its database pachyderm
	// (migrations applied, a newer database refused with a crash loop). Give the chart's
	// pachd pods pachstandin.PodAnnotations() (value pachd.podAnnotations) so they wait for
	// it, and make the release's postgres Secret hold Database.Password.
	Database *postgres.Server
	// Migrations is the stand-in's migration chain; default pachstandin.DefaultMigrations.
	Migrations pachstandin.MigrationTable
	// DatabaseActivity, when set, makes a Ready, unpaused pachd write a row into table
	// standin_activity every DatabaseActivity (see pachstandin.StartGateOptions.Activity).
	DatabaseActivity time.Duration
}

// World is the running set of servers.
type World struct {
	Namespace string
	Charts    *chartrepo.Repo
	GitHub    *githubtest.Server
	Pachd     *pachstandin.Pachd
	Kube      kubernetes.Interface
	Helm      *helmrelease.Client
	// Gate starts the pachd pods when Options.Database is set.
	Gate *pachstandin.StartGate

	cancel context.CancelFunc
	unwire func(context.Context) error
}

// New starts the servers and publishes a pachctl release (stand-in binary,
// real asset layout, digest in the releases API) for every app version the
// chart repository holds.
func New(ctx context.Context, o Options) (_ *World, err error) {
	w := &World{Namespace: o.Namespace}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	if w.Kube, err = kubernetes.NewForConfig(o.RESTConfig); err != nil {
		return nil, fmt.Errorf("world: clientset: %w", err)
	}
	if w.Helm, err = helmrelease.New(o.RESTConfig, o.Namespace); err != nil {
		return nil, fmt.Errorf("world: helm: %w", err)
	}
	chartDir := o.ChartDir
	if chartDir == "" {
		chartDir = filepath.Join(o.Dir, "charts")
		if err := os.MkdirAll(chartDir, 0o755); err != nil {
			return nil, err
		}
		if err := chartrepo.Build(chartDir, o.Charts...); err != nil {
			return nil, fmt.Errorf("world: %w", err)
		}
	}
	if w.Charts, err = chartrepo.New(chartDir); err != nil {
		return nil, fmt.Errorf("world: %w", err)
	}

	w.GitHub = githubtest.NewServer()
	if o.Changelog != "" {
		w.GitHub.SetFile(Repo, "CHANGELOG.md", []byte(o.Changelog))
	}
	versions, err := appVersions(ctx, w.Charts.URL)
	if err != nil {
		return nil, err
	}
	cl := changelog.Parse(o.Changelog)
	assetDir := filepath.Join(o.Dir, "pachctl-assets")
	if err := os.MkdirAll(assetDir, 0o755); err != nil {
		return nil, err
	}
	for _, v := range versions {
		a, err := pachstandin.BuildPachctl(ctx, v, runtime.GOARCH, assetDir)
		if err != nil {
			return nil, fmt.Errorf("world: pachctl %s: %w", v, err)
		}
		content, err := os.ReadFile(a.Path)
		if err != nil {
			return nil, err
		}
		w.GitHub.AddRelease(Repo, githubtest.Release{Tag: "v" + v, Name: v,
			Body:   releaseBody(w.GitHub, cl, versions, v),
			Assets: []githubtest.Asset{{Name: a.Name, Content: content}}})
	}

	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel = cancel
	if w.Pachd, err = pachstandin.ServePachd(pctx, pachstandin.VersionFromCluster(w.Kube, o.Namespace, "pachd")); err != nil {
		return nil, fmt.Errorf("world: %w", err)
	}
	if o.Database != nil {
		if w.unwire, err = o.Database.ServeChartContext(ctx, o.RESTConfig, o.Namespace); err != nil {
			return nil, fmt.Errorf("world: %w", err)
		}
		if w.Gate, err = pachstandin.StartStartGate(pctx, pachstandin.StartGateOptions{Kube: w.Kube, Namespace: o.Namespace,
			DSN: o.Database.DSN(postgres.DBPachyderm), Migrations: o.Migrations,
			Activity: o.DatabaseActivity, Paused: w.Pachd.PausedByEnterprise, Writing: w.Pachd.Writing}); err != nil {
			return nil, fmt.Errorf("world: %w", err)
		}
	}
	return w, nil
}

// releaseBody is a release's body as Pachyderm writes them: only GitHub's
// compare link for a version whose notes are in the CHANGELOG, the notes
// themselves for the others (Pachyderm's CHANGELOG stops at 2.5.3).
func releaseBody(gh *githubtest.Server, cl *changelog.Changelog, all []string, v string) string {
	sv, err := semver.NewVersion(v)
	if err != nil {
		return fmt.Sprintf("Pachyderm %s release notes (from the release body).", v)
	}
	if s, ok := cl.Section(sv); !ok || s.Body == "" {
		return fmt.Sprintf("Pachyderm %s release notes (from the release body).", v)
	}
	// GitHub's generated link compares with the previous release.
	var prev *semver.Version
	for _, o := range all {
		if ov, err := semver.NewVersion(o); err == nil && ov.LessThan(sv) && (prev == nil || ov.GreaterThan(prev)) {
			prev = ov
		}
	}
	base := "v" + v
	if prev != nil {
		base = "v" + prev.Original()
	}
	return fmt.Sprintf("**Full Changelog**: %s/%s/compare/%s...v%s", gh.ServerURL, Repo, base, v)
}

// appVersions lists the app versions the chart repository serves.
func appVersions(ctx context.Context, repoURL string) ([]string, error) {
	raw, err := helmrelease.FetchIndex(ctx, repoURL, helmrelease.PullOptions{})
	if err != nil {
		return nil, err
	}
	ix, err := version.ParseIndex(raw, chartrepo.ChartName)
	if err != nil {
		return nil, fmt.Errorf("world: %w", err)
	}
	return ix.AppVersions(), nil
}

// Inputs are the action inputs that point a run at this world; callers add
// target-version and whatever the scenario needs.
func (w *World) Inputs() map[string]string {
	return map[string]string{
		config.InputNamespace:          w.Namespace,
		config.InputChartRepo:          w.Charts.URL,
		config.InputPachdAddress:       w.Pachd.Address,
		config.InputPachctlDownloadURL: w.GitHub.ServerURL + "/" + Repo + "/releases/download/v{version}/pachctl_{version}_linux_{arch}.tar.gz",
		config.InputChangelogRepo:      Repo,
		config.InputTimeout:            "2m",
		// The chart's postgres-0 here is a kwok pod with no PostgreSQL to
		// exec into: a world that serves one turns the dump on.
		config.InputDatabaseBackup: "false",
	}
}

// Install installs the test chart at chartVersion as release with values,
// the "old" cluster an upgrade starts from, and waits for nothing: callers
// wait for readiness with the cluster package as the action does.
func (w *World) Install(ctx context.Context, release, chartVersion string, values map[string]any) (*helmrelease.Release, error) {
	ch, err := helmrelease.PullChart(ctx, w.Charts.URL, chartrepo.ChartName, chartVersion, helmrelease.PullOptions{})
	if err != nil {
		return nil, err
	}
	return w.Helm.Install(ctx, release, ch, values, helmrelease.UpgradeOptions{Timeout: 2 * time.Minute})
}

// Close stops every server.
func (w *World) Close() {
	if w.cancel != nil {
		w.cancel()
	}
	if w.Gate != nil {
		<-w.Gate.Done()
	}
	if w.unwire != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = w.unwire(ctx)
		cancel()
	}
	if w.GitHub != nil {
		w.GitHub.Close()
	}
	if w.Charts != nil {
		w.Charts.Close()
	}
}
