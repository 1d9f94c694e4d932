package helmrelease

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

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
// labels alone (revision and status), which is what Helm's own check for a concurrent
// operation (a pending latest revision) looks at.
type queryCache struct {
	driver.Driver
	// stamp lists the revision and status of every stored record of a release, from the
	// storage objects' labels, without reading (or decoding) their content.
	stamp func(ctx context.Context, name string) (string, error)

	mu      sync.Mutex
	queries map[string][]ri.Releaser
}

func newQueryCache(d driver.Driver, stamp func(ctx context.Context, name string) (string, error)) *queryCache {
	return &queryCache{Driver: d, stamp: stamp, queries: map[string][]ri.Releaser{}}
}

// refresh keeps what was read of release name only if its stored records are still the
// ones read: the same revisions with the same statuses.
func (c *queryCache) refresh(ctx context.Context, name string) {
	c.mu.Lock()
	cached, ok := c.queries[labelKey(historyLabels(name))]
	c.mu.Unlock()
	if !ok {
		c.forget() // the history was not read: nothing to check other reads against
		return
	}
	now, err := c.stamp(ctx, name)
	if err != nil || now != recordStamp(cached) {
		c.forget()
	}
}

// historyLabels is the query behind Helm's Storage.History and Last.
func historyLabels(name string) map[string]string {
	return map[string]string{"name": name, "owner": "helm"}
}

// recordStamp is what stamp would list for these records: "revision=status" of each,
// sorted by revision.
func recordStamp(rs []ri.Releaser) string {
	revs := map[int]string{}
	for _, r := range rs {
		if rel, ok := r.(*release.Release); ok && rel != nil && rel.Info != nil {
			revs[rel.Version] = rel.Info.Status.String()
		}
	}
	return formatStamp(revs)
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
}

// Query returns the records matching labels, read once until the next write or forget.
// Callers get their own copies of what they may change (the status and labels), so that
// one action's bookkeeping never shows in another's read.
func (c *queryCache) Query(labels map[string]string) ([]ri.Releaser, error) {
	key := labelKey(labels)
	c.mu.Lock()
	cached, ok := c.queries[key]
	c.mu.Unlock()
	if !ok {
		rs, err := c.Driver.Query(labels)
		if err != nil {
			return rs, err // not found is not cached: it is cheap to ask again
		}
		c.mu.Lock()
		c.queries[key] = rs
		c.mu.Unlock()
		cached = rs
	}
	out := make([]ri.Releaser, len(cached))
	for i, r := range cached {
		out[i] = copyRecord(r)
	}
	return out, nil
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
