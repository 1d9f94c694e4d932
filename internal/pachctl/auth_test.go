package pachctl_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/pachctl"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin/pachpb"
)

// With auth active, pachctl reads pipelines and pauses pachd only with the
// root token, which it takes from its config's active context.
func TestHealthAndPauseNeedTheRootToken(t *testing.T) {
	p, err := pachstandin.ServePachd(t.Context(), pachstandin.StaticVersion(target))
	if err != nil {
		t.Fatal(err)
	}
	p.SetEnterprise(pachpb.EnterpriseActive)
	p.SetPipelines(pachpb.PipelineInfo{Name: "edges", State: pachpb.PipelineRunning})
	const root = "pach-root-token-0123456789abcdef"
	p.SetAuth(root)
	c := pachctl.Conn{Path: filepath.Join(fx.dir, "pachctl-"+target), Address: p.Address}

	if _, err := pachctl.ReadHealth(t.Context(), c); err == nil || !strings.Contains(err.Error(), "no authentication token") {
		t.Errorf("health without a token: %v, want pachd's no authentication token", err)
	}
	if err := pachctl.Pause(t.Context(), c); err == nil || !strings.Contains(err.Error(), "no authentication token") || p.PausedByEnterprise() {
		t.Errorf("pause without a token: %v (paused %t)", err, p.PausedByEnterprise())
	}

	c.Token = root
	h, err := pachctl.ReadHealth(t.Context(), c)
	if err != nil || h.Enterprise != "ACTIVE" || h.Pipelines["default/edges"] != "running" {
		t.Fatalf("health with the root token = %+v, %v", h, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := pachctl.Pause(ctx, c); err != nil || !p.PausedByEnterprise() {
		t.Fatalf("pause with the root token: %v", err)
	}
	if err := pachctl.Unpause(ctx, c); err != nil || p.PausedByEnterprise() {
		t.Fatalf("unpause with the root token: %v", err)
	}
}
