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
	"syscall"

	"github.com/pach-upgrade/pach-upgrade/internal/changelog"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
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
	cfg, err := loadConfig(args, getenv, stderr)
	switch {
	case errors.Is(err, config.ErrHelp):
		return exitOK
	case config.IsInputError(err):
		fmt.Fprintf(stderr, "pach-upgrade: bad input:\n%v\n", err)
		return exitBadInput
	case err != nil:
		fmt.Fprintf(stderr, "pach-upgrade: %v\n", err)
		return exitFailed
	}
	if err := upgrade.Run(ctx, cfg); err != nil {
		fmt.Fprintf(stderr, "pach-upgrade: %v\n", err)
		return exitFailed
	}
	return exitOK
}

func loadConfig(args []string, getenv config.Getenv, stderr io.Writer) (*config.Config, error) {
	if config.InActions(getenv) && len(args) == 0 {
		return config.FromActions(getenv)
	}
	return config.FromFlags(args, stderr)
}

// notes prints the release notes of a version range: the same extraction
// the action writes into the job summary.
func notes(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) int {
	err := changelog.RunNotes(ctx, args, stdout, getenv)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, changelog.ErrUsage):
		fmt.Fprintf(stderr, "pach-upgrade: %v\n", err)
		return exitBadInput
	default:
		fmt.Fprintf(stderr, "pach-upgrade: notes: %v\n", err)
		return exitFailed
	}
}
