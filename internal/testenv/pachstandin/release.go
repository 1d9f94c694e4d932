package pachstandin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"strings"
	"sync"
	"time"
)

// releasePrefix mirrors where GitHub serves pachyderm/pachyderm release
// assets, so the installer's default URL template needs only a new host.
const releasePrefix = "/pachyderm/pachyderm/releases/download/"

// ReleaseServer serves pachctl release assets on 127.0.0.1 under the real
// URL layout (/pachyderm/pachyderm/releases/download/v<v>/<asset>), with
// knobs to make downloads fail the ways real ones do.
type ReleaseServer struct {
	srv *httptest.Server

	mu       sync.Mutex
	assets   map[string][]byte // keyed by "v<version>/<asset name>"
	failures map[string][]int  // status codes to answer with before succeeding
	stalls   map[string][]time.Duration
	corrupt  map[string]bool
	requests map[string]int
}

// NewReleaseServer starts an empty release server; Close stops it.
func NewReleaseServer() *ReleaseServer {
	s := &ReleaseServer{
		assets:   map[string][]byte{},
		failures: map[string][]int{},
		stalls:   map[string][]time.Duration{},
		corrupt:  map[string]bool{},
		requests: map[string]int{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close stops the server.
func (s *ReleaseServer) Close() { s.srv.Close() }

// URL is the server's base URL.
func (s *ReleaseServer) URL() string { return s.srv.URL }

// URLTemplate is a pachctl-download-url for this server, in the installer's
// template syntax.
func (s *ReleaseServer) URLTemplate() string {
	return s.srv.URL + releasePrefix + "v{version}/pachctl_{version}_linux_{arch}.tar.gz"
}

// AssetURL is the download URL of an asset.
func (s *ReleaseServer) AssetURL(a Asset) string {
	return s.srv.URL + releasePrefix + key(a)
}

func key(a Asset) string { return "v" + a.Version + "/" + a.Name }

// Add publishes an asset; a release that was never added answers 404.
func (s *ReleaseServer) Add(a Asset) error {
	data, err := os.ReadFile(a.Path)
	if err != nil {
		return fmt.Errorf("publish %s: %w", a.Name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.assets[key(a)] = data
	return nil
}

// FailNext makes the next len(statuses) downloads of a answer with those
// HTTP statuses, in order, before it is served normally.
func (s *ReleaseServer) FailNext(a Asset, statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[key(a)] = append(s.failures[key(a)], statuses...)
}

// StallNext makes the next len(delays) downloads of a wait that long before
// answering, to exercise the client's timeout.
func (s *ReleaseServer) StallNext(a Asset, delays ...time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stalls[key(a)] = append(s.stalls[key(a)], delays...)
}

// Corrupt makes every download of a serve altered bytes, as a tampered
// mirror or a broken proxy would.
func (s *ReleaseServer) Corrupt(a Asset, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corrupt[key(a)] = on
}

// Requests counts the download requests for a, failed ones included.
func (s *ReleaseServer) Requests(a Asset) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[key(a)]
}

// TotalRequests counts every request the server received.
func (s *ReleaseServer) TotalRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.requests {
		n += c
	}
	return n
}

func (s *ReleaseServer) serve(w http.ResponseWriter, r *http.Request) {
	k := strings.TrimPrefix(path.Clean(r.URL.Path), releasePrefix)
	s.mu.Lock()
	s.requests[k]++
	var stall time.Duration
	if q := s.stalls[k]; len(q) > 0 {
		stall, s.stalls[k] = q[0], q[1:]
	}
	status := 0
	if q := s.failures[k]; len(q) > 0 {
		status, s.failures[k] = q[0], q[1:]
	}
	data, ok := s.assets[k]
	if s.corrupt[k] && ok {
		data = append([]byte(nil), data...)
		data[len(data)/2] ^= 0xff
	}
	s.mu.Unlock()

	if stall > 0 {
		select {
		case <-time.After(stall):
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	case status != 0:
		http.Error(w, http.StatusText(status), status)
	case !ok || !strings.HasPrefix(path.Clean(r.URL.Path), releasePrefix):
		http.Error(w, "Not Found", http.StatusNotFound)
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		_, _ = w.Write(data)
	}
}

// Publish builds the stand-in pachctl for each version on linux/goarch,
// packs it into dir as the real release asset and serves it. The demo and
// end-to-end tests use it to stand up a pachctl "release" in one call.
func (s *ReleaseServer) Publish(ctx context.Context, dir, goarch string, versions ...string) ([]Asset, error) {
	assets := make([]Asset, 0, len(versions))
	for _, v := range versions {
		a, err := BuildPachctl(ctx, v, goarch, dir)
		if err != nil {
			return nil, err
		}
		if err := s.Add(a); err != nil {
			return nil, err
		}
		assets = append(assets, a)
	}
	return assets, nil
}

// Digest answers like the GitHub releases API's asset digest for the assets
// this server publishes ("sha256:<hex>"), for wiring a pachctl digest lookup
// in the demo without a GitHub API.
func (s *ReleaseServer) Digest(_ context.Context, version, asset string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, ok := s.assets["v"+version+"/"+asset]
	if !ok {
		return "", fmt.Errorf("release v%s has no asset %s", version, asset)
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}
