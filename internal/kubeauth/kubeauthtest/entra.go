package kubeauthtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// AKSServerID is the application id of the AKS AAD server that kubelogin's --server-id names.
const AKSServerID = "6dae42f8-4368-4678-94ff-3960e28e3630"

// Entra stands in for Microsoft Entra ID's v2.0 endpoints that azidentity (MSAL) uses: instance
// discovery, the tenant's OpenID configuration and the token endpoint. It issues tokens to an
// app registration for a client assertion that is a GitHub OIDC token its federated
// credential trusts.
type Entra struct {
	oidc *GitHubOIDC

	mu       sync.Mutex
	apps     map[string]EntraApp // tenant/client id → app
	lifetime time.Duration
	issued   map[string]entraToken
}

// EntraApp is an app registration with a federated credential for GitHub.
type EntraApp struct {
	TenantID, ClientID, ObjectID string
}

type entraToken struct {
	objectID, audience string
	expiry             time.Time
}

func newEntra(oidc *GitHubOIDC) *Entra {
	return &Entra{oidc: oidc, apps: map[string]EntraApp{}, lifetime: time.Hour, issued: map[string]entraToken{}}
}

// NewApp registers an app in a fresh tenant; its object id is the identity AKS reports.
func (e *Entra) NewApp() EntraApp {
	h := randomHex(48)
	guid := func(s string) string { return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32] }
	a := EntraApp{TenantID: guid(h[:32]), ClientID: guid(h[32:] + h[:16]), ObjectID: guid(h[16:48])}
	e.mu.Lock()
	e.apps[a.TenantID+"/"+a.ClientID] = a
	e.mu.Unlock()
	return a
}

// SetLifetime sets the expires_in of the tokens issued from now on.
func (e *Entra) SetLifetime(d time.Duration) {
	e.mu.Lock()
	e.lifetime = d
	e.mu.Unlock()
}

// Issued counts the tokens issued.
func (e *Entra) Issued() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.issued)
}

func (e *Entra) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	base := "https://" + EntraHost
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/common/discovery/instance":
		tenant := "common"
		if ae := r.URL.Query().Get("authorization_endpoint"); ae != "" {
			if p := strings.Split(strings.TrimPrefix(ae, base+"/"), "/"); len(p) > 0 {
				tenant = p[0]
			}
		}
		writeJSON(w, map[string]any{
			"tenant_discovery_endpoint": base + "/" + tenant + "/v2.0/.well-known/openid-configuration",
			"api-version":               "1.1",
			"metadata": []map[string]any{{"preferred_network": EntraHost, "preferred_cache": "login.windows.net",
				"aliases": []string{EntraHost, "login.windows.net", "login.microsoft.com", "sts.windows.net"}}},
		})
	case r.Method == http.MethodGet && len(parts) == 4 && parts[1] == "v2.0" && parts[3] == "openid-configuration":
		t := parts[0]
		writeJSON(w, map[string]any{
			"token_endpoint":                        base + "/" + t + "/oauth2/v2.0/token",
			"authorization_endpoint":                base + "/" + t + "/oauth2/v2.0/authorize",
			"device_authorization_endpoint":         base + "/" + t + "/oauth2/v2.0/devicecode",
			"issuer":                                base + "/" + t + "/v2.0",
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
			"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
			"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		})
	case r.Method == http.MethodPost && len(parts) == 4 && parts[1] == "oauth2" && parts[3] == "token":
		e.token(w, r, parts[0])
	default:
		entraError(w, http.StatusNotFound, "invalid_request", 90002, r.Method+" "+r.URL.Path)
	}
}

func (e *Entra) token(w http.ResponseWriter, r *http.Request, tenant string) {
	if err := r.ParseForm(); err != nil {
		entraError(w, http.StatusBadRequest, "invalid_request", 900144, err.Error())
		return
	}
	f := r.PostForm
	e.mu.Lock()
	app, ok := e.apps[tenant+"/"+f.Get("client_id")]
	life := e.lifetime
	e.mu.Unlock()
	switch {
	case f.Get("grant_type") != "client_credentials":
		entraError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "grant_type "+f.Get("grant_type"))
		return
	case !ok:
		entraError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf(
			"AADSTS700016: Application with identifier '%s' was not found in the directory '%s'.", f.Get("client_id"), tenant))
		return
	case f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
		entraError(w, http.StatusUnauthorized, "invalid_client", 7000218, "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	if _, ok := e.oidc.Check(f.Get("client_assertion"), "api://AzureADTokenExchange"); !ok {
		entraError(w, http.StatusUnauthorized, "invalid_client", 700211, "AADSTS700211: No matching federated identity record found for presented assertion.")
		return
	}
	// MSAL adds the OpenID scopes to the resource's /.default.
	var aud string
	for _, sc := range strings.Fields(f.Get("scope")) {
		if a, ok := strings.CutSuffix(sc, "/.default"); ok {
			aud = a
		}
	}
	if aud == "" {
		entraError(w, http.StatusBadRequest, "invalid_scope", 70011, "AADSTS70011: The provided value for the input parameter 'scope' is not valid.")
		return
	}
	tok := "eyJ0eXAiOiJKV1Qi.entra-stand-in." + randomHex(24)
	e.mu.Lock()
	e.issued[tok] = entraToken{objectID: app.ObjectID, audience: aud, expiry: time.Now().Add(life)}
	e.mu.Unlock()
	secs := int(life / time.Second)
	writeJSON(w, map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok})
}

func (e *Entra) owns(tok string) bool { return strings.Contains(tok, ".entra-stand-in.") }

// check validates a token for the AKS server application, as AKS's Entra ID integration does.
func (e *Entra) check(tok, audience string) (string, error) {
	e.mu.Lock()
	t, ok := e.issued[tok]
	e.mu.Unlock()
	switch {
	case !ok:
		return "", fmt.Errorf("unknown token")
	case t.audience != audience:
		return "", fmt.Errorf("token is for %s, not the AKS server %s", t.audience, audience)
	case time.Now().After(t.expiry):
		return "", fmt.Errorf("token expired %s ago", time.Since(t.expiry).Round(time.Millisecond))
	}
	return t.objectID, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func entraError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": code, "error_description": desc, "error_codes": []int{aadsts},
		"timestamp": time.Now().UTC().Format("2006-01-02 15:04:05Z"), "trace_id": requestID(), "correlation_id": requestID()})
}
