package pachstandin

import (
	"context"
	"maps"
	"slices"
	"sort"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin/pachpb"
)

// VersionState is how pachd at one version answers differently from the cluster's state: the
// failures an upgrade's health checks must catch (enterprise lost, pipelines crashing).
type VersionState struct {
	// Enterprise, when set, replaces the enterprise state while this version serves.
	Enterprise *pachpb.EnterpriseState
	// Pipelines replaces the state of the named pipelines ("project/name" or "name" in the
	// default project) while this version serves.
	Pipelines map[string]pachpb.PipelineState
}

// clusterState is what pachd holds in its database and serves over admin, enterprise and pps.
type clusterState struct {
	// writes is held (read) by each unit of pachd's work and (write) by a
	// pause, which so takes effect only once the writes in flight are
	// done, as a real pachd's restart into paused mode does.
	writes     sync.RWMutex
	mu         sync.Mutex
	id         string
	enterprise pachpb.EnterpriseState
	paused     bool
	pipelines  map[string]pachpb.PipelineInfo
	byVersion  map[string]VersionState
	// rootToken, when set, is auth's one token (auth.go).
	rootToken string
}

// SetEnterprise sets the enterprise state every version serves (unless a VersionState says
// otherwise).
func (p *Pachd) SetEnterprise(s pachpb.EnterpriseState) {
	p.state.mu.Lock()
	defer p.state.mu.Unlock()
	p.state.enterprise = s
}

// SetPipelines replaces the cluster's pipelines. A pipeline with no project is in "default".
func (p *Pachd) SetPipelines(pipes ...pachpb.PipelineInfo) {
	p.state.mu.Lock()
	defer p.state.mu.Unlock()
	p.state.pipelines = map[string]pachpb.PipelineInfo{}
	for _, pi := range pipes {
		if pi.Project == "" {
			pi.Project = "default"
		}
		p.state.pipelines[pi.FullName()] = pi
	}
}

// SetVersionState makes pachd at version (as VersionFunc reports it, e.g. "2.12.0") answer
// with s's changes: a new pachd that loses the enterprise state or whose pipelines crash.
func (p *Pachd) SetVersionState(version string, s VersionState) {
	p.state.mu.Lock()
	defer p.state.mu.Unlock()
	p.state.byVersion[version] = s
}

// PausedByEnterprise reports whether `pachctl enterprise pause` (Pause) is in effect.
func (p *Pachd) PausedByEnterprise() bool {
	p.state.mu.Lock()
	defer p.state.mu.Unlock()
	return p.state.paused
}

// serving answers the version serving now, or Unavailable as a pachd without a Ready pod.
func (p *Pachd) serving(ctx context.Context) (string, error) {
	v, err := p.version(ctx)
	if err != nil {
		return "", status.Errorf(codes.Unavailable, "pachd is not ready: %v", err)
	}
	return v, nil
}

func (p *Pachd) inspectCluster(ctx context.Context) (proto.Message, error) {
	p.inspectCalls.Add(1)
	if _, err := p.serving(ctx); err != nil {
		return nil, err
	}
	p.state.mu.Lock()
	ci := pachpb.ClusterInfo{ID: p.state.id, DeploymentID: p.state.id, WarningsOK: true, Paused: p.state.paused}
	p.state.mu.Unlock()
	return ci.Message()
}

func (p *Pachd) enterpriseState(ctx context.Context) (pachpb.EnterpriseState, error) {
	v, err := p.serving(ctx)
	if err != nil {
		return 0, err
	}
	p.state.mu.Lock()
	defer p.state.mu.Unlock()
	if o, ok := p.state.byVersion[v]; ok && o.Enterprise != nil {
		return *o.Enterprise, nil
	}
	return p.state.enterprise, nil
}

func (p *Pachd) getState(ctx context.Context) (proto.Message, error) {
	s, err := p.enterpriseState(ctx)
	if err != nil {
		return nil, err
	}
	return pachpb.StateMessage(s)
}

func (p *Pachd) setPaused(ctx context.Context, paused bool) (proto.Message, error) {
	if _, err := p.serving(ctx); err != nil {
		return nil, err
	}
	if err := p.authenticated(ctx); err != nil {
		return nil, err
	}
	s, err := p.enterpriseState(ctx)
	if err != nil {
		return nil, err
	}
	// As in pachd: pausing is an enterprise feature.
	if s != pachpb.EnterpriseActive {
		return nil, status.Error(codes.FailedPrecondition, "enterprise features are not activated (state "+s.String()+")")
	}
	p.state.writes.Lock()
	p.state.mu.Lock()
	p.state.paused = paused
	p.state.mu.Unlock()
	p.state.writes.Unlock()
	return &emptypb.Empty{}, nil
}

// Writing starts one unit of pachd's work: ok is false while pachd is
// paused; else done must be called when the work is written. A pause waits
// for the work in flight.
func (p *Pachd) Writing() (ok bool, done func()) {
	p.state.writes.RLock()
	if p.PausedByEnterprise() {
		p.state.writes.RUnlock()
		return false, func() {}
	}
	return true, p.state.writes.RUnlock
}

func (p *Pachd) pauseStatus(ctx context.Context) (proto.Message, error) {
	if _, err := p.serving(ctx); err != nil {
		return nil, err
	}
	if err := p.authenticated(ctx); err != nil {
		return nil, err
	}
	s := pachpb.Unpaused
	if p.PausedByEnterprise() {
		s = pachpb.Paused
	}
	return pachpb.PauseStatusMessage(s)
}

// pipelinesNow lists the pipelines as the serving version reports them, sorted by name.
func (p *Pachd) pipelinesNow(ctx context.Context) ([]pachpb.PipelineInfo, error) {
	v, err := p.serving(ctx)
	if err != nil {
		return nil, err
	}
	p.state.mu.Lock()
	defer p.state.mu.Unlock()
	o := p.state.byVersion[v]
	names := slices.Collect(maps.Keys(p.state.pipelines))
	sort.Strings(names)
	out := make([]pachpb.PipelineInfo, 0, len(names))
	for _, n := range names {
		pi := p.state.pipelines[n]
		if s, ok := o.Pipelines[n]; ok {
			pi.State = s
		} else if s, ok := o.Pipelines[pi.Name]; ok && pi.Project == "default" {
			pi.State = s
		}
		if p.state.paused && pi.State == pachpb.PipelineRunning {
			pi.State = pachpb.PipelinePaused
		}
		out = append(out, pi)
	}
	return out, nil
}

// unaryMethod adapts a handler to grpc.MethodDesc; requests are read and their content ignored
// (decoded as Empty, the fields stay unknown), as the stand-in serves whole-cluster answers.
func unaryMethod(name string, h func(p *Pachd, ctx context.Context) (proto.Message, error)) grpc.MethodDesc {
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			if err := dec(&emptypb.Empty{}); err != nil {
				return nil, err
			}
			return h(srv.(*Pachd), ctx)
		},
	}
}

// standinServer is the handler type the service descriptors name; *Pachd implements it.
type standinServer interface {
	serving(ctx context.Context) (string, error)
}

var adminServiceDesc = grpc.ServiceDesc{
	ServiceName: "admin_v2.API",
	HandlerType: (*standinServer)(nil),
	Methods: []grpc.MethodDesc{
		unaryMethod("InspectCluster", (*Pachd).inspectCluster),
	},
	Metadata: "admin/admin.proto",
}

var enterpriseServiceDesc = grpc.ServiceDesc{
	ServiceName: "enterprise_v2.API",
	HandlerType: (*standinServer)(nil),
	Methods: []grpc.MethodDesc{
		unaryMethod("GetState", (*Pachd).getState),
		unaryMethod("Pause", func(p *Pachd, ctx context.Context) (proto.Message, error) { return p.setPaused(ctx, true) }),
		unaryMethod("Unpause", func(p *Pachd, ctx context.Context) (proto.Message, error) { return p.setPaused(ctx, false) }),
		unaryMethod("PauseStatus", (*Pachd).pauseStatus),
	},
	Metadata: "enterprise/enterprise.proto",
}

var ppsServiceDesc = grpc.ServiceDesc{
	ServiceName: "pps_v2.API",
	HandlerType: (*standinServer)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    "ListPipeline",
		ServerStreams: true,
		Handler: func(srv any, stream grpc.ServerStream) error {
			if err := stream.RecvMsg(&emptypb.Empty{}); err != nil {
				return err
			}
			p := srv.(*Pachd)
			if _, err := p.serving(stream.Context()); err != nil {
				return err
			}
			if err := p.authenticated(stream.Context()); err != nil {
				return err
			}
			pipes, err := p.pipelinesNow(stream.Context())
			if err != nil {
				return err
			}
			for _, pi := range pipes {
				m, err := pi.Message()
				if err != nil {
					return status.Error(codes.Internal, err.Error())
				}
				if err := stream.SendMsg(m); err != nil {
					return err
				}
			}
			return nil
		},
	}},
	Metadata: "pps/pps.proto",
}
