package testenv

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// TestSlowAPIHoldsAndRecordsWrites: a write waits for the delay before it reaches the API
// server, and is recorded with its body, query and answer; reads pass unrecorded.
func TestSlowAPIHoldsAndRecordsWrites(t *testing.T) {
	var (
		mu      sync.Mutex
		reached []time.Time
	)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			mu.Lock()
			reached = append(reached, time.Now())
			mu.Unlock()
			w.WriteHeader(http.StatusCreated)
		}
		_, _ = io.WriteString(w, "{}")
	}))
	defer upstream.Close()
	api := NewSlowAPI(t, &rest.Config{Host: upstream.URL})
	const hold = 300 * time.Millisecond
	api.Delay(func(ctx context.Context, w Write) {
		if strings.Contains(string(w.Body), "slow") {
			time.Sleep(hold)
		}
	})
	send := func(method, path, body string) {
		req, err := http.NewRequest(method, api.Config().Host+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	send(http.MethodGet, "/api/v1/namespaces", "")
	send(http.MethodPatch, "/apis/apps/v1/namespaces/ns/deployments/pachd", `{"slow":true}`)
	send(http.MethodPost, "/api/v1/namespaces/ns/secrets?dryRun=All", `{}`)

	ws := api.Writes()
	mu.Lock()
	defer mu.Unlock()
	if len(ws) != 2 || len(reached) != 2 {
		t.Fatalf("%d writes recorded, %d reached the server, want 2 and 2: %+v", len(ws), len(reached), ws)
	}
	slow, dry := ws[0], ws[1]
	if slow.Method != http.MethodPatch || slow.Path != "/apis/apps/v1/namespaces/ns/deployments/pachd" || slow.Status != http.StatusCreated || slow.DryRun() {
		t.Errorf("first write %+v", slow)
	}
	if held := reached[0].Sub(slow.Arrived); held < hold {
		t.Errorf("the held write reached the server %s after it arrived, want at least %s", held, hold)
	}
	if slow.Answered.Before(reached[0]) {
		t.Errorf("answered at %s, before the server had it at %s", slow.Answered, reached[0])
	}
	if !dry.DryRun() || dry.Answered.Sub(dry.Arrived) >= hold {
		t.Errorf("dry run %+v: want it flagged and not held", dry)
	}
}
