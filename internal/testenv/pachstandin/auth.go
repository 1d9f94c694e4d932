package pachstandin

import (
	"context"
	"crypto/subtle"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Pachyderm's auth, as its interceptor (src/internal/middleware/auth)
// applies it to the RPCs this stand-in serves: GetVersion, InspectCluster
// and enterprise GetState are unauthenticated; ListPipeline and enterprise
// PauseStatus need a signed-in caller; enterprise Pause and Unpause need
// the CLUSTER_ENTERPRISE_PAUSE permission, which the root token
// (clusterAdmin) holds. The token travels as gRPC metadata "authn-token"
// (auth.ContextTokenKey).
const authTokenKey = "authn-token"

// Pachyderm's errors (src/auth): a call without a token, and one whose
// token pachd does not know.
var (
	errNotSignedIn = status.Error(codes.Unauthenticated, "no authentication token (try logging in)")
	errBadToken    = status.Error(codes.Unauthenticated, "provided auth token is corrupted or has expired (try logging in again)")
)

// SetAuth activates auth with rootToken as the one token pachd knows, the
// root user's (clusterAdmin), as pachd does from AUTH_ROOT_TOKEN when the
// chart's pachd.activateAuth is on; "" deactivates it.
func (p *Pachd) SetAuth(rootToken string) {
	p.state.mu.Lock()
	defer p.state.mu.Unlock()
	p.state.rootToken = rootToken
}

// Denied counts calls refused for want of the right token.
func (p *Pachd) Denied() int { return int(p.denied.Load()) }

// authenticated refuses, where auth is active, a call that carries no
// token or one other than the root token; the root token is clusterAdmin,
// so it also passes every cluster permission check.
func (p *Pachd) authenticated(ctx context.Context) error {
	p.state.mu.Lock()
	root := p.state.rootToken
	p.state.mu.Unlock()
	if root == "" {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	tokens := md.Get(authTokenKey)
	switch {
	case len(tokens) == 0:
		p.denied.Add(1)
		return errNotSignedIn
	case len(tokens) > 1:
		p.denied.Add(1)
		return status.Error(codes.Unknown, "multiple authentication token keys found in context")
	case subtle.ConstantTimeCompare([]byte(tokens[0]), []byte(root)) != 1:
		p.denied.Add(1)
		return errBadToken
	}
	return nil
}
