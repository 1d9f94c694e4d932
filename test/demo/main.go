// Command demo shows pach-upgrade end to end on this machine with nothing but Go: it boots the
// local Kubernetes control plane from test/cluster, installs an old Pachyderm-shaped chart,
// runs the pach-upgrade binary as a GitHub Actions step on a pull request, and prints the job
// summary and the PR comment the step wrote.
//
//	go run ./test/demo
//
// Everything listens on 127.0.0.1 and stops when the demo ends. The chart repository, the GitHub
// API (CHANGELOG, releases, pachctl assets with digests) and pachd are local stand-ins; the
// Kubernetes API server, Helm and pach-upgrade itself are real.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/actionrun"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/chartrepo"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

const (
	release    = "pachd"
	repository = "example/pachyderm-platform"
	pr         = 42
)

// charts are the demo repository's chart versions; chart and Pachyderm versions differ on
// purpose, as they do in Pachyderm's own repository.
var charts = []chartrepo.Chart{
	{Version: "7.11.5", AppVersion: "2.11.5"},
	{Version: "7.11.6", AppVersion: "2.11.6"},
	{Version: "7.12.0", AppVersion: "2.12.0"},
}

const changelog = `# Changelog

## 2.12.0
* New minor release; not picked by latest-patch.

## 2.11.6
* Fix pg-bouncer readiness during rolling upgrades.
* pachctl: clearer error when the context has no pachd address.

## 2.11.5
* Older fix, already installed.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: go run ./test/demo\n\nBoots a local cluster, installs Pachyderm-shaped chart 2.11.5 and upgrades it with pach-upgrade (target latest-patch), then prints the job summary and the PR comment.")
	}
	flag.Parse()
	res, err := run(ctx, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	if res != "upgraded" {
		fmt.Fprintf(os.Stderr, "demo: the action's result is %q, not upgraded\n", res)
		os.Exit(1)
	}
}

// run performs the demo, writing the step's log, job summary and PR comment to out and its own
// progress to progress, and returns the action's result output.
func run(ctx context.Context, out, progress io.Writer) (result string, err error) {
	say := func(format string, a ...any) { fmt.Fprintf(progress, "==> "+format+"\n", a...) }

	say("Starting the local Kubernetes control plane (the first run builds it from the Go module proxy, about 10 minutes on 2 cores; later runs take seconds)")
	start := time.Now()
	kc, err := testenv.Use(ctx, progress)
	if err != nil {
		return "", err
	}
	defer func() {
		if stopErr := kc.Stop(context.WithoutCancel(ctx)); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	say("API server Ready after %v", time.Since(start).Round(time.Second))

	rc, err := clientcmd.BuildConfigFromFlags("", kc.Kubeconfig())
	if err != nil {
		return "", fmt.Errorf("load kubeconfig: %w", err)
	}
	kube, err := cluster.New(rc)
	if err != nil {
		return "", err
	}
	nsObj, err := kube.Clientset().CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "pachyderm-demo-"}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create namespace: %w", err)
	}
	ns := nsObj.Name
	defer func() {
		_ = kube.Clientset().CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), ns, metav1.DeleteOptions{})
	}()

	dir, err := os.MkdirTemp("", "pach-upgrade-demo-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)

	say("Serving a chart repository, a GitHub API and a pachd stand-in on 127.0.0.1")
	w, err := world.New(ctx, world.Options{RESTConfig: rc, Namespace: ns, Dir: dir, Charts: charts, Changelog: changelog})
	if err != nil {
		return "", err
	}
	defer w.Close()

	say("Installing the old release: chart 7.11.5 (Pachyderm 2.11.5) as %q in namespace %s", release, ns)
	if _, err := w.Install(ctx, release, "7.11.5", map[string]any{"deployTarget": "LOCAL"}); err != nil {
		return "", fmt.Errorf("install the old release: %w", err)
	}
	if err := kube.WaitReady(ctx, ns, cluster.Selection{Release: release}, 2*time.Minute, nil); err != nil {
		return "", fmt.Errorf("old release not Ready: %w", err)
	}
	say("Building pach-upgrade")
	root, err := testenv.RepoRoot()
	if err != nil {
		return "", err
	}
	bin, err := actionrun.Build(ctx, root, dir)
	if err != nil {
		return "", err
	}

	inputs := w.Inputs()
	inputs[config.InputRelease] = release
	inputs[config.InputTargetVersion] = "latest-patch"
	inputs[config.InputAllowMinor] = "false"
	inputs[config.InputGitHubToken] = "demo-token"
	inputs[config.InputBackupDir] = dir
	inputs[config.InputBackupCommand] = `echo "backing up $PACH_UPGRADE_RELEASE in $PACH_UPGRADE_NAMESPACE before $PACH_UPGRADE_FROM_VERSION -> $PACH_UPGRADE_TO_VERSION"`
	runner := actionrun.Runner{
		Binary: bin, Dir: dir, Repository: repository, PullRequest: pr,
		APIURL: w.GitHub.APIURL, ServerURL: w.GitHub.ServerURL,
		Env: []string{"KUBECONFIG=" + kc.Kubeconfig()},
	}
	say("Running pach-upgrade as a GitHub Actions step on pull request #%d (target-version: latest-patch)", pr)
	res, err := runner.Run(ctx, inputs)
	if err != nil {
		return "", err
	}

	section(out, "Step log (as the Actions runner shows it)")
	fmt.Fprint(out, asRunnerShows(res.Log))
	section(out, "Outputs")
	for _, o := range config.Outputs() {
		fmt.Fprintf(out, "%s=%s\n", o.Name, res.Outputs[o.Name])
	}
	section(out, "Job summary ($GITHUB_STEP_SUMMARY)")
	fmt.Fprint(out, res.Summary)
	comments := w.GitHub.Comments(repository, pr)
	section(out, fmt.Sprintf("PR #%d comments (%d)", pr, len(comments)))
	for _, c := range comments {
		fmt.Fprintf(out, "--- comment %d by %s ---\n%s\n", c.ID, c.User, c.Body)
	}
	if res.ExitCode != 0 {
		return res.Outputs["result"], fmt.Errorf("pach-upgrade exited with code %d", res.ExitCode)
	}
	if len(comments) != 1 {
		return res.Outputs["result"], errors.New("the step did not leave exactly one PR comment")
	}
	return res.Outputs["result"], nil
}

// asRunnerShows renders a step's raw output as the Actions runner displays it: the runner
// consumes ::add-mask:: commands (which carry the secret itself) and prints *** wherever a
// masked value appears.
func asRunnerShows(log string) string {
	var masks []string
	var kept []string
	for _, line := range strings.SplitAfter(log, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "::add-mask::"); ok {
			if v != "" {
				masks = append(masks, v)
			}
			continue
		}
		kept = append(kept, line)
	}
	shown := strings.Join(kept, "")
	for _, m := range masks {
		shown = strings.ReplaceAll(shown, m, "***")
	}
	return shown
}

func section(w io.Writer, title string) {
	fmt.Fprintf(w, "\n%s\n%s\n", title, strings.Repeat("=", len(title)))
}
