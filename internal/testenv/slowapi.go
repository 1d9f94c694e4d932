package testenv

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// SlowAPI is a reverse proxy on 127.0.0.1 in front of the API server. It records every write
// that passes through it (POST, PUT, PATCH, DELETE), and a test may hold writes open for as
// long as it likes (Delay): an apply made slow this way is the long apply of a large release
// or a slow API server, and a test can make a timeout or another client land inside it.
// Reads, watches and streams (port-forward, exec) pass straight through.
type SlowAPI struct {
	srv      *httptest.Server
	upstream *rest.Config

	mu     sync.Mutex
	writes []*Write
	delay  func(context.Context, Write)
}

// Write is one write request seen by a SlowAPI.
type Write struct {
	Method string
	Path   string // the request's URL path, e.g. /apis/apps/v1/namespaces/ns/deployments/pachd
	Query  url.Values
	Body   []byte
	// Arrived is when the request reached the proxy, Answered when the API server's answer
	// went back to the client (zero while it is in flight); Status is the answer's code.
	Arrived, Answered time.Time
	Status            int
}

// DryRun reports whether the write is a dry run, which changes nothing.
func (w Write) DryRun() bool { return w.Query.Has("dryRun") }

// NewSlowAPI starts a SlowAPI in front of the API server that upstream reaches, with
// upstream's credentials; it stops when the test ends.
func NewSlowAPI(t testing.TB, upstream *rest.Config) *SlowAPI {
	t.Helper()
	target, err := url.Parse(upstream.Host)
	if err != nil {
		t.Fatalf("API server address %q: %v", upstream.Host, err)
	}
	// HTTP/1.1 to the API server: an HTTP/2 connection cannot carry the upgraded streams
	// of an exec or a port-forward.
	h1 := rest.CopyConfig(upstream)
	h1.NextProtos = []string{"http/1.1"}
	transport, err := rest.TransportFor(h1)
	if err != nil {
		t.Fatalf("transport to the API server: %v", err)
	}
	p := &SlowAPI{upstream: upstream}
	proxy := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.Host = target.Host },
		Transport:     transport,
		FlushInterval: -1, // watches stream
		// The client sees why (an error log would only reach the test's stderr).
		ErrorHandler: func(rw http.ResponseWriter, _ *http.Request, err error) {
			http.Error(rw, "test API proxy: "+err.Error(), http.StatusBadGateway)
		},
		// A watch or stream the client ends is not news.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			proxy.ServeHTTP(rw, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadGateway)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		w := &Write{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: body, Arrived: time.Now()}
		p.mu.Lock()
		p.writes = append(p.writes, w)
		delay := p.delay
		p.mu.Unlock()
		if delay != nil {
			delay(r.Context(), *w)
		}
		// The answer is recorded as it starts back, before the client can have it: a test
		// that reads Writes once its request returned sees it.
		sw := &statusWriter{ResponseWriter: rw, answer: func(status int) {
			p.mu.Lock()
			w.Answered, w.Status = time.Now(), status
			p.mu.Unlock()
		}}
		proxy.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.answer(0) // no answer written: the proxy gave up
		}
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// Config is a client config that reaches the API server through the proxy, as upstream's
// user.
func (p *SlowAPI) Config() *rest.Config {
	return &rest.Config{Host: p.srv.URL, QPS: p.upstream.QPS, Burst: p.upstream.Burst, Timeout: p.upstream.Timeout}
}

// Delay sets what happens to each write before it goes on to the API server: f is called
// with the request's context and the write, and the write waits until f returns. nil lets
// writes through at once.
func (p *SlowAPI) Delay(f func(ctx context.Context, w Write)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = f
}

// Writes returns the writes seen so far, in the order they arrived.
func (p *SlowAPI) Writes() []Write {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Write, len(p.writes))
	for i, w := range p.writes {
		out[i] = *w
	}
	return out
}

// statusWriter calls answer with the answer's status before the first of it is written;
// Unwrap lets the proxy flush and hijack (for upgraded connections) through it.
type statusWriter struct {
	http.ResponseWriter
	status int
	answer func(status int)
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		w.answer(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
