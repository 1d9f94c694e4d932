package pachpb_test

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin/pachpb"
)

// fields splits a serialized message into field number → raw values, as a reader with the real
// .proto would see them.
func fields(t *testing.T, b []byte) map[protowire.Number][]any {
	t.Helper()
	out := map[protowire.Number][]any{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			out[num] = append(out[num], v)
			b = b[n:]
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			out[num] = append(out[num], v)
			b = b[n:]
		default:
			t.Fatalf("field %d: unexpected wire type %d", num, typ)
		}
	}
	return out
}

// The field numbers are those of Pachyderm's pps.proto, pfs.proto, admin.proto and
// enterprise.proto; a real pachctl decodes what the stand-in sends.
func TestWireFieldNumbersMatchPachydermProtos(t *testing.T) {
	m, err := pachpb.PipelineInfo{Project: "images", Name: "edges", Version: 4, State: pachpb.PipelineCrashing,
		Reason: "oom", Parallelism: 2, Stopped: true}.Message()
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	f := fields(t, b)
	if f[2][0] != uint64(4) || f[4][0] != uint64(1) || f[5][0] != uint64(7) || string(f[6][0].([]byte)) != "oom" || f[9][0] != uint64(2) {
		t.Errorf("PipelineInfo fields = %v; want version 2, stopped 4, state 5 (CRASHING=7), reason 6, parallelism 9", f)
	}
	pipe := fields(t, f[1][0].([]byte))
	project := fields(t, pipe[2][0].([]byte))
	if string(pipe[1][0].([]byte)) != "edges" || string(project[1][0].([]byte)) != "images" {
		t.Errorf("Pipeline = %v, Project = %v; want name 1, project 2 → name 1", pipe, project)
	}
	back, err := pachpb.Message("pps_v2.PipelineInfo")
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, back); err != nil {
		t.Fatal(err)
	}
	if got := pachpb.DecodePipelineInfo(back); got.FullName() != "images/edges" || got.State.Short() != "crashing" || got.Reason != "oom" {
		t.Errorf("decoded %+v", got)
	}

	ci, err := pachpb.ClusterInfo{ID: "c1", DeploymentID: "d1", Paused: true}.Message()
	if err != nil {
		t.Fatal(err)
	}
	b, _ = proto.Marshal(ci)
	f = fields(t, b)
	if string(f[1][0].([]byte)) != "c1" || string(f[2][0].([]byte)) != "d1" || f[7][0] != uint64(1) {
		t.Errorf("ClusterInfo fields = %v; want id 1, deployment_id 2, paused 7", f)
	}

	st, err := pachpb.StateMessage(pachpb.EnterpriseActive)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = proto.Marshal(st)
	if f = fields(t, b); f[1][0] != uint64(1) {
		t.Errorf("GetStateResponse fields = %v; want state 1 = ACTIVE (1)", f)
	}
	if pachpb.EnterpriseHeartbeatFailed.String() != "HEARTBEAT_FAILED" || pachpb.PipelineState(9).String() != "PipelineState(9)" {
		t.Error("enum names")
	}
}
