package pachstandin_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin/pachpb"
)

// With auth active, pachd serves InspectCluster and the enterprise state
// to anyone, as the real interceptor does, and refuses ListPipeline and
// the pause calls without the root token, with Pachyderm's errors.
func TestAuthActiveNeedsTheRootToken(t *testing.T) {
	p, err := pachstandin.ServePachd(t.Context(), pachstandin.StaticVersion("2.11.6"))
	if err != nil {
		t.Fatal(err)
	}
	conn := dial(t, p)
	p.SetEnterprise(pachpb.EnterpriseActive)
	p.SetPipelines(pachpb.PipelineInfo{Name: "edges", State: pachpb.PipelineRunning})
	const root = "root-token-for-the-test-0123"
	p.SetAuth(root)

	as := func(token string) context.Context {
		if token == "" {
			return t.Context()
		}
		return metadata.AppendToOutgoingContext(t.Context(), "authn-token", token)
	}
	calls := map[string]func(ctx context.Context) error{
		"ListPipeline": func(ctx context.Context) error { _, err := pachpb.ListPipelines(ctx, conn); return err },
		"PauseStatus":  func(ctx context.Context) error { _, err := pachpb.GetPauseStatus(ctx, conn); return err },
		"Pause":        func(ctx context.Context) error { return pachpb.Pause(ctx, conn) },
		"Unpause":      func(ctx context.Context) error { return pachpb.Unpause(ctx, conn) },
	}
	for _, name := range []string{"ListPipeline", "PauseStatus", "Pause", "Unpause"} {
		for token, want := range map[string]string{"": "no authentication token (try logging in)",
			"someone-else": "provided auth token is corrupted or has expired (try logging in again)"} {
			err := calls[name](as(token))
			if status.Code(err) != codes.Unauthenticated || !strings.HasSuffix(err.Error(), "desc = "+want) {
				t.Errorf("%s with token %q: %v, want Unauthenticated %q", name, token, err, want)
			}
		}
	}
	if p.PausedByEnterprise() {
		t.Fatal("a pause without the root token took effect")
	}
	if p.Denied() != 8 {
		t.Errorf("Denied = %d, want 8", p.Denied())
	}
	// Open to anyone, as in pachd.
	if _, err := pachpb.InspectCluster(t.Context(), conn); err != nil {
		t.Errorf("InspectCluster without a token: %v", err)
	}
	if s, err := pachpb.GetState(t.Context(), conn); err != nil || s != pachpb.EnterpriseActive {
		t.Errorf("GetState without a token = %v, %v", s, err)
	}
	// With the root token every call works.
	ctx := as(root)
	if pipes, err := pachpb.ListPipelines(ctx, conn); err != nil || len(pipes) != 1 {
		t.Errorf("ListPipeline with the root token = %+v, %v", pipes, err)
	}
	if err := pachpb.Pause(ctx, conn); err != nil || !p.PausedByEnterprise() {
		t.Fatalf("Pause with the root token: %v (paused %t)", err, p.PausedByEnterprise())
	}
	if s, err := pachpb.GetPauseStatus(ctx, conn); err != nil || s != pachpb.Paused {
		t.Errorf("PauseStatus with the root token = %v, %v", s, err)
	}
	if err := pachpb.Unpause(ctx, conn); err != nil || p.PausedByEnterprise() {
		t.Errorf("Unpause with the root token: %v", err)
	}
	// Auth off again: no token needed.
	p.SetAuth("")
	if _, err := pachpb.ListPipelines(t.Context(), conn); err != nil {
		t.Errorf("ListPipeline with auth off: %v", err)
	}
}
