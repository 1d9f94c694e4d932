package helmrelease

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	ri "helm.sh/helm/v4/pkg/release"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
)

// ErrNotFound is returned when the release does not exist in the namespace.
var ErrNotFound = errors.New("release not found")

// Release is one revision of a Helm release, as stored by Helm.
type Release struct {
	Name         string
	Namespace    string
	Revision     int
	Status       string // deployed, superseded, failed, pending-upgrade, ...
	Description  string
	ChartName    string
	ChartVersion string
	AppVersion   string
	// Values are the user-supplied values of this revision (not merged with chart defaults).
	// They may hold credentials: redact before printing.
	Values   map[string]any
	Manifest string
	Updated  time.Time
	// ApplyMethod is "ssa" (server-side apply) or "csa"/"" (client-side, as Helm 3 writes).
	ApplyMethod string
}

// PendingError reports a release stuck in a pending state, which Helm refuses to upgrade.
type PendingError struct {
	Release  string
	Revision int
	Status   string
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("release %s is %s at revision %d: another operation is in progress or was interrupted; "+
		"set recover-pending to roll it back to its last deployed revision", e.Release, e.Status, e.Revision)
}

// Get returns the latest revision of the release as the cluster has it now: it is how a
// caller learns the release's state, so what the client read before is used only when the
// stored records are still those (the same revisions with the same statuses).
func (c *Client) Get(ctx context.Context, name string) (*Release, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.records.refresh(ctx, name)
	return c.latest(name)
}

// Latest is Get read from the latest record alone: its revision found from the records'
// labels, then that one record read and decoded. Get decodes every stored revision (each
// holds the whole chart) whenever this client wrote since its last read, which is what a
// failed upgrade's recovery does first; the history is left for Helm's rollback to read.
func (c *Client) Latest(ctx context.Context, name string) (*Release, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	revs, err := c.revisions(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(revs) == 0 {
		return nil, c.wrapNotFound(name, "get", driver.ErrReleaseNotFound)
	}
	r, err := c.cfg.Releases.Get(name, revs[len(revs)-1])
	if err != nil {
		return nil, c.wrapNotFound(name, "get", err)
	}
	return fromReleaser(r)
}

// latest is Get from the records this client has read since its last write or Get: for the
// steps between the release check and the upgrade, which all read the same release.
func (c *Client) latest(name string) (*Release, error) {
	r, err := action.NewGet(c.cfg).Run(name)
	if err != nil {
		return nil, c.wrapNotFound(name, "get", err)
	}
	return fromReleaser(r)
}

// History returns every stored revision of the release, oldest first.
func (c *Client) History(ctx context.Context, name string) ([]*Release, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h := action.NewHistory(c.cfg)
	h.Max = 1 << 20
	rs, err := h.Run(name)
	if err != nil {
		return nil, c.wrapNotFound(name, "history of", err)
	}
	out := make([]*Release, 0, len(rs))
	for _, r := range rs {
		rel, err := fromReleaser(r)
		if err != nil {
			return nil, err
		}
		out = append(out, rel)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out, nil
}

// CheckPending returns a *PendingError when the latest revision is pending-install,
// pending-upgrade or pending-rollback, and nil otherwise.
func (c *Client) CheckPending(ctx context.Context, name string) error {
	r, err := c.Get(ctx, name)
	if err != nil {
		return err
	}
	return r.Pending()
}

// Pending returns a *PendingError when this revision is pending-install,
// pending-upgrade or pending-rollback, and nil otherwise.
func (r *Release) Pending() error {
	if rcommon.Status(r.Status).IsPending() {
		return &PendingError{Release: r.Name, Revision: r.Revision, Status: r.Status}
	}
	return nil
}

// RecoverPending rolls a pending release back to the revision RecoveryTarget names and
// returns that revision. It does nothing and returns 0 when the release is not pending.
func (c *Client) RecoverPending(ctx context.Context, name string, timeout time.Duration) (int, error) {
	err := c.CheckPending(ctx, name)
	var pending *PendingError
	if !errors.As(err, &pending) {
		return 0, err
	}
	history, err := c.History(ctx, name)
	if err != nil {
		return 0, err
	}
	target := RecoveryTarget(history, pending.Revision)
	if target == 0 {
		return 0, fmt.Errorf("recover %w: no earlier deployed revision to roll back to", pending)
	}
	return target, c.RecoverPendingTo(ctx, name, pending.Revision, target, timeout)
}

// RecoverPendingTo rolls the pending revision back to target. Helm refuses to roll back while
// the latest record is pending, so the interrupted revision is marked failed first, as `helm
// upgrade` itself does when it is interrupted; its description says where the recovery goes,
// so a run that finds it failed (the rollback itself failed or was cut) still knows.
func (c *Client) RecoverPendingTo(ctx context.Context, name string, pending, target int, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ri, err := c.cfg.Releases.Get(name, pending)
	if err != nil {
		return fmt.Errorf("read release %s revision %d: %w", name, pending, err)
	}
	status := "pending"
	if rel, ok := ri.(*release.Release); ok && rel.Info != nil {
		status = rel.Info.Status.String()
	}
	if err := c.markFailed(name, pending, fmt.Sprintf("interrupted while %s; recovered by pach-upgrade: rollback to %d", status, target)); err != nil {
		return err
	}
	if err := c.Rollback(ctx, name, target, timeout); err != nil {
		return fmt.Errorf("recover pending release %s: %w", name, err)
	}
	return nil
}

// rollbackTo finds the revision a description says a rollback returns to: "Rollback to N",
// as the Helm CLIs and this package write it, or "...: rollback to N", as RecoverPendingTo
// marks an interrupted revision.
var rollbackTo = regexp.MustCompile(`(?i)\brollback to (\d+)\b`)

// RollbackOf is the revision this one rolls back to, read from its description, or 0 when
// it is no rollback.
func (r *Release) RollbackOf() int {
	m := rollbackTo.FindStringSubmatch(r.Description)
	if m == nil {
		return 0
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n >= r.Revision {
		return 0
	}
	return n
}

// RecoveryTarget is the revision that revision `latest` of history (pending or failed) should
// be brought back to: for a rollback that did not finish, the rollback's own target (the
// newest deployed revision may be the very version it was leaving); otherwise the newest
// earlier revision that was deployed. 0 when there is none.
func RecoveryTarget(history []*Release, latest int) int {
	byRev := map[int]*Release{}
	for _, r := range history {
		byRev[r.Revision] = r
	}
	if l := byRev[latest]; l != nil {
		if to := l.RollbackOf(); to > 0 {
			if t := byRev[to]; t != nil && t.Pending() == nil && t.Status != string(rcommon.StatusFailed) {
				return to
			}
		}
	}
	target := 0
	for _, r := range history {
		if r.Revision < latest && (r.Status == string(rcommon.StatusDeployed) || r.Status == string(rcommon.StatusSuperseded)) {
			target = r.Revision
		}
	}
	return target
}

// VerifiedMark is what a revision's description carries once pach-upgrade has watched every
// pod of it to Ready and found pachctl and pachd at its version. Helm records a revision
// deployed as soon as it is applied, before anyone knows whether it runs: the mark is what
// tells a later run, and a person reading `helm history`, that it was checked.
const VerifiedMark = "verified by pach-upgrade"

// Verified reports whether the revision carries VerifiedMark.
func (r *Release) Verified() bool { return strings.Contains(r.Description, VerifiedMark) }

// LeftMark begins the description of a revision that pach-upgrade marked failed and left in
// place, because its pachd had migrated the database (or may have) and nothing the run held
// could undo that: the revision before it no longer runs against that database.
const LeftMark = "pach-upgrade: failed and left"

// Left reports whether the revision is failed with LeftMark.
func (r *Release) Left() bool {
	return r.Status == string(rcommon.StatusFailed) && strings.HasPrefix(r.Description, LeftMark)
}

// MarkVerified records on revision that it was verified: its description gains VerifiedMark
// and what was checked; its status stays as it is.
func (c *Client) MarkVerified(ctx context.Context, name string, revision int, what string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ri, err := c.cfg.Releases.Get(name, revision)
	if err != nil {
		return fmt.Errorf("read release %s revision %d: %w", name, revision, err)
	}
	rel, ok := ri.(*release.Release)
	if !ok || rel.Info == nil {
		return fmt.Errorf("release %s revision %d: unsupported release type %T", name, revision, ri)
	}
	desc := rel.Info.Description
	if !strings.Contains(desc, VerifiedMark) {
		desc = strings.TrimSpace(desc + "; " + VerifiedMark + " " + what)
	}
	// The record just read is the one written back: reading it again would only decode the
	// whole chart a second time.
	rel.SetStatus(rel.Info.Status, desc)
	if err := c.cfg.Releases.Update(rel); err != nil {
		return fmt.Errorf("mark release %s revision %d %s: %w", name, revision, rel.Info.Status, err)
	}
	return nil
}

// MarkRollbackVerified marks the latest revision verified, with what, when it is the rollback
// to revision to (and not a revision another client wrote since); it returns the revision
// marked. It finds the latest revision from the records' labels and reads that record alone:
// Get would decode every stored revision, each holding the whole chart, on the way to the
// safe state that a failed upgrade's run ends in.
func (c *Client) MarkRollbackVerified(ctx context.Context, name string, to int, what string) (int, error) {
	revs, err := c.revisions(ctx, name)
	if err != nil {
		return 0, err
	}
	if len(revs) == 0 {
		return 0, c.wrapNotFound(name, "mark", driver.ErrReleaseNotFound)
	}
	latest := revs[len(revs)-1]
	ri, err := c.cfg.Releases.Get(name, latest)
	if err != nil {
		return 0, fmt.Errorf("read release %s revision %d: %w", name, latest, err)
	}
	rel, ok := ri.(*release.Release)
	if !ok || rel == nil || rel.Info == nil {
		return 0, fmt.Errorf("release %s revision %d: unsupported release type %T", name, latest, ri)
	}
	if of := fromRelease(rel).RollbackOf(); of != to {
		return 0, fmt.Errorf("the latest revision %d is not the rollback to revision %d", latest, to)
	}
	desc := rel.Info.Description
	if !strings.Contains(desc, VerifiedMark) {
		desc = strings.TrimSpace(desc + "; " + VerifiedMark + " " + what)
	}
	rel.SetStatus(rel.Info.Status, desc)
	if err := c.cfg.Releases.Update(rel); err != nil {
		return 0, fmt.Errorf("mark release %s revision %d verified: %w", name, latest, err)
	}
	return latest, nil
}

func (c *Client) markFailed(name string, revision int, description string) error {
	return c.setStatus(name, revision, rcommon.StatusFailed, description)
}

// MarkPendingUpgrade records revision as pending-upgrade: the state `helm upgrade --wait`
// leaves a release in when it is stopped before the rollout is Ready. A run cancelled after
// applying a revision but before checking its rollout leaves it so, and not as deployed,
// because a deployed revision would look finished to the next run; a pending one makes
// the next run (and the Helm CLIs) refuse it until it is recovered (recover-pending).
func (c *Client) MarkPendingUpgrade(ctx context.Context, name string, revision int, description string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.setStatus(name, revision, rcommon.StatusPendingUpgrade, description)
}

func (c *Client) setStatus(name string, revision int, status rcommon.Status, description string) error {
	ri, err := c.cfg.Releases.Get(name, revision)
	if err != nil {
		return fmt.Errorf("read release %s revision %d: %w", name, revision, err)
	}
	rel, ok := ri.(*release.Release)
	if !ok {
		return fmt.Errorf("release %s revision %d: unsupported release type %T", name, revision, ri)
	}
	rel.SetStatus(status, description)
	if err := c.cfg.Releases.Update(rel); err != nil {
		return fmt.Errorf("mark release %s revision %d %s: %w", name, revision, status, err)
	}
	return nil
}

// Rollback rolls the release back to toRevision (0 means the previous revision). Like
// Upgrade it waits only for hooks; the caller watches the rollout.
func (c *Client) Rollback(ctx context.Context, name string, toRevision int, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.records.forget()
	rb := action.NewRollback(c.cfg)
	rb.Version = toRevision
	rb.MaxHistory = defaultMaxHistory
	rb.Timeout = timeout
	rb.WaitStrategy = kube.HookOnlyStrategy
	rb.Description = fmt.Sprintf("Rollback to %d by pach-upgrade", toRevision)
	if err := rb.Run(name); err != nil {
		return fmt.Errorf("roll back release %s/%s to revision %d: %w", c.namespace, name, toRevision, err)
	}
	return nil
}

func (c *Client) wrapNotFound(name, what string, err error) error {
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return fmt.Errorf("%s release %s/%s: %w", what, c.namespace, name, ErrNotFound)
	}
	return fmt.Errorf("%s release %s/%s: %w", what, c.namespace, name, err)
}

func fromReleaser(r ri.Releaser) (*Release, error) {
	rel, ok := r.(*release.Release)
	if !ok || rel == nil {
		return nil, fmt.Errorf("unsupported Helm release type %T", r)
	}
	return fromRelease(rel), nil
}

func fromRelease(rel *release.Release) *Release {
	out := &Release{
		Name:        rel.Name,
		Namespace:   rel.Namespace,
		Revision:    rel.Version,
		Values:      rel.Config,
		Manifest:    rel.Manifest,
		ApplyMethod: rel.ApplyMethod,
	}
	if rel.Info != nil {
		out.Status = rel.Info.Status.String()
		out.Description = rel.Info.Description
		out.Updated = rel.Info.LastDeployed
	}
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		out.ChartName = rel.Chart.Metadata.Name
		out.ChartVersion = rel.Chart.Metadata.Version
		out.AppVersion = rel.Chart.Metadata.AppVersion
	}
	return out
}
