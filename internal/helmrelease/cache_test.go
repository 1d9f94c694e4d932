package helmrelease

import (
	"context"
	"testing"

	releasei "helm.sh/helm/v4/pkg/release"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
)

// countingDriver counts the reads that reach storage: on a cluster, each one lists and
// decodes every record of the release.
type countingDriver struct {
	driver.Driver
	queries int
}

func (d *countingDriver) Query(labels map[string]string) ([]releasei.Releaser, error) {
	d.queries++
	return d.Driver.Query(labels)
}

func TestQueryCacheReadsHistoryOnceBetweenWrites(t *testing.T) {
	under := &countingDriver{Driver: driver.NewMemory()}
	// The stamp a cluster would list from the records' labels, read here from the storage
	// itself without counting.
	stamp := func(_ context.Context, name string) (string, error) {
		rs, err := under.Driver.Query(historyLabels(name))
		return recordStamp(rs), err
	}
	records := newQueryCache(under, stamp)
	s := storage.Init(records)
	rel := func(v int, st rcommon.Status) *release.Release {
		return &release.Release{Name: "pachd", Namespace: "ns", Version: v, Info: &release.Info{Status: st}}
	}
	if err := s.Create(rel(1, rcommon.StatusDeployed)); err != nil {
		t.Fatal(err)
	}
	under.queries = 0

	// What one run does before it changes anything: the release check, the renders and the
	// conflict dry run each read the last and the deployed revision.
	for range 4 {
		last, err := s.Last("pachd")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Deployed("pachd"); err != nil {
			t.Fatal(err)
		}
		// A reader changing its copy (Helm marks the revision it replaces superseded) must not
		// change what the next reader gets.
		last.(*release.Release).Info.Status = rcommon.StatusSuperseded
	}
	if under.queries != 2 {
		t.Errorf("storage queried %d times for 4 reads of history and deployed, want 2 (once each)", under.queries)
	}
	if last, _ := s.Last("pachd"); last.(*release.Release).Info.Status != rcommon.StatusDeployed {
		t.Errorf("a reader's change leaked into the cache: status %s", last.(*release.Release).Info.Status)
	}

	// A write makes the next read go to storage, and see the write.
	if err := s.Create(rel(2, rcommon.StatusPendingUpgrade)); err != nil {
		t.Fatal(err)
	}
	under.queries = 0
	last, err := s.Last("pachd")
	if err != nil {
		t.Fatal(err)
	}
	if under.queries != 1 || last.(*release.Release).Version != 2 {
		t.Errorf("after a write: %d queries, last revision %d; want 1 query and revision 2", under.queries, last.(*release.Release).Version)
	}

	// refresh keeps the reads while the stored records are those read...
	records.refresh(context.Background(), "pachd")
	if _, err := s.Last("pachd"); err != nil {
		t.Fatal(err)
	}
	if under.queries != 1 {
		t.Errorf("refresh with unchanged records: %d queries in all, want 1", under.queries)
	}
	// ...and drops them when another client (the Helm CLI) changed one: here the latest
	// revision, marked failed behind this client's back.
	other := *last.(*release.Release)
	info := *other.Info
	info.Status = rcommon.StatusFailed
	other.Info = &info
	if err := under.Driver.Update("sh.helm.release.v1.pachd.v2", &other); err != nil {
		t.Fatal(err)
	}
	records.refresh(context.Background(), "pachd")
	got, err := s.Last("pachd")
	if err != nil {
		t.Fatal(err)
	}
	if under.queries != 2 || got.(*release.Release).Info.Status != rcommon.StatusFailed {
		t.Errorf("refresh after another client's write: %d queries, status %s; want 2 queries and failed",
			under.queries, got.(*release.Release).Info.Status)
	}
}

// recordStamp is a stamp of records from their content, for a storage without metadata:
// "revision=status" of each, sorted by revision.
func recordStamp(rs []releasei.Releaser) string {
	revs := map[int]string{}
	for _, r := range rs {
		if rel, ok := r.(*release.Release); ok && rel != nil && rel.Info != nil {
			revs[rel.Version] = rel.Info.Status.String()
		}
	}
	return formatStamp(revs)
}
