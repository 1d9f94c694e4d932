package helmrelease

import (
	"context"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
)

// TestCacheSeesRewritesThatKeepTheLabels is issue 20 item 8: a record rewritten by another
// client with the same revision and status labels (a description changed, an uninstall and
// reinstall) must not be served from what this client read before.
func TestCacheSeesRewritesThatKeepTheLabels(t *testing.T) {
	t.Parallel()
	ns := testenv.Namespace(t)
	ctx := context.Background()
	old, next := oldAndNew(t)
	c, other := newClient(t, ns), newClient(t, ns)
	install(t, c, old, localValues())
	if rel, err := c.Get(ctx, testRelease); err != nil || rel.Verified() {
		t.Fatalf("get: %+v, %v; want an unverified revision 1", rel, err)
	}
	// Another client marks revision 1 verified: only its description changes.
	if err := other.MarkVerified(ctx, testRelease, 1, "(test)"); err != nil {
		t.Fatal(err)
	}
	rel, err := c.Get(ctx, testRelease)
	if err != nil {
		t.Fatal(err)
	}
	if !rel.Verified() || rel.Status != "deployed" {
		t.Errorf("after another client's mark: revision %d %s %q, want deployed and verified", rel.Revision, rel.Status, rel.Description)
	}
	// Uninstalled and installed again at another chart: revision 1 deployed again.
	if _, err := other.cfg.Releases.Delete(testRelease, 1); err != nil {
		t.Fatal(err)
	}
	install(t, other, next, localValues())
	rel, err = c.Get(ctx, testRelease)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Revision != 1 || rel.ChartVersion != "1.0.1" || rel.Verified() {
		t.Errorf("after a reinstall: revision %d chart %s %q, want revision 1 of chart 1.0.1, unverified", rel.Revision, rel.ChartVersion, rel.Description)
	}
}

// TestRecoverPendingRollbackToItsTarget is issue 20 item 3 at the package's level: a
// rollback interrupted while pending goes on to its own target, not to the newest deployed
// revision, the version it was leaving.
func TestRecoverPendingRollbackToItsTarget(t *testing.T) {
	t.Parallel()
	ns := testenv.Namespace(t)
	ctx := context.Background()
	old, next := oldAndNew(t)
	c := newClient(t, ns)
	install(t, c, old, localValues())
	if _, err := c.Upgrade(ctx, testRelease, next, localValues(), UpgradeOptions{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rollback(ctx, testRelease, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	// Revision 3 is the rollback; it is left pending, as a kill during it would.
	if err := c.setStatus(testRelease, 3, "pending-rollback", "Rollback to 1 by pach-upgrade"); err != nil {
		t.Fatal(err)
	}
	to, err := c.RecoverPending(ctx, testRelease, time.Minute)
	if err != nil || to != 1 {
		t.Fatalf("recover: to %d, %v; want revision 1, the interrupted rollback's target", to, err)
	}
	rel, err := c.Get(ctx, testRelease)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Revision != 4 || rel.AppVersion != "2.11.5" || rel.Status != "deployed" {
		t.Errorf("after the recovery: revision %d %s app %s, want revision 4 deployed at 2.11.5", rel.Revision, rel.Status, rel.AppVersion)
	}
	if pachdImage(t, ns) != "pachyderm/pachd:2.11.5" {
		t.Errorf("pachd image %s, want 2.11.5", pachdImage(t, ns))
	}
}

// TestMarkRollbackVerifiedOnlyMarksThatRollback: the mark goes on the latest revision when it
// is the rollback to the given revision (found from the records' labels, read alone), and on
// nothing when another client wrote a revision after it.
func TestMarkRollbackVerifiedOnlyMarksThatRollback(t *testing.T) {
	t.Parallel()
	ns := testenv.Namespace(t)
	ctx := context.Background()
	old, next := oldAndNew(t)
	c, other := newClient(t, ns), newClient(t, ns)
	install(t, c, old, localValues())
	for range 2 { // revisions 2 and 3: the rollback to 1 is revision 4
		if _, err := c.Upgrade(ctx, testRelease, next, localValues(), UpgradeOptions{Timeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Rollback(ctx, testRelease, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MarkRollbackVerified(ctx, testRelease, 2, "(test)"); err == nil {
		t.Error("marked revision 4 as the rollback to revision 2; it rolls back to 1")
	}
	got, err := c.MarkRollbackVerified(ctx, testRelease, 1, "(test)")
	if err != nil || got != 4 {
		t.Fatalf("mark: revision %d, %v; want revision 4", got, err)
	}
	if rel, err := other.Get(ctx, testRelease); err != nil || rel.Revision != 4 || !rel.Verified() || rel.Status != "deployed" {
		t.Fatalf("latest: %+v, %v; want revision 4 deployed and verified", rel, err)
	}
	// Another client upgrades after the rollback: nothing is marked.
	if _, err := other.Upgrade(ctx, testRelease, next, localValues(), UpgradeOptions{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MarkRollbackVerified(ctx, testRelease, 1, "(test)"); err == nil {
		t.Error("marked another client's revision 5 as the rollback to revision 1")
	}
	if rel, err := c.Latest(ctx, testRelease); err != nil || rel.Revision != 5 || rel.Status != "deployed" || rel.ChartVersion != "1.0.1" {
		t.Errorf("Latest after another client's upgrade: %+v, %v; want revision 5 deployed at chart 1.0.1", rel, err)
	}
	if rel, err := c.Get(ctx, testRelease); err != nil || rel.Revision != 5 || rel.Verified() {
		t.Errorf("latest: %+v, %v; want revision 5 unverified", rel, err)
	}
}
