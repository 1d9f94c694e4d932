package kubeauth_test

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/kubeauth/kubeauthtest"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/containertest"
)

// TestGKEKubeconfigInsideTheImage runs the image as the runner runs a container action, with
// the kubeconfig `gcloud container clusters get-credentials` writes and the external_account
// file google-github-actions/auth writes, both in the workspace: the binary in the image signs
// in to the cluster with no gcloud and upgrades. Inside the container the stand-ins are
// reached at 127.0.0.1 (the file's URLs), trusted through SSL_CERT_FILE.
func TestGKEKubeconfigInsideTheImage(t *testing.T) {
	img := containertest.Image(t)
	s := newSite(t)
	clouds.MapUser(clouds.Google.Principal(), s.user)
	step := containertest.NewStep(t, img, containertest.StepOptions{
		Repository: "acme/pachyderm-ops", APIURL: s.w.GitHub.APIURL, ServerURL: s.w.GitHub.ServerURL,
	})

	reqURL, err := url.Parse(clouds.LoopbackURL() + "/_apis/distributedtask/hubs/build/plans/1/jobs/1/idtoken?api-version=2.0")
	if err != nil {
		t.Fatal(err)
	}
	q := reqURL.Query()
	q.Set("audience", "https:"+kubeauthtest.GCPAudience)
	reqURL.RawQuery = q.Encode()
	creds, err := json.Marshal(map[string]any{
		"type": "external_account", "audience": kubeauthtest.GCPAudience,
		"subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
		"token_url":          clouds.LoopbackURL() + "/v1/token",
		"credential_source": map[string]any{
			"url":     reqURL.String(),
			"headers": map[string]string{"Authorization": "Bearer " + clouds.OIDC.RequestToken},
			"format":  map[string]string{"type": "json", "subject_token_field_name": "value"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"gha-creds-5f2c4b1e9a.json": creds,
		"kubeconfig":                []byte(s.kubeconfig(gkeClusterName, gkeAuthPlugin)),
		"test-ca.pem":               clouds.CAPEM,
	}
	for name, data := range files {
		p := filepath.Join(step.Workspace, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, containertest.RunnerUID, containertest.RunnerUID); err != nil {
			t.Fatal(err)
		}
	}
	step = step.WithEnv(map[string]string{
		"KUBECONFIG":                     filepath.Join(step.Workspace, "kubeconfig"),
		"GOOGLE_APPLICATION_CREDENTIALS": filepath.Join(step.Workspace, "gha-creds-5f2c4b1e9a.json"),
		"SSL_CERT_FILE":                  filepath.Join(step.Workspace, "test-ca.pem"),
	})
	inputs := s.w.Inputs()
	inputs[config.InputRelease] = releaseName
	inputs[config.InputTargetVersion] = "2.11.6"
	// The stand-ins' token_url is loopback here, not Google's: the user allows that host.
	inputs[config.InputAllowCredentialHosts] = "127.0.0.1"
	res, err := step.Run(t.Context(), inputs)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || res.Outputs["result"] != "upgraded" {
		t.Fatalf("exit code %d, outputs %v; log:\n%s", res.ExitCode, res.Outputs, res.Log)
	}
	if !strings.Contains(res.Log, "Signed in to GKE (in place of exec plugin gke-gcloud-auth-plugin) as "+s.user) {
		t.Errorf("log does not say how it signed in:\n%s", res.Log)
	}
	// The runner consumes ::add-mask:: lines; every other line must hide the token.
	for _, line := range strings.Split(res.Log, "\n") {
		if strings.Contains(line, "ya29.") && !strings.HasPrefix(line, "::add-mask::") {
			t.Errorf("the log shows an access token: %s", line)
		}
	}
	s.wantRevision(2, "2.11.6")
}
