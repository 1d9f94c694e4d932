package helmrelease

import (
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
// Only reads are cached, and only between two points where the records must be fresh: any
// write through it, and forget, which the operations that change a release call first, so
// that Helm's own check for a concurrent operation (a pending latest revision) always reads
// the cluster.
type queryCache struct {
	driver.Driver

	mu      sync.Mutex
	queries map[string][]ri.Releaser
}

func newQueryCache(d driver.Driver) *queryCache {
	return &queryCache{Driver: d, queries: map[string][]ri.Releaser{}}
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
