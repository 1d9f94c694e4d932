package kubeauthtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Workload identity federation names of the Google stand-in.
const (
	GCPProjectNumber = "123456789012"
	GCPPool          = "github"
	GCPProvider      = "pachyderm-ops"
)

// GCPAudience is the provider's audience, as in the external_account file.
var GCPAudience = fmt.Sprintf("//iam.googleapis.com/projects/%s/locations/global/workloadIdentityPools/%s/providers/%s",
	GCPProjectNumber, GCPPool, GCPProvider)

// GoogleSTS stands in for Google's Security Token Service (sts.googleapis.com/v1/token): it
// exchanges a GitHub OIDC token issued for the provider's audience for an access token, which
// the webhook checks as GKE does.
type GoogleSTS struct {
	oidc *GitHubOIDC

	mu       sync.Mutex
	lifetime time.Duration
	issued   map[string]googleToken
}

type googleToken struct {
	principal string
	expiry    time.Time
}

func newGoogleSTS(oidc *GitHubOIDC) *GoogleSTS {
	return &GoogleSTS{oidc: oidc, lifetime: time.Hour, issued: map[string]googleToken{}}
}

// SetLifetime sets the expires_in of the access tokens issued from now on.
func (g *GoogleSTS) SetLifetime(d time.Duration) {
	g.mu.Lock()
	g.lifetime = d
	g.mu.Unlock()
}

// Issued counts the access tokens issued.
func (g *GoogleSTS) Issued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.issued)
}

// Principal is the federated principal of the OIDC subject, as GKE names it.
func (g *GoogleSTS) Principal() string {
	return fmt.Sprintf("principal://iam.googleapis.com/projects/%s/locations/global/workloadIdentityPools/%s/subject/%s",
		GCPProjectNumber, GCPPool, g.oidc.Subject)
}

func (g *GoogleSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/token" {
		googleError(w, http.StatusNotFound, "not_found", r.Method+" "+r.URL.Path)
		return
	}
	if err := r.ParseForm(); err != nil {
		googleError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	f := r.PostForm
	switch {
	case f.Get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange":
		googleError(w, http.StatusBadRequest, "unsupported_grant_type", f.Get("grant_type"))
		return
	case f.Get("subject_token_type") != "urn:ietf:params:oauth:token-type:jwt":
		googleError(w, http.StatusBadRequest, "invalid_request", "subject_token_type "+f.Get("subject_token_type"))
		return
	case f.Get("audience") != GCPAudience:
		googleError(w, http.StatusBadRequest, "invalid_target", "The target service indicated by the \"audience\" parameters is invalid.")
		return
	}
	// google-github-actions/auth requests the OIDC token for https://iam.googleapis.com/ + provider.
	if _, ok := g.oidc.Check(f.Get("subject_token"), "https:"+GCPAudience); !ok {
		googleError(w, http.StatusBadRequest, "invalid_grant", "The audience in ID Token does not match the expected audience.")
		return
	}
	tok := "ya29.stand-in." + randomHex(24)
	g.mu.Lock()
	life := g.lifetime
	g.issued[tok] = googleToken{principal: g.Principal(), expiry: time.Now().Add(life)}
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok, "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
		"token_type": "Bearer", "expires_in": int(life / time.Second),
	})
}

func (g *GoogleSTS) owns(tok string) bool { return strings.HasPrefix(tok, "ya29.stand-in.") }

func (g *GoogleSTS) check(tok string) (string, error) {
	g.mu.Lock()
	t, ok := g.issued[tok]
	g.mu.Unlock()
	switch {
	case !ok:
		return "", fmt.Errorf("unknown access token")
	case time.Now().After(t.expiry):
		return "", fmt.Errorf("access token expired %s ago", time.Since(t.expiry).Round(time.Millisecond))
	}
	return t.principal, nil
}

func googleError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}
