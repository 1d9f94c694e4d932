package kubeauth

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// gkeScopes are the scopes gke-gcloud-auth-plugin asks for.
var gkeScopes = []string{"https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/userinfo.email"}

const gcpFix = "add the step google-github-actions/auth (workload_identity_provider, service_account) before pach-upgrade, " +
	"with `permissions: id-token: write` on the job"

// credentialTypes are the application default credential files we load; any other type (a
// client secret file, say) is refused rather than acted on.
var credentialTypes = map[google.CredentialsType]bool{
	google.ExternalAccount: true, google.ServiceAccount: true, google.AuthorizedUser: true,
	google.ImpersonatedServiceAccount: true, google.ExternalAccountAuthorizedUser: true,
}

type gkeSource struct{ ts oauth2.TokenSource }

func newGKE(ctx context.Context, _ *Plugin, getenv func(string) string, opts Options) (tokenSource, error) {
	path, err := adcFile(getenv, opts)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read application default credentials %s: %w", path, err)
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("application default credentials %s: not a JSON credential file", path)
	}
	if !credentialTypes[google.CredentialsType(head.Type)] {
		return nil, fmt.Errorf("application default credentials %s: type %q is not a credential file pach-upgrade loads (external_account, service_account, authorized_user, impersonated_service_account)", path, head.Type)
	}
	// The job's OIDC endpoint is the runner's (the process environment), not the kubeconfig's.
	processEnv := opts.Getenv
	if processEnv == nil {
		processEnv = getenv
	}
	if err := checkGoogleFile(path, raw, opts, processEnv("ACTIONS_ID_TOKEN_REQUEST_URL")); err != nil {
		return nil, err
	}
	// The token source keeps this context for every refresh: it must outlive the run.
	tctx := context.WithoutCancel(ctx)
	if opts.HTTPClient != nil {
		tctx = context.WithValue(tctx, oauth2.HTTPClient, opts.HTTPClient)
	}
	creds, err := google.CredentialsFromJSONWithTypeAndParams(tctx, raw, google.CredentialsType(head.Type), google.CredentialsParams{Scopes: gkeScopes})
	if err != nil {
		return nil, fmt.Errorf("application default credentials %s: %w", path, err)
	}
	return &gkeSource{ts: creds.TokenSource}, nil
}

func (s *gkeSource) token(context.Context) (string, time.Time, error) {
	tok, err := s.ts.Token()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("get a Google access token: %w", err)
	}
	expiry := tok.Expiry
	if expiry.IsZero() {
		expiry = time.Now().Add(time.Hour)
	}
	return tok.AccessToken, expiry, nil
}

// adcFile finds the application default credentials file: GOOGLE_APPLICATION_CREDENTIALS (as
// google-github-actions/auth exports it), then gcloud's well-known file.
//
// In a container action the runner rewrites a variable that names a file in a mounted folder
// (the workspace, RUNNER_TEMP, the home) to the container's path; a runner-side path that it did
// not rewrite is mapped through those same mounts, and through nothing else.
func adcFile(getenv func(string) string, opts Options) (string, error) {
	for _, name := range []string{"GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE", "GOOGLE_GHA_CREDS_PATH"} {
		if p := strings.TrimSpace(getenv(name)); p != "" {
			return credentialFile(name, p, opts, "let google-github-actions/auth write the credentials file "+
				"(create_credentials_file: true, the default) and run it before pach-upgrade in the same job")
		}
	}
	if cfg := getenv("CLOUDSDK_CONFIG"); cfg != "" {
		if p := filepath.Join(cfg, "application_default_credentials.json"); fileExists(p) {
			return p, nil
		}
	}
	if home := getenv("HOME"); home != "" {
		if p := filepath.Join(home, ".config", "gcloud", "application_default_credentials.json"); fileExists(p) {
			return p, nil
		}
	}
	return "", missingVar("GOOGLE_APPLICATION_CREDENTIALS", gcpFix)
}
