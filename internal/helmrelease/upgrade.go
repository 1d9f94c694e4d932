package helmrelease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	"helm.sh/helm/v4/pkg/postrenderer"
)

// UpgradeOptions tune Upgrade and Install.
type UpgradeOptions struct {
	// Timeout bounds the whole operation, hooks included. Zero means five minutes.
	Timeout time.Duration
	// Description is stored with the new revision (shown by `helm history`).
	Description string
	// MaxHistory limits stored revisions: 0 keeps the Helm CLIs' default of 10 (their
	// --history-max), a negative value keeps every revision. Every Helm action reads the whole
	// history, so an unbounded one makes each run slower than the last.
	MaxHistory int
	// ServerSideApply is "auto" (default: as the release was last applied; server-side for
	// releases installed by Helm 4), "true" or "false".
	ServerSideApply string
	// ForceConflicts takes over fields another manager owns under server-side apply.
	ForceConflicts bool
	// PostRenderer patches the rendered manifest (Carry.PostRenderer); Upgrade only.
	PostRenderer postrenderer.PostRenderer
}

func (o UpgradeOptions) timeout() time.Duration {
	if o.Timeout <= 0 {
		return 5 * time.Minute
	}
	return o.Timeout
}

// defaultMaxHistory is the Helm CLIs' --history-max default.
const defaultMaxHistory = 10

func (o UpgradeOptions) maxHistory() int {
	switch {
	case o.MaxHistory == 0:
		return defaultMaxHistory
	case o.MaxHistory < 0:
		return 0 // Helm's "no limit"
	}
	return o.MaxHistory
}

func (o UpgradeOptions) serverSideApply() string {
	if o.ServerSideApply == "" {
		return "auto"
	}
	return o.ServerSideApply
}

// Upgrade upgrades the release to ch with exactly values as the user-supplied values (the
// caller has already merged the release's current values with its own; Helm's implicit
// reuse of the previous values is turned off so an empty map means chart defaults).
//
// It applies the manifests and runs hooks, waiting only for the hooks: the caller watches the
// rollout and decides about rollback, so Helm's own wait and atomic rollback stay off. On
// error the new revision is marked failed (never left pending) and returned when known.
// The timeout bounds the hooks; the apply is never cut by it (see below).
func (c *Client) Upgrade(ctx context.Context, name string, ch *Chart, values map[string]any, opts UpgradeOptions) (*Release, error) {
	if ch == nil || ch.Chart == nil {
		return nil, errors.New("upgrade: no chart")
	}
	// No deadline on ctx: Helm, its context ended mid-apply, records the revision failed and
	// returns while the apply goes on in the background, racing whatever the caller does
	// next (a rollback). opts.Timeout bounds the hooks; only the caller's cancel ends ctx.

	up := action.NewUpgrade(c.cfg)
	up.Namespace = c.namespace
	up.Timeout = opts.timeout()
	up.WaitStrategy = kube.HookOnlyStrategy
	up.RollbackOnFailure = false
	up.ResetValues = true
	up.MaxHistory = opts.maxHistory()
	up.ServerSideApply = opts.serverSideApply()
	up.ForceConflicts = opts.ForceConflicts
	up.Description = opts.Description
	up.PostRenderer = opts.PostRenderer
	// Under server-side apply Helm sends fieldValidation=Strict and the API server checks every
	// manifest against its own schema, so the client-side OpenAPI validation only repeats it:
	// it downloads and parses the server's whole OpenAPI document, twice per upgrade, which was
	// most of the action's peak memory and a good part of an upgrade's time. Client-side
	// apply sends no such directive, so there Helm's own validation stays on.
	// c.Get checks the records against the cluster, so Helm's own check for a concurrent
	// operation (a pending latest revision) sees the cluster, not an earlier read.
	if last, err := c.Get(ctx, name); err == nil {
		up.DisableOpenAPIValidation = appliesServerSide(up.ServerSideApply, last.ApplyMethod)
	}
	if values == nil {
		values = map[string]any{}
	}
	r, err := up.RunWithContext(ctx, name, ch.Chart, values)
	var rel *Release
	if r != nil {
		if converted, cerr := fromReleaser(r); cerr == nil {
			rel = converted
		}
	}
	if err != nil {
		if cs := conflictsOf(err); len(cs) > 0 {
			err = &ConflictError{Release: name, Conflicts: cs}
		}
		return rel, fmt.Errorf("helm upgrade %s/%s to chart %s %s: %w", c.namespace, name, ch.Name(), ch.Version(), err)
	}
	return rel, nil
}

// appliesServerSide is how Helm resolves its server-side apply option against the release's
// last apply method (action.getUpgradeServerSideValue).
func appliesServerSide(option, lastApplyMethod string) bool {
	switch option {
	case "true":
		return true
	case "auto":
		return lastApplyMethod == "ssa"
	}
	return false
}

// Install installs ch as a new release. The action itself only upgrades; tests and the demo
// use this to create the release it upgrades. It waits only for hooks, like Upgrade.
func (c *Client) Install(ctx context.Context, name string, ch *Chart, values map[string]any, opts UpgradeOptions) (*Release, error) {
	if ch == nil || ch.Chart == nil {
		return nil, errors.New("install: no chart")
	}
	ctx, cancel := context.WithTimeout(ctx, opts.timeout())
	defer cancel()
	c.records.forget()

	in := action.NewInstall(c.cfg)
	in.ReleaseName = name
	in.Namespace = c.namespace
	in.Timeout = opts.timeout()
	in.WaitStrategy = kube.HookOnlyStrategy
	in.Description = opts.Description
	in.ForceConflicts = opts.ForceConflicts
	if ssa := opts.serverSideApply(); ssa != "auto" {
		in.ServerSideApply = ssa == "true"
	}
	if values == nil {
		values = map[string]any{}
	}
	r, err := in.RunWithContext(ctx, ch.Chart, values)
	if err != nil {
		return nil, fmt.Errorf("helm install %s/%s chart %s %s: %w", c.namespace, name, ch.Name(), ch.Version(), err)
	}
	return fromReleaser(r)
}
