package kubeauthtest

import (
	"encoding/json"
	"net/http"
	"sync"
)

// GitHubOIDC stands in for the Actions runtime's OIDC token endpoint
// (ACTIONS_ID_TOKEN_REQUEST_URL): it issues a token for the requested audience to a caller
// with the request token, and lets the other stand-ins check the tokens it issued.
type GitHubOIDC struct {
	// RequestToken is ACTIONS_ID_TOKEN_REQUEST_TOKEN.
	RequestToken string
	// Subject is the token's sub claim, as GitHub writes it.
	Subject string

	mu     sync.Mutex
	issued map[string]string // token → audience
}

func newGitHubOIDC() *GitHubOIDC {
	return &GitHubOIDC{RequestToken: "gha-request-" + randomHex(12), Subject: "repo:acme/pachyderm-ops:ref:refs/heads/main",
		issued: map[string]string{}}
}

func (o *GitHubOIDC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.Header.Get("Authorization") != "Bearer "+o.RequestToken {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	aud := r.URL.Query().Get("audience")
	if aud == "" {
		aud = "https://github.com/acme"
	}
	tok := o.Issue(aud)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"count": len(tok), "value": tok})
}

// Issue makes a token for audience, as if the job had requested it.
func (o *GitHubOIDC) Issue(audience string) string {
	tok := "eyJ.gha-oidc." + randomHex(16)
	o.mu.Lock()
	o.issued[tok] = audience
	o.mu.Unlock()
	return tok
}

// Check reports the subject of tok when it was issued for audience.
func (o *GitHubOIDC) Check(tok, audience string) (string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	aud, ok := o.issued[tok]
	if !ok || aud != audience {
		return "", false
	}
	return o.Subject, true
}
