package pachpb

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

func set(m *dynamicpb.Message, name string, v protoreflect.Value) {
	m.Set(m.Descriptor().Fields().ByName(protoreflect.Name(name)), v)
}

func get(m protoreflect.Message, name string) protoreflect.Value {
	return m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(name)))
}

// Message encodes c as admin_v2.ClusterInfo.
func (c ClusterInfo) Message() (*dynamicpb.Message, error) {
	m, err := Message("admin_v2.ClusterInfo")
	if err != nil {
		return nil, err
	}
	set(m, "id", protoreflect.ValueOfString(c.ID))
	set(m, "deployment_id", protoreflect.ValueOfString(c.DeploymentID))
	set(m, "warnings_ok", protoreflect.ValueOfBool(c.WarningsOK))
	set(m, "paused", protoreflect.ValueOfBool(c.Paused))
	return m, nil
}

// Message encodes p as pps_v2.PipelineInfo.
func (p PipelineInfo) Message() (*dynamicpb.Message, error) {
	m, err := Message("pps_v2.PipelineInfo")
	if err != nil {
		return nil, err
	}
	pipe, err := Message("pps_v2.Pipeline")
	if err != nil {
		return nil, err
	}
	project, err := Message("pfs_v2.Project")
	if err != nil {
		return nil, err
	}
	set(project, "name", protoreflect.ValueOfString(p.Project))
	set(pipe, "project", protoreflect.ValueOfMessage(project))
	set(pipe, "name", protoreflect.ValueOfString(p.Name))
	set(m, "pipeline", protoreflect.ValueOfMessage(pipe))
	set(m, "version", protoreflect.ValueOfUint64(p.Version))
	set(m, "stopped", protoreflect.ValueOfBool(p.Stopped))
	set(m, "state", protoreflect.ValueOfEnum(protoreflect.EnumNumber(p.State)))
	set(m, "reason", protoreflect.ValueOfString(p.Reason))
	set(m, "parallelism", protoreflect.ValueOfUint64(p.Parallelism))
	return m, nil
}

// StateMessage encodes an enterprise_v2.GetStateResponse.
func StateMessage(s EnterpriseState) (*dynamicpb.Message, error) {
	m, err := Message("enterprise_v2.GetStateResponse")
	if err != nil {
		return nil, err
	}
	set(m, "state", protoreflect.ValueOfEnum(protoreflect.EnumNumber(s)))
	return m, nil
}

// PauseStatusMessage encodes an enterprise_v2.PauseStatusResponse.
func PauseStatusMessage(s PauseStatus) (*dynamicpb.Message, error) {
	m, err := Message("enterprise_v2.PauseStatusResponse")
	if err != nil {
		return nil, err
	}
	set(m, "status", protoreflect.ValueOfEnum(protoreflect.EnumNumber(s)))
	return m, nil
}

// DecodeClusterInfo reads an admin_v2.ClusterInfo.
func DecodeClusterInfo(m protoreflect.Message) ClusterInfo {
	return ClusterInfo{
		ID:           get(m, "id").String(),
		DeploymentID: get(m, "deployment_id").String(),
		WarningsOK:   get(m, "warnings_ok").Bool(),
		Paused:       get(m, "paused").Bool(),
	}
}

// DecodePipelineInfo reads a pps_v2.PipelineInfo.
func DecodePipelineInfo(m protoreflect.Message) PipelineInfo {
	pipe := get(m, "pipeline").Message()
	return PipelineInfo{
		Project:     get(get(pipe, "project").Message(), "name").String(),
		Name:        get(pipe, "name").String(),
		Version:     get(m, "version").Uint(),
		Stopped:     get(m, "stopped").Bool(),
		State:       PipelineState(get(m, "state").Enum()),
		Reason:      get(m, "reason").String(),
		Parallelism: get(m, "parallelism").Uint(),
	}
}

func unary(ctx context.Context, conn grpc.ClientConnInterface, method, reqType, respType string) (*dynamicpb.Message, error) {
	req, err := Message(reqType)
	if err != nil {
		return nil, err
	}
	resp, err := Message(respType)
	if err != nil {
		return nil, err
	}
	if err := conn.Invoke(ctx, method, req, resp); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return resp, nil
}

// InspectCluster calls admin_v2.API/InspectCluster.
func InspectCluster(ctx context.Context, conn grpc.ClientConnInterface) (ClusterInfo, error) {
	resp, err := unary(ctx, conn, MethodInspectCluster, "admin_v2.InspectClusterRequest", "admin_v2.ClusterInfo")
	if err != nil {
		return ClusterInfo{}, err
	}
	return DecodeClusterInfo(resp), nil
}

// GetState calls enterprise_v2.API/GetState.
func GetState(ctx context.Context, conn grpc.ClientConnInterface) (EnterpriseState, error) {
	resp, err := unary(ctx, conn, MethodGetState, "enterprise_v2.GetStateRequest", "enterprise_v2.GetStateResponse")
	if err != nil {
		return 0, err
	}
	return EnterpriseState(get(resp, "state").Enum()), nil
}

// Pause calls enterprise_v2.API/Pause (what `pachctl enterprise pause` does).
func Pause(ctx context.Context, conn grpc.ClientConnInterface) error {
	_, err := unary(ctx, conn, MethodPause, "enterprise_v2.PauseRequest", "enterprise_v2.PauseResponse")
	return err
}

// Unpause calls enterprise_v2.API/Unpause.
func Unpause(ctx context.Context, conn grpc.ClientConnInterface) error {
	_, err := unary(ctx, conn, MethodUnpause, "enterprise_v2.UnpauseRequest", "enterprise_v2.UnpauseResponse")
	return err
}

// GetPauseStatus calls enterprise_v2.API/PauseStatus.
func GetPauseStatus(ctx context.Context, conn grpc.ClientConnInterface) (PauseStatus, error) {
	resp, err := unary(ctx, conn, MethodPauseStatus, "enterprise_v2.PauseStatusRequest", "enterprise_v2.PauseStatusResponse")
	if err != nil {
		return 0, err
	}
	return PauseStatus(get(resp, "status").Enum()), nil
}

var listPipelineStream = &grpc.StreamDesc{StreamName: "ListPipeline", ServerStreams: true}

// ListPipelines calls pps_v2.API/ListPipeline (all projects) and collects the stream.
func ListPipelines(ctx context.Context, conn grpc.ClientConnInterface) ([]PipelineInfo, error) {
	req, err := Message("pps_v2.ListPipelineRequest")
	if err != nil {
		return nil, err
	}
	stream, err := conn.NewStream(ctx, listPipelineStream, MethodListPipeline)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", MethodListPipeline, err)
	}
	if err := stream.SendMsg(req); err != nil {
		return nil, fmt.Errorf("%s: send: %w", MethodListPipeline, err)
	}
	if err := stream.CloseSend(); err != nil {
		return nil, fmt.Errorf("%s: %w", MethodListPipeline, err)
	}
	var out []PipelineInfo
	for {
		m, err := Message("pps_v2.PipelineInfo")
		if err != nil {
			return nil, err
		}
		if err := stream.RecvMsg(m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s: %w", MethodListPipeline, err)
		}
		out = append(out, DecodePipelineInfo(m))
	}
}
