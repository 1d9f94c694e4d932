package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/helmrelease"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/runnerenv"
	"github.com/pach-upgrade/pach-upgrade/internal/upgrade"
)

// restore is `pach-upgrade restore`: a person's recovery from the backup
// folder a run wrote (wiring only; the work is upgrade.Restore).
func restore(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pach-upgrade restore", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	snapshot := fs.String("snapshot", "", "the release snapshot (.json) a run wrote into its backup folder; its dumps are in the folder it names beside it")
	release := fs.String(config.InputRelease, optionDefault(config.InputRelease), "Helm release to restore (must be the snapshot's)")
	namespace := fs.String(config.InputNamespace, optionDefault(config.InputNamespace), "namespace of the release (must be the snapshot's)")
	mode := fs.String(config.InputMode, "apply", "`apply` restores; `plan` checks the dumps and the release and says what would happen, changing nothing")
	kubeContext := fs.String(config.InputKubeContext, "", "kubeconfig context (KUBECONFIG or the default file)")
	driver := fs.String(config.InputHelmDriver, "secret", "where Helm keeps the release's records: secret or configmap")
	timeout := fs.Duration(config.InputTimeout, 10*time.Minute, "how long the rollback may take until every pod is Ready")
	quiesce := fs.Bool(config.InputQuiesce, true, "scale pachd and the pipeline workers to zero while the databases are restored")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "Usage: pach-upgrade restore --snapshot FILE --release NAME --namespace NS [--mode plan]")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return exitOK
		}
		fmt.Fprintf(stderr, "pach-upgrade restore: %v\n", err)
		return exitBadInput
	}
	if *mode != "apply" && *mode != "plan" {
		fmt.Fprintf(stderr, "pach-upgrade restore: --mode %q: want apply or plan\n", *mode)
		return exitBadInput
	}
	log := report.NewCLILogger(stdout, stderr)
	rc, err := cluster.RESTConfig(nil, *kubeContext)
	var kube *cluster.Client
	var helm *helmrelease.Client
	if err == nil {
		kube, err = cluster.New(rc)
	}
	if err == nil {
		helm, err = helmrelease.New(rc, *namespace, helmrelease.WithDriver(*driver))
	}
	if err == nil {
		err = upgrade.Restore(ctx, upgrade.RestoreOptions{Snapshot: *snapshot, Release: *release, Namespace: *namespace,
			Plan: *mode == "plan", Quiesce: *quiesce, Timeout: *timeout},
			upgrade.Deps{Log: log, Cluster: kube, Helm: helm, Runner: runnerenv.Detect(getenv)})
	}
	if err != nil {
		fmt.Fprintf(stderr, "pach-upgrade restore: %v\n", err)
		return exitFailed
	}
	return exitOK
}
