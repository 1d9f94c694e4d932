package helmrelease

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	ri "helm.sh/helm/v4/pkg/release"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
)

// queryCache keeps the release records a run has already read. Every Helm action starts by
// reading the release's whole history (Storage.Last and Deployed query all its records), and
// each record holds the whole chart, gzipped and base64-encoded: on a real Pachyderm release
// of a dozen revisions one read decodes megabytes, and one run reads the history for the
// release check, the generated-values renders, the conflict dry run and the upgrade itself.
//
// Only reads are cached: any write through it drops them, and so does refresh when the
// cluster's records of the release are no longer the ones read — checked from the records'
// metadata alone: their revision and status labels, which is what Helm's own check for a
// concurrent operation (a pending latest revision) looks at, and their UID and
// resourceVersion, which change with any rewrite that keeps the labels (a reinstall, a
// description changed by another client).
type queryCache struct {
	driver.Driver
	// stamp lists the revision and status of every stored record of a release, from the
	// storage objects' labels, without reading (or decoding) their content.
	stamp func(ctx context.Context, name string) (string, error)

	mu      sync.Mutex
	queries map[string][]ri.Releaser
	// stamps holds, per release whose history is cached, the stamp taken just before the
	// history was read: a record changed after it differs from it.
	stamps map[string]string
}

func newQueryCache(d driver.Driver, stamp func(ctx context.Context, name string) (string, error)) *queryCache {
	return &queryCache{Driver: d, stamp: stamp, queries: map[string][]ri.Releaser{}, stamps: map[string]string{}}
}

// refresh keeps what was read of release name only if its stored records are still the
// ones read: the same revisions with the same statuses.
func (c *queryCache) refresh(ctx context.Context, name string) {
	c.mu.Lock()
	read, ok := c.stamps[name]
	c.mu.Unlock()
	if !ok {
		c.forget() // the history was not read: nothing to check other reads against
		return
	}
	now, err := c.stamp(ctx, name)
	if err != nil || now != read {
		c.forget()
	}
}

// historyLabels is the query behind Helm's Storage.History and Last.
func historyLabels(name string) map[string]string {
	return map[string]string{"name": name, "owner": "helm"}
}

func formatStamp(revs map[int]string) string {
	var b strings.Builder
	for _, v := range slices.Sorted(maps.Keys(revs)) {
		fmt.Fprintf(&b, "%d=%s,", v, revs[v])
	}
	return b.String()
}

// forget drops every cached read.
func (c *queryCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.queries)
	clear(c.stamps)
}

// stampTimeout bounds the metadata list that stamps a history read (Query has no context).
const stampTimeout = 30 * time.Second

// Query returns the records matching labels, read once until the next write or forget.
// Callers get their own copies of what they may change (the status and labels), so that
// one action's bookkeeping never shows in another's read.
func (c *queryCache) Query(labels map[string]string) ([]ri.Releaser, error) {
	key := labelKey(labels)
	c.mu.Lock()
	cached, ok := c.queries[key]
	c.mu.Unlock()
	if !ok {
		// A history read is stamped first: a write between the stamp and the read makes the
		// next refresh drop it, never keep a stale one.
		name, history := labels["name"], labelKey(historyLabels(labels["name"])) == key
		stamp, stamped := "", false
		if history {
			ctx, cancel := context.WithTimeout(context.Background(), stampTimeout)
			var err error
			stamp, err = c.stamp(ctx, name)
			cancel()
			stamped = err == nil
		}
		rs, err := c.Driver.Query(labels)
		if err != nil {
			return rs, err // not found is not cached: it is cheap to ask again
		}
		if history && !stamped {
			return copyRecords(rs), nil // not cached: nothing to check it against later
		}
		c.mu.Lock()
		c.queries[key] = rs
		if history {
			c.stamps[name] = stamp
		}
		c.mu.Unlock()
		cached = rs
	}
	return copyRecords(cached), nil
}

func copyRecords(rs []ri.Releaser) []ri.Releaser {
	out := make([]ri.Releaser, len(rs))
	for i, r := range rs {
		out[i] = copyRecord(r)
	}
	return out
}

func (c *queryCache) Create(key string, rls ri.Releaser) error {
	defer c.forget()
	return c.Driver.Create(key, rls)
}

func (c *queryCache) Update(key string, rls ri.Releaser) error {
	defer c.forget()
	return c.Driver.Update(key, rls)
}

func (c *queryCache) Delete(key string) (ri.Releaser, error) {
	defer c.forget()
	return c.Driver.Delete(key)
}

func labelKey(labels map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(labels[k])
		b.WriteByte(',')
	}
	return b.String()
}

// copyRecord copies the parts of a record that Helm's actions change on the records they
// read (Info's status and times, and Labels); the chart, values and manifest are only read.
func copyRecord(r ri.Releaser) ri.Releaser {
	rel, ok := r.(*release.Release)
	if !ok || rel == nil {
		return r
	}
	cp := *rel
	if rel.Info != nil {
		info := *rel.Info
		cp.Info = &info
	}
	cp.Labels = maps.Clone(rel.Labels)
	return &cp
}
