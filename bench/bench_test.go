// Package bench measures what the issues set targets for, on the local control plane:
//
//	go test ./bench -run '^$' -bench . -benchtime 5x
//
// BenchmarkClusterWarmStart: start to a Ready API server with the binaries already built
// (target: under 15 s), and the control plane's memory. BenchmarkRealChartReady: the real
// Pachyderm chart's install until all its pods are Ready. BenchmarkPatchUpgrade: one whole
// run of the action, lock to verified versions, on the test chart; BenchmarkRealChartUpgrade
// the same on the real chart. BenchmarkUpgradeVsHelm, BenchmarkReadinessLatency and
// BenchmarkUpgradeScale measure issue 13's targets, BenchmarkBrokenUpgradeVsHelm issue 23's
// time to a safe state, BenchmarkUpgradeDumpQuiesce what its healthy upgrade's database dump
// and quiescing cost; their results, with the machine and the commands, are in RESULTS.md.
//
// The package has no tests, so `go test ./...` starts no cluster here.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/github"
	"github.com/pach-upgrade/pach-upgrade/internal/helmrelease"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/chartrepo"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
	"github.com/pach-upgrade/pach-upgrade/internal/upgrade"
)

// peakRSS sums the peak resident set (VmHWM) of the control plane's processes, as listed in
// the cluster's state dir: the supervisor (with embedded etcd) and its children.
func peakRSS(dir string) (int64, error) {
	pids := []string{}
	if b, err := os.ReadFile(filepath.Join(dir, "supervisor.pid")); err == nil {
		pids = append(pids, strings.TrimSpace(string(b)))
	}
	b, err := os.ReadFile(filepath.Join(dir, "children"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if _, pid, ok := strings.Cut(line, "="); ok {
			pids = append(pids, pid)
		}
	}
	var total int64
	for _, pid := range pids {
		kb, err := vmHWM(pid)
		if err != nil {
			return 0, err
		}
		total += kb << 10
	}
	return total, nil
}

func vmHWM(pid string) (int64, error) {
	f, err := os.Open(filepath.Join("/proc", pid, "status"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM for pid %s", pid)
}

func BenchmarkClusterWarmStart(b *testing.B) {
	ctx := context.Background()
	// A first start builds the binaries if the cache is cold; it is not what is measured.
	c, err := testenv.Start(ctx, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	var peak int64
	b.ResetTimer()
	for range b.N {
		c, err := testenv.Start(ctx, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if p, err := peakRSS(c.Dir()); err == nil {
			peak = max(peak, p)
		}
		if err := c.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(peak)/(1<<20), "MiB-peak-rss")
}

// clusterFor gives a benchmark a running cluster: the one the environment names, or its own.
func clusterFor(b *testing.B) (*testenv.Cluster, *rest.Config) {
	b.Helper()
	c, err := testenv.Use(context.Background(), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if p, err := peakRSS(c.Dir()); err == nil {
			b.ReportMetric(float64(p)/(1<<20), "MiB-peak-rss")
		}
		_ = c.Stop(context.Background())
	})
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		b.Fatal(err)
	}
	// As testenv.RESTConfig: the benchmark's own clients (the world's stand-ins among them)
	// must not throttle themselves. At client-go's default 5 requests a second, a database
	// world's start gate, polling ten times a second, left pachd's stand-in waiting about
	// 0.35 s for each version it looks up, and every health read took 1.1 s.
	rc.QPS, rc.Burst = 200, 400
	return c, rc
}

func namespace(b *testing.B, kube *cluster.Client) string {
	b.Helper()
	ns, err := kube.Clientset().CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = kube.Clientset().CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

func BenchmarkRealChartReady(b *testing.B) {
	_, rc := clusterFor(b)
	kube, err := cluster.New(rc)
	if err != nil {
		b.Fatal(err)
	}
	repo, err := chartrepo.New(testenv.SharedFixtures(b))
	if err != nil {
		b.Fatal(err)
	}
	defer repo.Close()
	ctx := context.Background()
	ch, err := helmrelease.PullChart(ctx, repo.URL, "pachyderm", "2.11.5", helmrelease.PullOptions{})
	if err != nil {
		b.Fatal(err)
	}
	vals := map[string]any{"deployTarget": "LOCAL", "pachd": map[string]any{"lokiDeploy": false}}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		ns := namespace(b, kube)
		hc, err := helmrelease.New(rc, ns)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := hc.Install(ctx, "pachd", ch, vals, helmrelease.UpgradeOptions{Timeout: 3 * time.Minute}); err != nil {
			b.Fatal(err)
		}
		if err := kube.WaitReady(ctx, ns, cluster.Selection{Release: "pachd"}, 5*time.Minute, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPatchUpgrade(b *testing.B) {
	benchUpgradeRun(b, world.Options{
		Charts:    []chartrepo.Chart{{Version: "7.11.5", AppVersion: "2.11.5"}, {Version: "7.11.6", AppVersion: "2.11.6"}},
		Changelog: "## 2.11.6\n* A fix.\n"}, "7.11.5", map[string]any{"deployTarget": "LOCAL"})
}

// BenchmarkRealChartUpgrade: one whole run of the action on the real chart, 2.11.5 to 2.11.6
// with deployTarget LOCAL, the generated values carried over (five renders of the chart).
func BenchmarkRealChartUpgrade(b *testing.B) {
	benchUpgradeRun(b, world.Options{ChartDir: testenv.SharedFixtures(b), Changelog: "## 2.11.6\n* A fix.\n"},
		"2.11.5", map[string]any{"deployTarget": "LOCAL", "pachd": map[string]any{"lokiDeploy": false}})
}

func benchUpgradeRun(b *testing.B, opts world.Options, from string, vals map[string]any) {
	_, rc := clusterFor(b)
	kube, err := cluster.New(rc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	tools := b.TempDir()
	steps := map[string]time.Duration{}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		ns := namespace(b, kube)
		opts.RESTConfig, opts.Namespace, opts.Dir = rc, ns, b.TempDir()
		w, err := world.New(ctx, opts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Install(ctx, "pachd", from, vals); err != nil {
			b.Fatal(err)
		}
		if err := kube.WaitReady(ctx, ns, cluster.Selection{Release: "pachd"}, 2*time.Minute, nil); err != nil {
			b.Fatal(err)
		}
		raw := w.Inputs()
		raw[config.InputTargetVersion] = "latest-patch"
		raw[config.InputBackupDir] = b.TempDir()
		cfg, err := config.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		gh, err := github.NewClient(github.Options{APIURL: w.GitHub.APIURL, ServerURL: w.GitHub.ServerURL})
		if err != nil {
			b.Fatal(err)
		}
		hc, err := helmrelease.New(rc, ns)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep := upgrade.Run(ctx, cfg, upgrade.Deps{Log: report.NewCLILogger(io.Discard, io.Discard), Cluster: kube, Helm: hc,
			GitHub: gh, Holder: fmt.Sprintf("bench %d", i), ToolCache: tools, TempDir: b.TempDir()})
		b.StopTimer()
		w.Close()
		if rep.Result != report.ResultUpgraded {
			b.Fatalf("result %s: %s", rep.Result, rep.Failure)
		}
		for _, st := range rep.Steps {
			steps[st.Name] += st.Duration
		}
		b.StartTimer()
	}
	// The steps that render the chart, apart: what finding generated values costs.
	for _, name := range []string{"Generated values", "Helm upgrade"} {
		if d, ok := steps[name]; ok {
			b.ReportMetric(d.Seconds()/float64(b.N), strings.ReplaceAll(strings.ToLower(name), " ", "-")+"-s/op")
		}
	}
}
