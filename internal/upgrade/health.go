package upgrade

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/pachctl"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
)

// Health beyond the version is read with pachctl, which the run installs
// at the target version anyway: it speaks pachd's gRPC API for every
// release, with the user's auth setup, where a client of our own would
// have to track pachd's protos release by release.

// pachdAddress is the address pachctl reaches pachd at, and a stop func.
func (r *runner) pachdAddress(ctx context.Context) (string, func(), error) {
	if r.cfg.PachdAddress != "" {
		return r.cfg.PachdAddress, func() {}, nil
	}
	fwd, stop, err := r.d.Cluster.PortForward(ctx, r.cfg.Namespace, "pachd", pachdPort)
	if err != nil {
		return "", nil, fmt.Errorf("reach pachd: %w; set pachd-address when the runner can reach pachd directly", err)
	}
	return "grpc://" + fwd, stop, nil
}

// recordHealth reads, before the upgrade, what the check after it
// compares with. A pachd whose health cannot be read is a warning: the
// check after the upgrade is then left out.
func (r *runner) recordHealth(ctx context.Context) (string, error) {
	if !r.cfg.PachctlVersionCheck {
		return "", skip("pachctl-version-check is false")
	}
	// Where auth is active, no token found refuses the run here, before
	// any change: the check after the upgrade and the pause need it.
	if _, err := r.rootToken(ctx); err != nil {
		return "", err
	}
	c, stop, err := r.pachdConn(ctx)
	if err != nil {
		return "", warned{err.Error() + "; health after the upgrade not checked"}
	}
	defer stop()
	h, err := pachctl.ReadHealth(ctx, c)
	if err != nil {
		return "", warned{err.Error() + "; health after the upgrade not checked"}
	}
	r.health = &h
	r.dbReport().PipelinesBefore = h.PipelineList()
	return fmt.Sprintf("cluster %s; enterprise %s; %d pipeline(s)", h.ClusterID, h.Enterprise, len(h.Pipelines)), nil
}

// checkHealth requires, beside the version check, that InspectCluster
// answers, the enterprise state is what it was, and every pipeline that
// was running runs again (none crashing or failed), within the upgrade's
// time. A failure is an upgrade failure. It runs beside the version check
// (besideStep): it reads only, touches no runner state, and the pipelines
// it last saw are recorded by apply, on the run's goroutine.
func (r *runner) checkHealth(ctx context.Context, _ report.Logger) (string, func(), error) {
	if r.health == nil {
		return "", nil, skip("health before the upgrade was not read")
	}
	var after []string
	seen := false
	apply := func() {
		if seen {
			r.dbReport().PipelinesAfter = after
		}
	}
	c, stop, err := r.pachdConn(ctx)
	if err != nil {
		return "", apply, err
	}
	defer stop()
	for {
		h, err := pachctl.ReadHealth(ctx, c)
		var problems []string
		pending := true // pachd may still be starting
		if err != nil {
			problems = []string{err.Error()}
		} else {
			after, seen = h.PipelineList(), true
			problems, pending = pachctl.HealthCompare(*r.health, h)
			if len(problems) == 0 {
				return fmt.Sprintf("InspectCluster answers; enterprise %s as before; %d pipeline(s), every one that ran runs",
					h.Enterprise, len(h.Pipelines)), apply, nil
			}
		}
		if !pending {
			return "", apply, fmt.Errorf("pachd is not healthy after the upgrade: %s", strings.Join(problems, "; "))
		}
		select {
		case <-ctx.Done():
			return "", apply, fmt.Errorf("pachd not healthy before the timeout: %s", strings.Join(problems, "; "))
		case <-time.After(2 * time.Second):
		}
	}
}

// dbReport is the report's database section, created when first needed.
func (r *runner) dbReport() *report.Database {
	if r.rep.Database == nil {
		r.rep.Database = &report.Database{}
	}
	return r.rep.Database
}
