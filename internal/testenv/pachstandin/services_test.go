package pachstandin_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin/pachpb"
)

func dial(t *testing.T, p *pachstandin.Pachd) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(strings.TrimPrefix(p.Address, "grpc://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestHealthAPIsFollowTheServingVersion(t *testing.T) {
	var serving atomic.Value
	serving.Store("2.11.6")
	p, err := pachstandin.ServePachd(t.Context(), func(context.Context) (string, error) {
		if v := serving.Load().(string); v != "" {
			return v, nil
		}
		return "", errors.New("no Ready pachd pod")
	})
	if err != nil {
		t.Fatal(err)
	}
	conn := dial(t, p)
	ctx := t.Context()

	p.SetEnterprise(pachpb.EnterpriseActive)
	p.SetPipelines(
		pachpb.PipelineInfo{Name: "edges", State: pachpb.PipelineRunning, Version: 3, Parallelism: 1},
		pachpb.PipelineInfo{Project: "images", Name: "montage", State: pachpb.PipelineStandby},
	)
	lost := pachpb.EnterpriseNone
	p.SetVersionState("2.12.0", pachstandin.VersionState{Enterprise: &lost,
		Pipelines: map[string]pachpb.PipelineState{"edges": pachpb.PipelineCrashing}})

	ci, err := pachpb.InspectCluster(ctx, conn)
	if err != nil || ci.ID == "" || ci.Paused {
		t.Errorf("InspectCluster = %+v, %v; want an id, not paused", ci, err)
	}
	if s, err := pachpb.GetState(ctx, conn); err != nil || s != pachpb.EnterpriseActive {
		t.Errorf("GetState = %v, %v; want ACTIVE", s, err)
	}
	pipes, err := pachpb.ListPipelines(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if len(pipes) != 2 || pipes[0].FullName() != "default/edges" || pipes[0].State != pachpb.PipelineRunning ||
		pipes[0].Version != 3 || pipes[1].FullName() != "images/montage" || pipes[1].State.Short() != "standby" {
		t.Errorf("ListPipeline = %+v", pipes)
	}

	// Pause as `pachctl enterprise pause` does: the cluster reports it and pipelines stop.
	if err := pachpb.Pause(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if s, err := pachpb.GetPauseStatus(ctx, conn); err != nil || s != pachpb.Paused || !p.PausedByEnterprise() {
		t.Errorf("PauseStatus = %v, %v; want PAUSED", s, err)
	}
	if ci, _ := pachpb.InspectCluster(ctx, conn); !ci.Paused {
		t.Error("InspectCluster does not report the pause")
	}
	if pipes, _ := pachpb.ListPipelines(ctx, conn); pipes[0].State != pachpb.PipelinePaused {
		t.Errorf("running pipeline while paused = %v, want PIPELINE_PAUSED", pipes[0].State)
	}
	if err := pachpb.Unpause(ctx, conn); err != nil {
		t.Fatal(err)
	}

	// The new version lost the enterprise state and crashes a pipeline.
	serving.Store("2.12.0")
	if s, err := pachpb.GetState(ctx, conn); err != nil || s != pachpb.EnterpriseNone {
		t.Errorf("GetState at 2.12.0 = %v, %v; want NONE", s, err)
	}
	pipes, _ = pachpb.ListPipelines(ctx, conn)
	if pipes[0].State != pachpb.PipelineCrashing || pipes[1].State != pachpb.PipelineStandby {
		t.Errorf("pipelines at 2.12.0 = %+v; want edges crashing, montage unchanged", pipes)
	}
	if err := pachpb.Pause(ctx, conn); status.Code(errors.Unwrap(err)) != codes.FailedPrecondition {
		t.Errorf("Pause without enterprise = %v, want FailedPrecondition", err)
	}

	// No Ready pachd: every API is Unavailable, as through a Service with no endpoint.
	serving.Store("")
	if _, err := pachpb.InspectCluster(ctx, conn); status.Code(errors.Unwrap(err)) != codes.Unavailable {
		t.Errorf("InspectCluster without pachd = %v, want Unavailable", err)
	}
	if _, err := pachpb.ListPipelines(ctx, conn); status.Code(errors.Unwrap(err)) != codes.Unavailable {
		t.Errorf("ListPipeline without pachd = %v, want Unavailable", err)
	}
	if p.InspectCalls() != 3 {
		t.Errorf("InspectCalls = %d, want 3", p.InspectCalls())
	}
}

func TestStandinPachctlHealthCommands(t *testing.T) {
	_, bin := buildStandin(t, "2.12.0")
	p, err := pachstandin.ServePachd(t.Context(), pachstandin.StaticVersion("2.12.0"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := pachctl(t, bin, p.Address, "enterprise", "get-state"); err != nil || out != "No Pachyderm Enterprise token was found\n" {
		t.Errorf("get-state without enterprise = %q, %v", out, err)
	}
	if _, err := pachctl(t, bin, p.Address, "enterprise", "pause"); err == nil || !strings.Contains(err.Error(), "not activated") {
		t.Errorf("pause without enterprise: %v, want a refusal", err)
	}
	p.SetEnterprise(pachpb.EnterpriseActive)
	p.SetPipelines(pachpb.PipelineInfo{Name: "edges", State: pachpb.PipelineRunning, Version: 2})
	if out, err := pachctl(t, bin, p.Address, "enterprise", "get-state"); err != nil || out != "Pachyderm Enterprise token state: ACTIVE\n" {
		t.Errorf("get-state = %q, %v", out, err)
	}
	if _, err := pachctl(t, bin, p.Address, "enterprise", "pause"); err != nil || !p.PausedByEnterprise() {
		t.Errorf("pause: %v, paused %v", err, p.PausedByEnterprise())
	}
	if out, err := pachctl(t, bin, p.Address, "enterprise", "pause-status"); err != nil || out != "paused\n" {
		t.Errorf("pause-status = %q, %v", out, err)
	}
	if _, err := pachctl(t, bin, p.Address, "enterprise", "unpause"); err != nil || p.PausedByEnterprise() {
		t.Errorf("unpause: %v, paused %v", err, p.PausedByEnterprise())
	}
	out, err := pachctl(t, bin, p.Address, "list", "pipeline", "--raw")
	var raw struct {
		Pipeline struct {
			Name    string `json:"name"`
			Project struct {
				Name string `json:"name"`
			} `json:"project"`
		} `json:"pipeline"`
		State string `json:"state"`
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil || raw.State != "PIPELINE_RUNNING" || raw.Pipeline.Name != "edges" || raw.Pipeline.Project.Name != "default" {
		t.Errorf("list pipeline --raw = %q (%+v, %v)", out, raw, err)
	}
	out, err = pachctl(t, bin, p.Address, "list", "pipeline")
	if err != nil || !strings.Contains(out, "default   edges   2         running") {
		t.Errorf("list pipeline = %q, %v", out, err)
	}
	if out, err := pachctl(t, bin, p.Address, "inspect", "cluster"); err != nil || !strings.HasPrefix(out, "Cluster ID: standin-") {
		t.Errorf("inspect cluster = %q, %v", out, err)
	}
}
