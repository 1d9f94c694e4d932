package kubeauth_test

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/kubeauth"
	"github.com/pach-upgrade/pach-upgrade/internal/kubeauth/kubeauthtest"
)

// gkeAuthPlugin is the user entry `gcloud container clusters get-credentials` writes.
const gkeAuthPlugin = `    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: gke-gcloud-auth-plugin
      installHint: Install gke-gcloud-auth-plugin for use with kubectl by following
        https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin
      provideClusterInfo: true
`

const gkeClusterName = "gke_pach-ops_europe-west1_pach-prod"

// gcpEnv writes the external_account file google-github-actions/auth writes for direct
// workload identity federation, and returns the variables a step sees: the file's path (the
// runner rewrites it to the container's path in a container action).
func gcpEnv(t *testing.T, audience string) map[string]string {
	t.Helper()
	ws := t.TempDir()
	reqURL, err := url.Parse(clouds.OIDCRequestURL())
	if err != nil {
		t.Fatal(err)
	}
	q := reqURL.Query()
	q.Set("audience", "https:"+kubeauthtest.GCPAudience)
	reqURL.RawQuery = q.Encode()
	file := map[string]any{
		"type":               "external_account",
		"audience":           audience,
		"subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
		"token_url":          "https://" + kubeauthtest.GoogleSTSHost + "/v1/token",
		"credential_source": map[string]any{
			"url":     reqURL.String(),
			"headers": map[string]string{"Authorization": "Bearer " + clouds.OIDC.RequestToken},
			"format":  map[string]string{"type": "json", "subject_token_field_name": "value"},
		},
	}
	b, err := json.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(ws, "gha-creds-5f2c4b1e9a.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// The runner gives every step of a job with `id-token: write` the OIDC request variables; the
	// file's credential_source.url is on that endpoint's host.
	return map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": path, "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE": path,
		"GOOGLE_GHA_CREDS_PATH": path, "GITHUB_WORKSPACE": ws, "CLOUDSDK_PROJECT": "pach-ops",
		"ACTIONS_ID_TOKEN_REQUEST_URL": clouds.OIDCRequestURL(), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": clouds.OIDC.RequestToken}
}

func TestGKEUpgradeThroughGKEGcloudAuthPlugin(t *testing.T) {
	s := newSite(t)
	clouds.MapUser(clouds.Google.Principal(), s.user)
	before := clouds.Google.Issued()

	rc, signed, toks, err := s.signIn(s.kubeconfig(gkeClusterName, gkeAuthPlugin), gcpEnv(t, kubeauthtest.GCPAudience), kubeauth.Options{})
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	if signed.Cloud != "GKE" || signed.User != s.user {
		t.Errorf("signed in as %+v, want GKE as %s", signed, s.user)
	}
	out := s.upgraded(rc, toks, nil)
	if clouds.Google.Issued() == before {
		t.Error("no token was exchanged at the STS stand-in")
	}
	noTokenIn(t, out, toks)
}

// TestGKETokenExpiresMidRun: access tokens live 4s, the backup command takes 12s and the API
// server caches an accepted token for 10s: only a refreshed token gets the run through.
func TestGKETokenExpiresMidRun(t *testing.T) {
	s := newSite(t)
	clouds.MapUser(clouds.Google.Principal(), s.user)
	clouds.Google.SetLifetime(4 * time.Second)
	t.Cleanup(func() { clouds.Google.SetLifetime(time.Hour) })

	rc, _, toks, err := s.signIn(s.kubeconfig(gkeClusterName, gkeAuthPlugin), gcpEnv(t, kubeauthtest.GCPAudience), kubeauth.Options{})
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	s.upgradedAcrossExpiry(rc, toks)
}

func TestGKEWrongCredentialsChangeNothing(t *testing.T) {
	s := newSite(t)
	clouds.MapUser(clouds.Google.Principal(), s.user)
	wrong := strings.Replace(kubeauthtest.GCPAudience, kubeauthtest.GCPProvider, "other-provider", 1)
	_, _, _, err := s.signIn(s.kubeconfig(gkeClusterName, gkeAuthPlugin), gcpEnv(t, wrong), kubeauth.Options{})
	if err == nil || !strings.Contains(err.Error(), "sign in to GKE") || !strings.Contains(err.Error(), "invalid_target") {
		t.Errorf("wrong provider: error %v, want the token exchange's refusal", err)
	}
	_, _, _, err = s.signIn(s.kubeconfig(gkeClusterName, gkeAuthPlugin), map[string]string{}, kubeauth.Options{})
	if err == nil || !strings.Contains(err.Error(), "GOOGLE_APPLICATION_CREDENTIALS") || !strings.Contains(err.Error(), "id-token: write") {
		t.Errorf("no credentials: error %v, want the variable and the step to add", err)
	}
	s.wantRevision(1, "2.11.5")
}
