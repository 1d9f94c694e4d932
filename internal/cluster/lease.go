package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
)

// LeaseName is the Lease that serialises runs against one Helm release.
func LeaseName(release string) string { return "pach-upgrade-" + release }

// LeaseHeldError says who holds the Lease we gave up waiting for.
type LeaseHeldError struct {
	Namespace, Name string
	Holder          string
	RenewTime       time.Time // zero when the Lease never recorded one
	Waited          time.Duration
}

func (e *LeaseHeldError) Error() string {
	renewed := "never renewed"
	if !e.RenewTime.IsZero() {
		renewed = fmt.Sprintf("last renewed %s (%s ago)", e.RenewTime.UTC().Format(time.RFC3339),
			time.Since(e.RenewTime).Round(time.Second))
	}
	return fmt.Sprintf("lease %s/%s is held by %q, %s; gave up after waiting %s",
		e.Namespace, e.Name, e.Holder, renewed, e.Waited.Round(time.Second))
}

// ErrLeaseLost is the cause of a Lock's context when the Lease was lost.
var ErrLeaseLost = errors.New("upgrade lease lost")

// Lock is a held Lease. Use Context for the guarded work: it is cancelled,
// with cause ErrLeaseLost, when renewal fails or someone else took the Lease.
// Release must be called on every exit path; it is idempotent.
type Lock struct {
	c          *Client
	ns, name   string
	holder     string
	ttl        time.Duration
	ctx        context.Context
	cancel     context.CancelCauseFunc
	stopRenew  chan struct{}
	renewDone  chan struct{}
	mu         sync.Mutex
	lease      *coordv1.Lease // last version we wrote; its resourceVersion guards updates
	releaseErr error
	once       sync.Once
}

// Context is cancelled when the Lease is lost or released.
func (l *Lock) Context() context.Context { return l.ctx }

// Holder is the identity this lock was taken with.
func (l *Lock) Holder() string { return l.holder }

// Acquire takes the Lease ns/name for holder. A free, released or expired Lease
// is taken at once; a live one is waited for (watching the Lease, not polling)
// for at most wait, then a *LeaseHeldError names the holder. Every write carries
// the resourceVersion read just before, so two runs racing for the same Lease
// cannot both win: the loser gets a conflict and looks again. The returned
// Lock renews the Lease every ttl/3 until Release.
//
// Expiry compares the Lease's renewTime with the local clock; runners whose
// clocks differ by more than ttl could misjudge it, so keep ttl well above any
// plausible skew (a minute or more).
func (c *Client) Acquire(ctx context.Context, ns, name, holder string, ttl, wait time.Duration) (*Lock, error) {
	if holder == "" {
		return nil, fmt.Errorf("acquire lease %s/%s: empty holder identity", ns, name)
	}
	if ttl < 3*time.Second {
		return nil, fmt.Errorf("acquire lease %s/%s: ttl %s is below 3s", ns, name, ttl)
	}
	start := time.Now()
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	leases := c.cs.CoordinationV1().Leases(ns)
	for {
		cur, err := leases.Get(waitCtx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			created, err := leases.Create(waitCtx, newLease(ns, name, holder, ttl), metav1.CreateOptions{})
			if err == nil {
				return c.startLock(ctx, created, ttl), nil
			}
			if !apierrors.IsAlreadyExists(err) {
				return nil, c.acquireErr(ctx, waitCtx, ns, name, nil, start, err)
			}
			continue // someone created it first: look again
		case err != nil:
			return nil, c.acquireErr(ctx, waitCtx, ns, name, nil, start, err)
		}
		if free(cur, holder, time.Now()) {
			next := cur.DeepCopy()
			now := metav1.NowMicro()
			secs := int32(ttl / time.Second)
			next.Spec.HolderIdentity = &holder
			next.Spec.LeaseDurationSeconds = &secs
			next.Spec.AcquireTime = &now
			next.Spec.RenewTime = &now
			transitions := int32(0)
			if cur.Spec.LeaseTransitions != nil {
				transitions = *cur.Spec.LeaseTransitions
			}
			transitions++
			next.Spec.LeaseTransitions = &transitions
			updated, err := leases.Update(waitCtx, next, metav1.UpdateOptions{})
			if err == nil {
				return c.startLock(ctx, updated, ttl), nil
			}
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				continue // lost the race; re-read
			}
			return nil, c.acquireErr(ctx, waitCtx, ns, name, cur, start, err)
		}
		if err := c.waitLeaseChange(waitCtx, cur); err != nil {
			return nil, c.acquireErr(ctx, waitCtx, ns, name, cur, start, err)
		}
	}
}

func (c *Client) acquireErr(ctx, waitCtx context.Context, ns, name string, cur *coordv1.Lease, start time.Time, err error) error {
	if ctx.Err() == nil && waitCtx.Err() != nil && cur != nil {
		e := &LeaseHeldError{Namespace: ns, Name: name, Waited: time.Since(start)}
		if cur.Spec.HolderIdentity != nil {
			e.Holder = *cur.Spec.HolderIdentity
		}
		if cur.Spec.RenewTime != nil {
			e.RenewTime = cur.Spec.RenewTime.Time
		}
		return e
	}
	return fmt.Errorf("acquire lease %s/%s: %w", ns, name, err)
}

func newLease(ns, name, holder string, ttl time.Duration) *coordv1.Lease {
	now := metav1.NowMicro()
	secs := int32(ttl / time.Second)
	zero := int32(0)
	return &coordv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "pach-upgrade"}},
		Spec: coordv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs,
			AcquireTime: &now, RenewTime: &now, LeaseTransitions: &zero},
	}
}

// free reports whether holder may take the Lease now: nobody holds it, it is
// ours already (a retried run with the same identity), or it has expired.
func free(l *coordv1.Lease, holder string, now time.Time) bool {
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" || *l.Spec.HolderIdentity == holder {
		return true
	}
	return !expiry(l).After(now)
}

func expiry(l *coordv1.Lease) time.Time {
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return time.Time{}
	}
	return l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)
}

// waitLeaseChange blocks until the Lease changes (renewed, released, deleted)
// or the current holder's term runs out, whichever comes first.
func (c *Client) waitLeaseChange(ctx context.Context, cur *coordv1.Lease) error {
	expires := time.Until(expiry(cur))
	if expires < 0 {
		expires = 0
	}
	timer := time.NewTimer(expires + 100*time.Millisecond)
	defer timer.Stop()
	w, err := c.cs.CoordinationV1().Leases(cur.Namespace).Watch(ctx, metav1.ListOptions{
		FieldSelector:   fields.OneTermEqualSelector("metadata.name", cur.Name).String(),
		ResourceVersion: cur.ResourceVersion,
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Watch refused (e.g. resourceVersion too old): re-reading is the recovery.
		return nil
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return nil
		case ev, ok := <-w.ResultChan():
			if !ok || ev.Type != watch.Bookmark {
				return nil
			}
		}
	}
}

func (c *Client) startLock(parent context.Context, lease *coordv1.Lease, ttl time.Duration) *Lock {
	// The guarded work must stop when the lease is lost, but not merely because
	// the acquisition's wait timeout ended, so derive from the caller's context.
	ctx, cancel := context.WithCancelCause(parent)
	l := &Lock{c: c, ns: lease.Namespace, name: lease.Name, holder: *lease.Spec.HolderIdentity, ttl: ttl,
		ctx: ctx, cancel: cancel, stopRenew: make(chan struct{}), renewDone: make(chan struct{}), lease: lease}
	go l.renewLoop()
	return l
}

func (l *Lock) renewLoop() {
	defer close(l.renewDone)
	tick := time.NewTicker(l.ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-l.stopRenew:
			return
		case <-l.ctx.Done():
			return
		case <-tick.C:
		}
		if err := l.renew(); err != nil {
			l.cancel(fmt.Errorf("%w: %s/%s: %v", ErrLeaseLost, l.ns, l.name, err))
			return
		}
	}
}

// renew extends the Lease. Transient API errors are retried until the term we
// hold would end; a conflict or another holder means the Lease is gone.
func (l *Lock) renew() error {
	l.mu.Lock()
	cur := l.lease.DeepCopy()
	l.mu.Unlock()
	deadline := expiry(cur)
	for {
		next := cur.DeepCopy()
		now := metav1.NowMicro()
		next.Spec.RenewTime = &now
		ctx, cancel := context.WithTimeout(context.WithoutCancel(l.ctx), l.ttl/3)
		updated, err := l.c.cs.CoordinationV1().Leases(l.ns).Update(ctx, next, metav1.UpdateOptions{})
		cancel()
		if err == nil {
			l.mu.Lock()
			l.lease = updated
			l.mu.Unlock()
			return nil
		}
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("deleted: %w", err)
		}
		if apierrors.IsConflict(err) {
			// A conflict also follows our own renewal whose answer was lost
			// (the API server restarted, the connection broke): the Lease
			// moved on, but it may still be ours. Only another holder means
			// it is gone.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(l.ctx), l.ttl/3)
			latest, gerr := l.c.cs.CoordinationV1().Leases(l.ns).Get(rctx, l.name, metav1.GetOptions{})
			cancel()
			switch {
			case apierrors.IsNotFound(gerr):
				return fmt.Errorf("deleted: %w", gerr)
			case gerr == nil && (latest.Spec.HolderIdentity == nil || *latest.Spec.HolderIdentity != l.holder):
				holder := ""
				if latest.Spec.HolderIdentity != nil {
					holder = *latest.Spec.HolderIdentity
				}
				return fmt.Errorf("taken over by %q: %w", holder, err)
			case gerr == nil && time.Now().Before(deadline):
				cur = latest
				continue
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("could not renew before it expired: %w", err)
		}
		select {
		case <-l.stopRenew:
			return nil
		case <-time.After(time.Second):
		}
	}
}

// releaseTimeout bounds deleting the Lease: ten seconds, or less when the
// caller's deadline is nearer (a cancelled run has only seconds left before
// the runner kills it), but never so little that the delete cannot be sent.
func releaseTimeout(ctx context.Context) time.Duration {
	d := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, max(time.Until(dl), 500*time.Millisecond))
	}
	return d
}

// Release stops renewal and deletes the Lease if it is still ours (guarded by
// its resourceVersion, so a Lease someone else took over is left alone). It is
// safe to call more than once and from defer; it works even when ctx is
// already cancelled, because releasing is exactly what an aborted run must do.
func (l *Lock) Release(ctx context.Context) error {
	l.once.Do(func() {
		close(l.stopRenew)
		<-l.renewDone
		defer l.cancel(context.Canceled)
		if errors.Is(context.Cause(l.ctx), ErrLeaseLost) {
			return // nothing of ours left to delete
		}
		l.mu.Lock()
		rv, uid := l.lease.ResourceVersion, l.lease.UID
		l.mu.Unlock()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout(ctx))
		defer cancel()
		err := l.c.cs.CoordinationV1().Leases(l.ns).Delete(rctx, l.name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{ResourceVersion: &rv, UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			l.releaseErr = fmt.Errorf("release lease %s/%s: %w", l.ns, l.name, err)
		}
	})
	return l.releaseErr
}
