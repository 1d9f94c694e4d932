package upgrade

import (
	"context"
	"fmt"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
)

// What a rollout across clusters needs from one run: a refusal when the
// cluster is not at the version the workflow planned from
// (expect-current-version), and the version this run saw running, for the
// next clusters' target (verified-version).

// checkExpected refuses, before anything changes, a cluster that runs
// another version than expect-current-version: someone changed it since
// the workflow planned, and upgrading it blindly could skip what the plan
// showed. It records no step when the input is not given.
func (r *runner) checkExpected(ctx context.Context) error {
	want := r.cfg.ExpectCurrentVersion
	if want == nil {
		return nil
	}
	return r.step(ctx, "Check the expected version", func(context.Context) (string, error) {
		if !r.from.Equal(want) {
			return "", fmt.Errorf("%s is %s, but release %s/%s runs Pachyderm %s: nothing was changed; "+
				"find out who changed the cluster since the workflow planned, then plan again, or set %s: %s to upgrade it as it is",
				config.InputExpectCurrentVersion, want, r.cfg.Namespace, r.cfg.Release, r.from,
				config.InputExpectCurrentVersion, r.from)
		}
		return fmt.Sprintf("release runs Pachyderm %s, as expected", r.from), nil
	})
}

// verifyNoOp checks, on an apply run that has nothing to upgrade, that
// pachctl and pachd report the version the release claims, so that a
// re-run of a rollout's first cluster still hands a verified version to
// the next. A failure here is a warning: nothing changed, and the run
// stays a no-op, only without verified-version.
func (r *runner) verifyNoOp(ctx context.Context) {
	if r.cfg.Mode != config.ModeApply || !r.cfg.PachctlVersionCheck {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	asWarning := func(f stepFunc) stepFunc {
		return func(ctx context.Context) (string, error) {
			detail, err := f(ctx)
			if err != nil && !asError(err, new(skipped)) && !asError(err, new(warned)) && !r.cancelled() {
				return "", warned{fmt.Sprintf("%v; nothing changed, but verified-version stays empty", err)}
			}
			return detail, err
		}
	}
	if err := r.step(ctx, "Install pachctl", asWarning(r.installPachctl)); err != nil || r.pachctl.Path == "" {
		return
	}
	_ = r.step(ctx, "Verify versions", asWarning(r.verify))
}
