// Package upgrade runs the seed procedure's steps, in order, each a small
// function: version policy, release notes, backup, Helm values, pachctl, Helm
// upgrade with readiness watch and rollback, version verification.
package upgrade

import (
	"context"
	"errors"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
)

// ErrNotImplemented marks a step that does not exist yet: the run fails
// rather than pretend to succeed.
var ErrNotImplemented = errors.New("not implemented")

// Run carries out the upgrade described by cfg.
func Run(ctx context.Context, cfg *config.Config) error {
	return errors.Join(errors.New("upgrade engine: the upgrade steps are not implemented yet"), ErrNotImplemented)
}
