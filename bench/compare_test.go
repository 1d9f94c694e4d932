package bench

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/github/githubtest"
	"github.com/pach-upgrade/pach-upgrade/internal/helmrelease"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/actionrun"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/chartrepo"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

// realChangelog is shaped like Pachyderm's CHANGELOG.md, which stops at 2.5.3: the notes of
// 2.11.x come from the release bodies, as in a real run.
const realChangelog = "# Changelog\n\n## 2.5.3\n* Fix a crash.\n\n## 2.5.2 \n* Faster uploads.\n"

// chartCase is one chart change the comparison makes: from → to, then back untimed.
type chartCase struct {
	name             string
	fromChart        string
	toChart, toApp   string
	values           map[string]any
	worldOptions     func(b *testing.B, o world.Options) world.Options
	pachdDeployment  string
	releaseName      string
	scriptPollPeriod time.Duration
}

func realChart() chartCase {
	return chartCase{
		name: "real-chart", fromChart: "2.11.5", toChart: "2.11.6", toApp: "2.11.6",
		// Loki's cluster-scoped objects would collide between the benchmark's namespaces.
		values: map[string]any{"deployTarget": "LOCAL", "pachd": map[string]any{"lokiDeploy": false}},
		worldOptions: func(b *testing.B, o world.Options) world.Options {
			o.ChartDir = testenv.SharedFixtures(b)
			return o
		},
		pachdDeployment: "pachd", releaseName: "pachd", scriptPollPeriod: 2 * time.Second,
	}
}

func testChart() chartCase {
	return chartCase{
		name: "test-chart", fromChart: "7.11.5", toChart: "7.11.6", toApp: "2.11.6",
		values: map[string]any{"deployTarget": "LOCAL"},
		worldOptions: func(_ *testing.B, o world.Options) world.Options {
			o.Charts = []chartrepo.Chart{{Version: "7.11.5", AppVersion: "2.11.5"}, {Version: "7.11.6", AppVersion: "2.11.6"}}
			return o
		},
		pachdDeployment: "pachd", releaseName: "pachd", scriptPollPeriod: 2 * time.Second,
	}
}

// BenchmarkUpgradeVsHelm runs, interleaved in each iteration so that the shared machine's load
// falls on all alike:
//
//	action: the pach-upgrade binary as an Actions step on a PR (mode apply, pachctl in the
//	        tool cache from the warm-up run): lock, notes, backup, values, upgrade, watch,
//	        verify, summary and PR comment;
//	helm:   helm upgrade --reuse-values --wait with the Helm 4 CLI;
//	script: the seed's manual procedure: helm upgrade (Helm 4 CLI, no wait), then list the
//	        namespace's pods every 2 s until all are Ready (kubectl get pods, done through the
//	        API by this process: kubectl is not built here), then pachctl version until pachd
//	        reports the target.
//
// Each variant upgrades its own release (own namespace) from the old chart to the new one;
// after each timed run the release is rolled back to the old chart, untimed. It also reports
// the action's start to first log line, peak RSS (the child's rusage) and GitHub API calls.
func BenchmarkUpgradeVsHelm(b *testing.B) {
	c, rc := clusterFor(b)
	if c.Helm4() == "" {
		b.Fatal("the cluster has no Helm 4 CLI (HELM4 line): rebuild test/cluster's binaries")
	}
	bin, err := actionrun.Build(context.Background(), repoRoot(b), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	for _, cc := range []chartCase{realChart(), testChart()} {
		b.Run(cc.name, func(b *testing.B) { compareUpgrade(b, c, rc, bin, cc) })
	}
}

// versusHelm gives a comparison with Helm 4 its cluster (which must have the Helm 4 CLI), a
// client of it, and the action's binary built from this checkout.
func versusHelm(ctx context.Context, b *testing.B) (*testenv.Cluster, *rest.Config, *cluster.Client, string) {
	b.Helper()
	c, rc := clusterFor(b)
	if c.Helm4() == "" {
		b.Fatal("the cluster has no Helm 4 CLI (HELM4 line): rebuild test/cluster's binaries")
	}
	bin, err := actionrun.Build(ctx, repoRoot(b), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	kube, err := cluster.New(rc)
	if err != nil {
		b.Fatal(err)
	}
	return c, rc, kube, bin
}

func repoRoot(b *testing.B) string {
	b.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		b.Fatal(err)
	}
	return root
}

// variantNS is one variant's release.
type variantNS struct {
	ns    string
	helm  *helmrelease.Client
	pachd *pachstandin.Pachd
}

// installVariants gives each variant of order a namespace and a Helm client, starts the world
// (GitHub, chart repository, pachd stand-in) in the "action" variant's namespace with dir as
// its folder, and installs cc's old chart in every namespace, Ready. The caller closes w.
func installVariants(ctx context.Context, b *testing.B, kube *cluster.Client, rc *rest.Config, cc chartCase, order []string,
	dir string) (map[string]*variantNS, *world.World) {
	b.Helper()
	vs := map[string]*variantNS{}
	for _, v := range order {
		ns := namespace(b, kube)
		hc, err := helmrelease.New(rc, ns)
		if err != nil {
			b.Fatal(err)
		}
		vs[v] = &variantNS{ns: ns, helm: hc}
	}
	w, err := world.New(ctx, cc.worldOptions(b, world.Options{RESTConfig: rc, Namespace: vs["action"].ns, Dir: dir,
		Changelog: realChangelog}))
	if err != nil {
		b.Fatal(err)
	}
	vs["action"].pachd = w.Pachd
	ch, err := helmrelease.PullChart(ctx, w.Charts.URL, chartrepo.ChartName, cc.fromChart, helmrelease.PullOptions{})
	if err != nil {
		w.Close()
		b.Fatal(err)
	}
	for _, v := range vs {
		if _, err := v.helm.Install(ctx, cc.releaseName, ch, cc.values, helmrelease.UpgradeOptions{Timeout: 3 * time.Minute}); err != nil {
			w.Close()
			b.Fatal(err)
		}
		if err := kube.WaitReady(ctx, v.ns, cluster.Selection{Release: cc.releaseName}, 3*time.Minute, nil); err != nil {
			w.Close()
			b.Fatal(err)
		}
	}
	return vs, w
}

func compareUpgrade(b *testing.B, c *testenv.Cluster, rc *rest.Config, bin string, cc chartCase) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kube, err := cluster.New(rc)
	if err != nil {
		b.Fatal(err)
	}
	order := []string{"action", "helm", "script"}
	// BENCH_BASELINE_BINARY names a pach-upgrade binary built from an earlier commit: it runs
	// as one more interleaved variant, for before/after figures of a change.
	baseline := os.Getenv("BENCH_BASELINE_BINARY")
	if baseline != "" {
		order = append(order, "baseline")
	}
	// BENCH_SLOW_GITHUB (a duration, e.g. 2s) adds the action with the GitHub stand-in answering
	// every call that late: issue 23's "GitHub slow" case. It also adds a run without a pull
	// request (a scheduled patch bump: no comment, pachctl not in the tool cache), with GitHub
	// instant and slow.
	var slow time.Duration
	if v := os.Getenv("BENCH_SLOW_GITHUB"); v != "" {
		if slow, err = time.ParseDuration(v); err != nil {
			b.Fatalf("BENCH_SLOW_GITHUB: %v", err)
		}
		order = append(order, "action-slow-github", "action-nopr", "action-slow-github-nopr")
	}
	dir := b.TempDir()
	vs, w := installVariants(ctx, b, kube, rc, cc, order, dir)
	defer w.Close()
	// Every other variant that runs pachctl version has a pachd stand-in of its own release.
	for _, name := range order {
		if name == "action" || name == "helm" {
			continue
		}
		if vs[name].pachd, err = pachstandin.ServePachd(ctx, pachstandin.VersionFromCluster(kube.Clientset(), vs[name].ns, cc.pachdDeployment)); err != nil {
			b.Fatal(err)
		}
	}
	pachctl := filepath.Join(dir, "pachctl")
	if err := pachstandin.BuildBinary(ctx, cc.toApp, runtime.GOARCH, pachctl); err != nil {
		b.Fatal(err)
	}

	helmHome := b.TempDir()
	helmCmd := func(ns string, wait bool) *exec.Cmd { return helmUpgrade(ctx, c, helmHome, w.Charts.URL, cc, ns, wait) }
	runner, inputs := prRun(b, c, w, bin, cc)

	s := samples{}
	gh := map[githubtest.Op][]int{}
	// Per variant: the GitHub calls of its last run, its step table and its GitHub log lines.
	lastCalls, lastSummary, lastGitHubLog := map[string]string{}, map[string]string{}, map[string]string{}
	runAction := func(name string) (time.Duration, error) {
		runner, inputs := runner, maps.Clone(inputs)
		inputs[config.InputNamespace] = vs[name].ns
		inputs[config.InputPachdAddress] = vs[name].pachd.Address
		if name == "baseline" {
			runner.Binary = baseline
		}
		if strings.HasSuffix(name, "-nopr") {
			// A scheduled run on a GitHub-hosted runner: a fresh machine, whose tool cache
			// holds no pachctl, so it is downloaded and checked against the release digest.
			runner.PullRequest, runner.Event = 0, "schedule"
			runner.Env = append(slices.Clone(runner.Env), "RUNNER_TOOL_CACHE="+b.TempDir())
		}
		if strings.HasPrefix(name, "action-slow-github") {
			w.GitHub.SetLatency(slow)
			defer w.GitHub.SetLatency(0)
		}
		before := opCounts(w.GitHub)
		res, err := runner.Run(ctx, inputs)
		if err != nil {
			return 0, err
		}
		if res.ExitCode != 0 || res.Outputs["result"] != "upgraded" {
			return 0, fmt.Errorf("%s exit %d, result %q:\n%s", name, res.ExitCode, res.Outputs["result"], res.Log)
		}
		after := opCounts(w.GitHub)
		lastCalls[name], lastSummary[name], lastGitHubLog[name] = callList(before, after), res.Summary, githubLines(res.Log)
		if name == "baseline" {
			s.add("baseline-maxrss-MiB", float64(res.MaxRSS)/(1<<20))
			return res.Wall, nil
		}
		if name != "action" {
			return res.Wall, nil
		}
		total := 0
		for _, op := range githubOps {
			gh[op] = append(gh[op], after[op]-before[op])
			total += after[op] - before[op]
		}
		s.add("github-calls", float64(total))
		s.add("first-line-ms", float64(res.FirstLine.Microseconds())/1000)
		s.add("maxrss-MiB", float64(res.MaxRSS)/(1<<20))
		if os.Getenv("BENCH_SHOW_LOG") != "" {
			b.Log(res.Log)
		}
		return res.Wall, nil
	}
	run := map[string]func() (time.Duration, error){
		"action":             func() (time.Duration, error) { return runAction("action") },
		"baseline":           func() (time.Duration, error) { return runAction("baseline") },
		"action-slow-github": func() (time.Duration, error) { return runAction("action-slow-github") },
		"action-nopr":        func() (time.Duration, error) { return runAction("action-nopr") },
		"action-slow-github-nopr": func() (time.Duration, error) {
			return runAction("action-slow-github-nopr")
		},
		"helm": func() (time.Duration, error) {
			start := time.Now()
			if out, err := helmCmd(vs["helm"].ns, true).CombinedOutput(); err != nil {
				return 0, fmt.Errorf("helm upgrade --wait: %w\n%s", err, out)
			}
			return time.Since(start), nil
		},
		"script": func() (time.Duration, error) {
			start := time.Now()
			if out, err := helmCmd(vs["script"].ns, false).CombinedOutput(); err != nil {
				return 0, fmt.Errorf("helm upgrade: %w\n%s", err, out)
			}
			if err := manualWait(ctx, kube, vs["script"].ns, pachctl, vs["script"].pachd.Address, cc.toApp, cc.scriptPollPeriod); err != nil {
				return 0, err
			}
			return time.Since(start), nil
		},
	}
	round := func(record bool) {
		for _, name := range order {
			v := vs[name]
			before, err := v.helm.Get(ctx, cc.releaseName)
			if err != nil {
				b.Fatal(err)
			}
			d, err := run[name]()
			if err != nil {
				b.Fatalf("%s: %v", name, err)
			}
			if record {
				s.add(name, seconds(d))
			}
			// Back to the old chart, untimed, so every timed run is the same change.
			if err := rollBack(ctx, kube, v, cc, before.Revision); err != nil {
				b.Fatalf("%s: %v", name, err)
			}
		}
	}
	// Warm-up: fills the tool cache with pachctl (the runs measured are "pachctl cached"), the
	// page cache with the binaries, and Helm's repository cache.
	round(false)
	firstLineWarm := s["first-line-ms"]
	delete(s, "first-line-ms")
	delete(s, "maxrss-MiB")
	delete(s, "github-calls")
	delete(s, "baseline-maxrss-MiB")
	for op := range gh {
		delete(gh, op)
	}
	for b.Loop() {
		round(true)
	}
	for _, name := range order {
		s.log(b, name, "s")
	}
	s.log(b, "first-line-ms", "ms")
	s.log(b, "maxrss-MiB", "MiB")
	s.log(b, "github-calls", "calls")
	if baseline != "" {
		s.log(b, "baseline-maxrss-MiB", "MiB")
		b.ReportMetric(s.median("baseline"), "baseline-s")
		b.ReportMetric(s.median("action")/s.median("baseline"), "action/baseline")
		b.ReportMetric(s.median("baseline-maxrss-MiB"), "baseline-maxrss-MiB")
	}
	b.Logf("first line of the warm-up (first) run: %v ms", firstLineWarm)
	for _, op := range githubOps {
		b.Logf("github %-16s per run %v", op, gh[op])
	}
	b.Logf("steps of the last action run:\n%s", stepTable(lastSummary["action"]))
	if slow > 0 {
		for _, name := range []string{"action", "action-slow-github", "action-nopr", "action-slow-github-nopr"} {
			b.Logf("%s: GitHub calls of the last run: %s; its GitHub log lines:\n%s", name, lastCalls[name], lastGitHubLog[name])
		}
		b.Logf("steps of the last action run with GitHub %s slow:\n%s", slow, stepTable(lastSummary["action-slow-github"]))
		b.Logf("steps of the last action run without a PR, GitHub %s slow:\n%s", slow, stepTable(lastSummary["action-slow-github-nopr"]))
		b.ReportMetric(s.median("action-slow-github")-s.median("action"), "slow-github-extra-s")
		b.ReportMetric(s.median("action-slow-github-nopr")-s.median("action-nopr"), "slow-github-nopr-extra-s")
	}
	b.ReportMetric(s.median("action"), "action-s")
	b.ReportMetric(s.median("helm"), "helm-wait-s")
	b.ReportMetric(s.median("script"), "script-s")
	b.ReportMetric(s.median("action")/s.median("helm"), "action/helm")
	b.ReportMetric(s.median("action")/s.median("script"), "action/script")
	b.ReportMetric(s.median("first-line-ms"), "first-line-ms")
	b.ReportMetric(s.median("maxrss-MiB"), "maxrss-MiB")
	b.ReportMetric(s.median("github-calls"), "github-calls")
}

// helmUpgrade is `helm upgrade --reuse-values` of cc's new chart from repoURL in namespace ns
// with the Helm 4 CLI (with --wait when wait), its caches in helmHome.
func helmUpgrade(ctx context.Context, c *testenv.Cluster, helmHome, repoURL string, cc chartCase, ns string, wait bool) *exec.Cmd {
	args := []string{"upgrade", cc.releaseName, chartrepo.ChartName, "--repo", repoURL, "--version", cc.toChart,
		"--reuse-values", "--timeout", "5m", "--namespace", ns, "--kubeconfig", c.Kubeconfig()}
	if wait {
		args = append(args, "--wait")
	}
	cmd := exec.CommandContext(ctx, c.Helm4(), args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(helmHome, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(helmHome, "config"), "HELM_DATA_HOME="+filepath.Join(helmHome, "data"))
	return cmd
}

// prRun is the action binary bin as an Actions step on pull request 17 against w, and the
// inputs of a run of it to cc's target; the caller sets the namespace and pachd's address.
func prRun(b *testing.B, c *testenv.Cluster, w *world.World, bin string, cc chartCase) (actionrun.Runner, map[string]string) {
	runner := actionrun.Runner{Binary: bin, Dir: b.TempDir(), Repository: "acme/data-platform", PullRequest: 17,
		APIURL: w.GitHub.APIURL, ServerURL: w.GitHub.ServerURL, Env: []string{"KUBECONFIG=" + c.Kubeconfig()}}
	inputs := w.Inputs()
	inputs[config.InputRelease] = cc.releaseName
	inputs[config.InputTargetVersion] = cc.toApp
	// GITHUB_TOKEN's format: an App installation token, which acts as github-actions[bot] (the
	// stand-in's identity for every token), so the identity is asked as a real run asks it.
	inputs[config.InputGitHubToken] = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"
	inputs[config.InputBackupDir] = b.TempDir()
	inputs[config.InputTimeout] = "5m"
	return runner, inputs
}

// rollBack takes v's release back to revision, untimed, and waits until its pods are Ready.
func rollBack(ctx context.Context, kube *cluster.Client, v *variantNS, cc chartCase, revision int) error {
	if err := v.helm.Rollback(ctx, cc.releaseName, revision, 3*time.Minute); err != nil {
		return fmt.Errorf("roll back: %w", err)
	}
	if err := kube.WaitReady(ctx, v.ns, cluster.Selection{Release: cc.releaseName}, 3*time.Minute, nil); err != nil {
		return fmt.Errorf("after roll back: %w", err)
	}
	return nil
}

var githubOps = []githubtest.Op{githubtest.OpGetContents, githubtest.OpListReleases, githubtest.OpGetRelease,
	githubtest.OpListComments, githubtest.OpCreateComment, githubtest.OpEditComment, githubtest.OpDownload,
	githubtest.OpGetUser, githubtest.OpGraphQL}

// callList says which GitHub calls a run made, from the stand-in's counts before and after it.
func callList(before, after map[githubtest.Op]int) string {
	var parts []string
	for _, op := range githubOps {
		if n := after[op] - before[op]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s×%d", op, n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// githubLines are a run's log lines about the PR comment and the release notes.
func githubLines(log string) string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "PR #") || strings.Contains(line, "comment") || strings.Contains(line, "Release notes") {
			out = append(out, "    "+strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}

func opCounts(s *githubtest.Server) map[githubtest.Op]int {
	n := map[githubtest.Op]int{}
	for _, r := range s.Requests() {
		n[r.Op]++
	}
	return n
}

// manualWait is the seed's "run kubectl get pods periodically until every pod is READY, then
// pachctl version": a list of the namespace's pods right away and then every period; once all
// are Ready (none terminating), pachctl version, until pachd reports want.
func manualWait(ctx context.Context, kube *cluster.Client, ns, pachctl, pachdAddr, want string, period time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for {
		pods, err := kube.Clientset().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("get pods: %w", err)
		}
		if allReady(pods.Items) {
			cmd := exec.CommandContext(ctx, pachctl, "version")
			cmd.Env = append(os.Environ(), "PACHD_ADDRESS="+pachdAddr)
			out, err := cmd.CombinedOutput()
			if err == nil && pachdVersion(string(out)) == want {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("manual wait in %s: %w", ns, ctx.Err())
		case <-time.After(period):
		}
	}
}

func allReady(pods []corev1.Pod) bool {
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			return false
		}
		if p.Status.Phase == corev1.PodSucceeded {
			continue
		}
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready {
			return false
		}
	}
	return len(pods) > 0
}

// pachdVersion reads the pachd row of `pachctl version`'s table.
func pachdVersion(out string) string {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "pachd" {
			return f[1]
		}
	}
	return ""
}

// stepTable returns the rows of the job summary's step table (step, outcome, duration).
func stepTable(summary string) string {
	var rows []string
	in := false
	for _, line := range strings.Split(summary, "\n") {
		switch {
		case strings.HasPrefix(line, "| Step |"):
			in = true
		case in && strings.HasPrefix(line, "|"):
			rows = append(rows, line)
		default:
			in = false
		}
	}
	return strings.Join(rows, "\n")
}
