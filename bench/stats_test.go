package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// samples keeps the figures of each variant of an interleaved benchmark.
type samples map[string][]float64

func (s samples) add(name string, v float64) { s[name] = append(s[name], v) }

func (s samples) median(name string) float64 {
	v := slices.Clone(s[name])
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// log writes every sample and the median, so RESULTS.md can quote the spread, not only the
// median that ReportMetric shows.
func (s samples) log(b *testing.B, name, unit string) {
	b.Helper()
	parts := make([]string, 0, len(s[name]))
	for _, v := range s[name] {
		parts = append(parts, strconv.FormatFloat(v, 'f', 3, 64))
	}
	b.Logf("%-28s median %9.3f %s  runs [%s]", name, s.median(name), unit, strings.Join(parts, " "))
}

// countingTransport counts the requests that every client built from one rest.Config sends,
// by verb and resource.
type countingTransport struct {
	total atomic.Int64
	mu    sync.Mutex
	by    map[string]int
}

type countingRoundTripper struct {
	c    *countingTransport
	next http.RoundTripper
}

func (t countingRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	t.c.count(r)
	return t.next.RoundTrip(r)
}

func (c *countingTransport) count(r *http.Request) {
	c.total.Add(1)
	key := r.Method + " " + resourceOf(r.URL.Path)
	if r.URL.Query().Get("watch") == "true" {
		key = "WATCH " + resourceOf(r.URL.Path)
	}
	c.mu.Lock()
	c.by[key]++
	c.mu.Unlock()
}

func (c *countingTransport) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	by := c.by
	c.by = map[string]int{}
	c.total.Store(0)
	return by
}

// resourceOf names the resource of an API path: /api/v1/namespaces/x/pods/y → pods.
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i := 0; i < len(parts)-1; i++ {
		if parts[i] == "namespaces" && i+2 < len(parts) {
			return parts[i+2]
		}
	}
	if len(parts) > 0 {
		if len(parts) >= 3 && parts[0] == "api" {
			return parts[2]
		}
		if len(parts) >= 4 && parts[0] == "apis" {
			return parts[3]
		}
		return parts[len(parts)-1]
	}
	return path
}

// counted returns a copy of rc whose requests c counts.
func counted(rc *rest.Config) (*rest.Config, *countingTransport) {
	c := &countingTransport{by: map[string]int{}}
	cfg := rest.CopyConfig(rc)
	prev := cfg.WrapTransport
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if prev != nil {
			rt = prev(rt)
		}
		return countingRoundTripper{c: c, next: rt}
	}
	return cfg, c
}

// apiserverRequests sums apiserver_request_total from the API server's metrics: every request
// it served, from every client (the controllers and kwok included).
func apiserverRequests(ctx context.Context, cs kubernetes.Interface) (float64, error) {
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, fmt.Errorf("scrape /metrics: %w", err)
	}
	var total float64
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("parse %q: %w", line, err)
		}
		total += v
	}
	return total, sc.Err()
}

func seconds(d time.Duration) float64 { return d.Seconds() }

func int32Ptr(v int32) *int32 { return &v }
