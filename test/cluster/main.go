// Command cluster builds and runs a real local Kubernetes control plane for the project's tests
// and demo: embedded etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
// (fake nodes that move pods to Running/Ready), all bound to 127.0.0.1.
//
// Usage, from the repository root:
//
//	go -C test/cluster run . up [--dir D] [--owner-pid P] [--max-lifetime 2h] [--token-webhook URL] [--pod-ready-after 3s-10s]
//	go -C test/cluster run . status [--dir D]
//	go -C test/cluster run . restart-apiserver [--dir D]
//	go -C test/cluster run . down [--dir D]
//	go -C test/cluster run . build
//
// up returns once the API server is Ready; its last stdout line is KUBECONFIG=<path>.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "cluster %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: cluster up|down|status|restart-apiserver|build [--dir D]")
}

func run(ctx context.Context, cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	dir := fs.String("dir", "", "state directory of this cluster (default: the user's cache dir)")
	ownerPID := fs.Int("owner-pid", 0, "up: stop the cluster when this process exits")
	maxLife := fs.Duration("max-lifetime", 4*time.Hour, "up: stop the cluster after this long whatever happens")
	timeout := fs.Duration("timeout", 20*time.Minute, "up: give up when the cluster is not Ready by then (includes a cold build)")
	webhook := fs.String("token-webhook", "", "up: also authenticate bearer tokens with this TokenReview webhook (http://127.0.0.1:PORT/...), cached 1s")
	var ready readyDelay
	fs.Var(&ready, "pod-ready-after", "up: start pods not Ready and make each Ready a random time in MIN-MAX (e.g. 3s-10s) later, as slow readiness probes; default Ready at once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	stateDir, err := resolveDir(*dir)
	if err != nil {
		return err
	}
	switch cmd {
	case "up":
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		return up(ctx, stateDir, *ownerPID, *maxLife, *webhook, ready)
	case "down":
		return down(ctx, stateDir)
	case "status":
		return status(ctx, stateDir)
	case "restart-apiserver":
		return restartAPIServer(ctx, stateDir)
	case "build":
		bins, err := ensureBinaries(ctx, os.Stderr)
		if err != nil {
			return err
		}
		fmt.Println("BIN_DIR=" + bins.Dir)
		return nil
	case supervisorCommand:
		return supervise(ctx, stateDir, *ownerPID, *maxLife, *webhook, ready)
	default:
		usage()
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// resolveDir makes the state directory absolute because the supervisor and its children run
// from other working directories.
func resolveDir(dir string) (string, error) {
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("find user cache dir for the default state dir (pass --dir): %w", err)
		}
		dir = filepath.Join(cache, "pach-upgrade", "cluster", "default")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolve state dir %s: %w", dir, err)
	}
	return abs, nil
}
