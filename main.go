// Command pach-upgrade upgrades a Pachyderm Helm release safely. It runs as a
// GitHub Action (inputs from INPUT_* variables) or as a CLI with flags named
// exactly as the inputs.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/github"
	"github.com/pach-upgrade/pach-upgrade/internal/helmrelease"
	"github.com/pach-upgrade/pach-upgrade/internal/kubeauth"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/runnerenv"
	"github.com/pach-upgrade/pach-upgrade/internal/upgrade"
)

// Exit codes: 2 is a usage error, as for flag parsing.
const (
	exitOK       = 0
	exitFailed   = 1
	exitBadInput = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "notes" {
		return notes(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "restore" {
		return restore(ctx, args[1:], getenv, stdout, stderr)
	}
	inActions := config.InActions(getenv) && len(args) == 0
	cfg, err := loadConfig(ctx, inActions, args, getenv, stderr)
	switch {
	case errors.Is(err, config.ErrHelp):
		return exitOK
	case config.IsInputError(err):
		fmt.Fprintf(stderr, "pach-upgrade: bad input:\n%v\n", err)
		if inActions {
			// An annotation names the input on the run page too. The
			// error redacts URL credentials; masks hide them from any
			// later line of the job.
			log := report.NewActionsLogger(stdout, getenv)
			for _, s := range config.URLCredentials(config.ActionsInputs(getenv)) {
				log.AddMask(s)
			}
			log.Errorf("Bad input", "%v", err)
			// Workflows branch on result: a refused run has failed.
			log.SetOutput(config.OutputResult, string(report.ResultFailed))
		}
		return exitBadInput
	case err != nil:
		fmt.Fprintf(stderr, "pach-upgrade: %v\n", err)
		return exitFailed
	}

	var log report.Logger = report.NewCLILogger(stdout, stderr)
	if inActions {
		log = report.NewActionsLogger(stdout, getenv)
	}
	for _, s := range cfg.SecretValues() {
		log.AddMask(s)
	}
	gh, err := github.NewClient(github.OptionsFromEnv(cfg.GitHubToken, getenv))
	if err != nil {
		log.Warningf("GitHub API unavailable", "%v", err)
		gh = nil
	}
	target := commentTarget(cfg, gh, log, getenv)
	if target.PR > 0 {
		// Finding the sticky comment needs only the PR: it runs beside the
		// whole upgrade, and publishing makes one call. Not ctx: a cancelled
		// run still publishes, and what the lookup found then saves calls
		// in the seconds the runner leaves.
		lookup := gh.StartCommentLookup(context.WithoutCancel(ctx), target.Repo, target.PR, github.Marker(cfg.Namespace, cfg.Release))
		defer lookup.Stop()
		target.Lookup = lookup
	}
	rep := upgradeCluster(ctx, cfg, gh, log, getenv)
	rep.RunURL = report.RunURL(getenv)
	// Not ctx: a cancelled run must still publish, within the seconds the
	// runner leaves between its SIGINT and its kill.
	pctx, done := report.PublishContext(ctx, publishGrace, publishLimit)
	report.Publish(pctx, log, rep, target)
	done()
	switch rep.Result {
	case report.ResultFailed, report.ResultRolledBack, report.ResultCancelled:
		return exitFailed
	}
	return exitOK
}

// Publishing is bounded: by publishGrace once the run is cancelled (the
// runner kills a step 10 s after its SIGINT), by publishLimit otherwise.
const (
	publishGrace = 2 * time.Second
	publishLimit = 2 * time.Minute
)

// upgradeCluster connects to the cluster and runs the upgrade; a failure to
// connect is reported like any other failure.
func upgradeCluster(ctx context.Context, cfg *config.Config, gh *github.Client, log report.Logger, getenv config.Getenv) *report.Report {
	place := runnerenv.Detect(getenv)
	// In a container action the runner's kubeconfig file and loopback are
	// out of sight: say so, instead of client-go's bare errors.
	err := place.CheckKubeconfig(cfg.Kubeconfig)
	var restConfig *rest.Config
	if err == nil {
		restConfig, err = cluster.RESTConfig([]byte(cfg.Kubeconfig), cfg.KubeContext)
	}
	if err == nil {
		err = place.CheckServer(ctx, restConfig.Host)
	}
	if err == nil {
		restConfig, err = signIn(ctx, restConfig, log, getenv, kubeauth.Options{
			AllowExecPlugins: cfg.AllowExecPlugins, AllowHosts: cfg.AllowCredentialHosts, Runner: place})
	}
	var kube *cluster.Client
	var helm *helmrelease.Client
	if err == nil {
		kube, err = cluster.New(restConfig)
	}
	if err == nil {
		helm, err = helmrelease.New(restConfig, cfg.Namespace, helmrelease.WithDriver(cfg.HelmDriver))
	}
	if err != nil {
		log.Errorf("Cannot reach the cluster", "%v", err)
		return &report.Report{Release: cfg.Release, Namespace: cfg.Namespace, Mode: string(cfg.Mode),
			Result: report.ResultFailed, Failure: log.Redact(err.Error())}
	}
	toolCache, _ := place.ToolCache()
	return upgrade.Run(ctx, cfg, upgrade.Deps{
		Log: log, Cluster: kube, Helm: helm, GitHub: gh,
		Holder:    holder(getenv),
		ToolCache: toolCache,
		TempDir:   place.TempDir(),
		Runner:    place,
		// version-file lives in the workflow's repository, read at the
		// commit the run is for.
		Repository: getenv("GITHUB_REPOSITORY"),
		Ref:        getenv("GITHUB_SHA"),
	})
}

// signIn replaces a managed cluster's exec plugin (EKS, GKE, AKS) with the cloud SDK's
// sign-in, so the kubeconfigs the clouds' tools write work without their CLIs.
func signIn(ctx context.Context, restConfig *rest.Config, log report.Logger, getenv config.Getenv, opts kubeauth.Options) (*rest.Config, error) {
	opts.Getenv, opts.Mask = getenv, log.AddMask
	out, signed, err := kubeauth.Configure(ctx, restConfig, opts)
	if err == nil && signed != nil {
		log.Infof("Signed in to %s (in place of exec plugin %s) as %s", signed.Cloud, signed.Plugin, signed.User)
	}
	return out, err
}

// holder names this run in the upgrade Lease, so a blocked run can say who
// holds it.
// holder names this process in the upgrade Lease. It says which workflow run holds the
// Lease, for the error another run shows, and is unique per process: two matrix jobs of one
// run must not both take the Lease as "the same holder".
func holder(getenv config.Getenv) string {
	host, _ := os.Hostname()
	self := fmt.Sprintf("on %s pid %d", host, os.Getpid())
	if id := getenv("GITHUB_RUN_ID"); id != "" {
		run := fmt.Sprintf("%s run %s attempt %s", getenv("GITHUB_REPOSITORY"), id, getenv("GITHUB_RUN_ATTEMPT"))
		if job := getenv("GITHUB_JOB"); job != "" {
			run += " job " + job
		}
		return run + " " + self
	}
	return "pach-upgrade " + self
}

// commentTarget finds the pull request to comment on; without one, or with
// commenting off, there is no comment.
func commentTarget(cfg *config.Config, gh *github.Client, log report.Logger, getenv config.Getenv) report.CommentTarget {
	if !cfg.Comment || gh == nil {
		return report.CommentTarget{}
	}
	if strings.TrimSpace(cfg.GitHubToken) == "" {
		// An anonymous call can only fail, and spends the runner's shared rate limit.
		log.Infof("No PR comment: the github-token input is empty (set `github-token: ${{ github.token }}` with `permissions: pull-requests: write` to get one)")
		return report.CommentTarget{}
	}
	pr, err := github.PullRequestNumber(getenv, cfg.PRNumber)
	if err != nil {
		if !errors.Is(err, github.ErrNoPullRequest) {
			log.Warningf("No PR comment", "%v", err)
		}
		return report.CommentTarget{}
	}
	return report.CommentTarget{Client: gh, Repo: getenv("GITHUB_REPOSITORY"), PR: pr}
}

func loadConfig(ctx context.Context, inActions bool, args []string, getenv config.Getenv, stderr io.Writer) (*config.Config, error) {
	if inActions {
		return config.FromActions(ctx, getenv)
	}
	return config.FromFlags(ctx, args, getenv, stderr)
}
