package kubeauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type refuseAll struct{}

func (refuseAll) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no network in this test")
}

// externalAccount writes an external_account file with Google's token endpoint and the given
// credential_source, and returns the variables that point at it.
func externalAccount(t *testing.T, source map[string]any) map[string]string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"type": "external_account", "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q",
		"subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": "https://sts.googleapis.com/v1/token",
		"credential_source": source,
	})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "creds.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": file}
}

// TestGoogleCredentialSourceURLOnlyToMetadataGoogleOrTheJobsOIDC: a credential file (which may
// be the workspace's) whose credential_source.url is another host made the library request it
// from inside the runner's network; it is refused unless allow-credential-hosts names the host.
// The metadata servers, Google and the job's own OIDC endpoint stay legitimate.
func TestGoogleCredentialSourceURLOnlyToMetadataGoogleOrTheJobsOIDC(t *testing.T) {
	evil := newCatcher(t)
	env := externalAccount(t, map[string]any{"url": evil.srv.URL + "/subject", "headers": map[string]string{"Metadata": "true"}})
	err := signInGKE(func(k string) string { return env[k] }, Options{HTTPClient: evil.srv.Client()})
	if got := evil.received(); len(got) > 0 {
		t.Fatalf("the credential_source.url was requested: %q", got)
	}
	if err == nil || !strings.Contains(err.Error(), "credential_source.url") || !strings.Contains(err.Error(), evil.host) ||
		!strings.Contains(err.Error(), "allow-credential-hosts") {
		t.Errorf("error %v, want credential_source.url, the host and allow-credential-hosts named", err)
	}
	if err := signInGKE(func(k string) string { return env[k] }, Options{HTTPClient: evil.srv.Client(), AllowHosts: []string{"127.0.0.1"}}); len(evil.received()) == 0 {
		t.Errorf("allowed host: nothing reached it (err %v)", err)
	}

	aws := externalAccount(t, map[string]any{"environment_id": "aws1", "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
		"url": "http://169.254.169.254/latest/meta-data/iam/security-credentials", "imdsv2_session_token_url": "http://[fd00:ec2::254]/latest/api/token",
		"regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"})
	azure := externalAccount(t, map[string]any{"url": "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://x",
		"headers": map[string]string{"Metadata": "True"}, "format": map[string]any{"type": "json", "subject_token_field_name": "access_token"}})
	github := externalAccount(t, map[string]any{"url": "https://pipelines.actions.example/_apis/idtoken?api-version=2.0&audience=x",
		"format": map[string]any{"type": "json", "subject_token_field_name": "value"}})
	github["ACTIONS_ID_TOKEN_REQUEST_URL"] = "https://pipelines.actions.example/_apis/idtoken?api-version=2.0"
	for name, env := range map[string]map[string]string{"aws1 metadata": aws, "azure metadata": azure, "the job's OIDC endpoint": github} {
		if _, err := newGKE(t.Context(), &Plugin{}, func(k string) string { return env[k] }, Options{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	stolen := externalAccount(t, map[string]any{"environment_id": "aws1", "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
		"url": evil.srv.URL + "/latest/meta-data/iam/security-credentials", "imdsv2_session_token_url": "http://169.254.169.254/latest/api/token"})
	if _, err := newGKE(t.Context(), &Plugin{}, func(k string) string { return stolen[k] }, Options{}); err == nil || !strings.Contains(err.Error(), "credential_source.url") {
		t.Errorf("aws1 credentials URL elsewhere (it would receive the IMDSv2 session token): error %v", err)
	}
}

// TestGoogleExecutableSourceIsNotRun: with GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1 in the
// job (a workflow that uses executable-sourced credentials somewhere), a credential file names
// any program and the library runs it. It is refused and never runs unless allow-exec-plugins
// names it.
func TestGoogleExecutableSourceIsNotRun(t *testing.T) {
	t.Setenv("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1")
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	program := filepath.Join(dir, "token-helper")
	if err := os.WriteFile(program, []byte("#!/bin/sh\ntouch '"+marker+"'\necho '{\"version\":1,\"success\":false,\"code\":\"x\",\"message\":\"y\"}'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := externalAccount(t, map[string]any{"executable": map[string]any{"command": program + " --audience x", "timeout_millis": 5000}})
	getenv := func(k string) string { return env[k] }
	err := signInGKE(getenv, Options{HTTPClient: &http.Client{Transport: refuseAll{}}})
	if ran(marker) {
		t.Fatalf("the executable ran (err %v)", err)
	}
	if err == nil || !strings.Contains(err.Error(), "credential_source.executable.command") || !strings.Contains(err.Error(), program) ||
		!strings.Contains(err.Error(), "allow-exec-plugins") {
		t.Errorf("error %v, want the command, its program and allow-exec-plugins named", err)
	}
	// The base name allows only the program PATH finds by that name.
	_ = signInGKE(getenv, Options{HTTPClient: &http.Client{Transport: refuseAll{}}, AllowExecPlugins: []string{"token-helper"}})
	if ran(marker) {
		t.Fatal("allow-exec-plugins token-helper: a token-helper not on PATH ran")
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	_ = signInGKE(getenv, Options{HTTPClient: &http.Client{Transport: refuseAll{}}, AllowExecPlugins: []string{"token-helper"}})
	if !ran(marker) {
		t.Error("allow-exec-plugins token-helper: the executable did not run")
	}
}
