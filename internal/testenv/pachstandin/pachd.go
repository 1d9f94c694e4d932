package pachstandin

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin/pachpb"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin/versionpb"
)

// VersionFunc answers which version pachd is running right now. An error
// means pachd is not serving (e.g. still starting); clients see Unavailable.
type VersionFunc func(ctx context.Context) (string, error)

// StaticVersion is a VersionFunc that always answers v.
func StaticVersion(v string) VersionFunc {
	return func(context.Context) (string, error) { return v, nil }
}

// Pachd is a running pachd stand-in.
type Pachd struct {
	// Address is what pachctl takes as PACHD_ADDRESS, e.g. grpc://127.0.0.1:30650.
	Address string
	calls   atomic.Int64
	version VersionFunc
	done    chan struct{}

	inspectCalls atomic.Int64
	denied       atomic.Int64
	state        clusterState
}

// InspectCalls counts InspectCluster requests served, failed ones included.
func (p *Pachd) InspectCalls() int { return int(p.inspectCalls.Load()) }

// Calls counts GetVersion requests served, failed ones included.
func (p *Pachd) Calls() int { return int(p.calls.Load()) }

// Done is closed once the server has stopped.
func (p *Pachd) Done() <-chan struct{} { return p.done }

// versionServer exists because grpc.ServiceDesc wants an interface type that
// the service implementation satisfies.
type versionServer interface {
	getVersion(ctx context.Context) (*versionpb.Version, error)
}

func (p *Pachd) getVersion(ctx context.Context) (*versionpb.Version, error) {
	p.calls.Add(1)
	s, err := p.version(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "pachd is not ready: %v", err)
	}
	v, err := versionpb.Parse(s)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "pachd version: %v", err)
	}
	v.GoVersion, v.Platform = "go1.26", "linux"
	return &v, nil
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: versionpb.Service,
	HandlerType: (*versionServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: versionpb.Method,
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			if err := dec(&emptypb.Empty{}); err != nil {
				return nil, err
			}
			v, err := srv.(versionServer).getVersion(ctx)
			if err != nil {
				return nil, err
			}
			m, err := v.Message()
			if err != nil {
				return nil, status.Error(codes.Internal, err.Error())
			}
			return m, nil
		},
	}},
	Metadata: "version/versionpb/version.proto",
}

// ServePachd serves pachd's version API (gRPC /versionpb_v2.API/GetVersion)
// on 127.0.0.1 until ctx ends, answering whatever version says, and the
// health-check APIs of package pachpb (InspectCluster, enterprise GetState and
// Pause, ListPipeline), which answer Unavailable while version errs. Their
// state is set with SetEnterprise, SetPipelines and SetVersionState.
func ServePachd(ctx context.Context, version VersionFunc) (*Pachd, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for pachd stand-in: %w", err)
	}
	p := &Pachd{Address: "grpc://" + lis.Addr().String(), version: version, done: make(chan struct{})}
	p.state = clusterState{id: "standin-" + lis.Addr().String(), enterprise: pachpb.EnterpriseNone,
		pipelines: map[string]pachpb.PipelineInfo{}, byVersion: map[string]VersionState{}}
	srv := grpc.NewServer()
	srv.RegisterService(&serviceDesc, p)
	srv.RegisterService(&adminServiceDesc, p)
	srv.RegisterService(&enterpriseServiceDesc, p)
	srv.RegisterService(&ppsServiceDesc, p)
	go func() {
		defer close(p.done)
		// Serve returns once Stop has closed the listener.
		_ = srv.Serve(lis)
	}()
	go func() {
		<-ctx.Done()
		srv.Stop()
	}()
	return p, nil
}
