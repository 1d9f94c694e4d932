// Package pachpb describes, at run time, the few messages of pachd's gRPC API that an upgrade's
// health checks use, with the field numbers of Pachyderm's real protos (src/admin/admin.proto,
// src/enterprise/enterprise.proto, src/pps/pps.proto, src/pfs/pfs.proto): only the fields read
// here are declared, so a real pachd's other fields pass as unknown fields. No protoc is
// available, so the descriptors are built in code, as versionpb does.
//
// Methods (all unary except ListPipeline, which streams PipelineInfo):
//
//	/admin_v2.API/InspectCluster      InspectClusterRequest → ClusterInfo
//	/enterprise_v2.API/GetState       GetStateRequest → GetStateResponse
//	/enterprise_v2.API/Pause          PauseRequest → PauseResponse (and Unpause, PauseStatus)
//	/pps_v2.API/ListPipeline          ListPipelineRequest → stream PipelineInfo
//
// The stand-in pachd serves them; the client functions here (InspectCluster, GetState,
// ListPipelines, Pause, Unpause, PauseStatus) call them on a real or stand-in pachd.
package pachpb

import (
	"fmt"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Full gRPC method names.
const (
	MethodInspectCluster = "/admin_v2.API/InspectCluster"
	MethodGetState       = "/enterprise_v2.API/GetState"
	MethodPause          = "/enterprise_v2.API/Pause"
	MethodUnpause        = "/enterprise_v2.API/Unpause"
	MethodPauseStatus    = "/enterprise_v2.API/PauseStatus"
	MethodListPipeline   = "/pps_v2.API/ListPipeline"
)

// EnterpriseState is enterprise_v2.State.
type EnterpriseState int32

// enterprise_v2.State values.
const (
	EnterpriseNone            EnterpriseState = 0
	EnterpriseActive          EnterpriseState = 1
	EnterpriseExpired         EnterpriseState = 2
	EnterpriseHeartbeatFailed EnterpriseState = 3
)

var enterpriseStateNames = []string{"NONE", "ACTIVE", "EXPIRED", "HEARTBEAT_FAILED"}

// String is the proto enum name, as `pachctl enterprise get-state` prints it.
func (s EnterpriseState) String() string {
	if s >= 0 && int(s) < len(enterpriseStateNames) {
		return enterpriseStateNames[s]
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// PipelineState is pps_v2.PipelineState.
type PipelineState int32

// pps_v2.PipelineState values.
const (
	PipelineUnknown    PipelineState = 0
	PipelineStarting   PipelineState = 1
	PipelineRunning    PipelineState = 2
	PipelineRestarting PipelineState = 3
	PipelineFailure    PipelineState = 4
	PipelinePaused     PipelineState = 5
	PipelineStandby    PipelineState = 6
	PipelineCrashing   PipelineState = 7
)

var pipelineStateNames = []string{"PIPELINE_STATE_UNKNOWN", "PIPELINE_STARTING", "PIPELINE_RUNNING",
	"PIPELINE_RESTARTING", "PIPELINE_FAILURE", "PIPELINE_PAUSED", "PIPELINE_STANDBY", "PIPELINE_CRASHING"}

// String is the proto enum name, e.g. PIPELINE_RUNNING.
func (s PipelineState) String() string {
	if s >= 0 && int(s) < len(pipelineStateNames) {
		return pipelineStateNames[s]
	}
	return fmt.Sprintf("PipelineState(%d)", int32(s))
}

// Short is the state as `pachctl list pipeline` prints it: running, crashing, failure…
func (s PipelineState) Short() string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(s.String(), "PIPELINE_"), "STATE_"))
}

// PauseStatus is enterprise_v2.PauseStatusResponse.PauseStatus.
type PauseStatus int32

// PauseStatus values.
const (
	Unpaused        PauseStatus = 0
	PartiallyPaused PauseStatus = 1
	Paused          PauseStatus = 2
)

func (s PauseStatus) String() string {
	switch s {
	case Unpaused:
		return "UNPAUSED"
	case PartiallyPaused:
		return "PARTIALLY_PAUSED"
	case Paused:
		return "PAUSED"
	}
	return fmt.Sprintf("PauseStatus(%d)", int32(s))
}

// ClusterInfo is the part of admin_v2.ClusterInfo read here.
type ClusterInfo struct {
	ID           string // field 1
	DeploymentID string // field 2
	WarningsOK   bool   // field 3
	Paused       bool   // field 7
}

// PipelineInfo is the part of pps_v2.PipelineInfo read here.
type PipelineInfo struct {
	Project     string        // pipeline (1) → project (2) → name (1)
	Name        string        // pipeline (1) → name (1)
	Version     uint64        // field 2
	Stopped     bool          // field 4
	State       PipelineState // field 5
	Reason      string        // field 6
	Parallelism uint64        // field 9
}

// FullName is project/name, as pachctl prints a pipeline outside the default project.
func (p PipelineInfo) FullName() string {
	if p.Project == "" {
		return p.Name
	}
	return p.Project + "/" + p.Name
}

var (
	filesOnce sync.Once
	files     *protoregistry.Files
	filesErr  error
)

// registry builds the descriptors once, in a private registry so they never clash with another
// copy in the global one.
func registry() (*protoregistry.Files, error) {
	filesOnce.Do(func() { files, filesErr = build() })
	return files, filesErr
}

// Message returns a new, empty dynamic message of the named type, e.g. "admin_v2.ClusterInfo".
func Message(fullName string) (*dynamicpb.Message, error) {
	reg, err := registry()
	if err != nil {
		return nil, err
	}
	d, err := reg.FindDescriptorByName(protoreflect.FullName(fullName))
	if err != nil {
		return nil, fmt.Errorf("pachpb: %s: %w", fullName, err)
	}
	md, ok := d.(protoreflect.MessageDescriptor)
	if !ok {
		return nil, fmt.Errorf("pachpb: %s is not a message", fullName)
	}
	return dynamicpb.NewMessage(md), nil
}

func build() (*protoregistry.Files, error) {
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	rep := descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	scalar := func(name string, num int32, typ descriptorpb.FieldDescriptorProto_Type) *descriptorpb.FieldDescriptorProto {
		return &descriptorpb.FieldDescriptorProto{Name: proto.String(name), JsonName: proto.String(jsonName(name)),
			Number: proto.Int32(num), Type: typ.Enum(), Label: opt}
	}
	ref := func(name string, num int32, typ descriptorpb.FieldDescriptorProto_Type, typeName string) *descriptorpb.FieldDescriptorProto {
		f := scalar(name, num, typ)
		f.TypeName = proto.String(typeName)
		return f
	}
	repeated := func(f *descriptorpb.FieldDescriptorProto) *descriptorpb.FieldDescriptorProto {
		f.Label = rep
		return f
	}
	enum := func(name string, values ...string) *descriptorpb.EnumDescriptorProto {
		e := &descriptorpb.EnumDescriptorProto{Name: proto.String(name)}
		for i, v := range values {
			e.Value = append(e.Value, &descriptorpb.EnumValueDescriptorProto{Name: proto.String(v), Number: proto.Int32(int32(i))})
		}
		return e
	}
	msg := func(name string, fields ...*descriptorpb.FieldDescriptorProto) *descriptorpb.DescriptorProto {
		return &descriptorpb.DescriptorProto{Name: proto.String(name), Field: fields}
	}
	const (
		str  = descriptorpb.FieldDescriptorProto_TYPE_STRING
		boo  = descriptorpb.FieldDescriptorProto_TYPE_BOOL
		u64  = descriptorpb.FieldDescriptorProto_TYPE_UINT64
		i64  = descriptorpb.FieldDescriptorProto_TYPE_INT64
		mess = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
		enm  = descriptorpb.FieldDescriptorProto_TYPE_ENUM
	)
	file := func(name, pkg string, deps []string, enums []*descriptorpb.EnumDescriptorProto, msgs ...*descriptorpb.DescriptorProto) *descriptorpb.FileDescriptorProto {
		return &descriptorpb.FileDescriptorProto{Name: proto.String(name), Package: proto.String(pkg),
			Syntax: proto.String("proto3"), Dependency: deps, EnumType: enums, MessageType: msgs}
	}

	pauseStatus := msg("PauseStatusResponse", ref("status", 1, enm, ".enterprise_v2.PauseStatusResponse.PauseStatus"))
	pauseStatus.EnumType = []*descriptorpb.EnumDescriptorProto{enum("PauseStatus", "UNPAUSED", "PARTIALLY_PAUSED", "PAUSED")}

	fds := []*descriptorpb.FileDescriptorProto{
		file("pfs/pfs.proto", "pfs_v2", nil, nil,
			msg("Project", scalar("name", 1, str))),
		file("admin/admin.proto", "admin_v2", []string{"pfs/pfs.proto"}, nil,
			msg("InspectClusterRequest", ref("current_project", 2, mess, ".pfs_v2.Project")),
			msg("ClusterInfo",
				scalar("id", 1, str), scalar("deployment_id", 2, str), scalar("warnings_ok", 3, boo),
				repeated(scalar("warnings", 4, str)), scalar("proxy_host", 5, str), scalar("proxy_tls", 6, boo),
				scalar("paused", 7, boo), scalar("pending_restart", 10, boo), scalar("restart_info", 11, str))),
		file("enterprise/enterprise.proto", "enterprise_v2", nil,
			[]*descriptorpb.EnumDescriptorProto{enum("State", enterpriseStateNames...)},
			msg("GetStateRequest"),
			msg("GetStateResponse", ref("state", 1, enm, ".enterprise_v2.State"), scalar("activation_code", 3, str)),
			msg("PauseRequest"), msg("PauseResponse"), msg("UnpauseRequest"), msg("UnpauseResponse"),
			msg("PauseStatusRequest"), pauseStatus),
		file("pps/pps.proto", "pps_v2", []string{"pfs/pfs.proto"},
			[]*descriptorpb.EnumDescriptorProto{enum("PipelineState", pipelineStateNames...)},
			msg("Pipeline", ref("project", 2, mess, ".pfs_v2.Project"), scalar("name", 1, str)),
			msg("ListPipelineRequest", ref("pipeline", 1, mess, ".pps_v2.Pipeline"), scalar("history", 2, i64),
				scalar("details", 3, boo), scalar("jqFilter", 4, str), repeated(ref("projects", 6, mess, ".pfs_v2.Project"))),
			msg("PipelineInfo", ref("pipeline", 1, mess, ".pps_v2.Pipeline"), scalar("version", 2, u64),
				scalar("stopped", 4, boo), ref("state", 5, enm, ".pps_v2.PipelineState"), scalar("reason", 6, str),
				scalar("parallelism", 9, u64))),
	}
	reg := new(protoregistry.Files)
	for _, fd := range fds {
		f, err := protodesc.NewFile(fd, reg)
		if err != nil {
			return nil, fmt.Errorf("pachpb: build %s: %w", fd.GetName(), err)
		}
		if err := reg.RegisterFile(f); err != nil {
			return nil, fmt.Errorf("pachpb: register %s: %w", fd.GetName(), err)
		}
	}
	return reg, nil
}

// jsonName is protoc's lowerCamelCase JSON name of a field.
func jsonName(s string) string {
	var b strings.Builder
	up := false
	for _, r := range s {
		if r == '_' {
			up = true
			continue
		}
		if up && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}
