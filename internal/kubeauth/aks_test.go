package kubeauth_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/kubeauth"
	"github.com/pach-upgrade/pach-upgrade/internal/kubeauth/kubeauthtest"
)

// kubeloginWorkloadIdentity is the user entry of `az aks get-credentials` converted with
// `kubelogin convert-kubeconfig -l workloadidentity`.
const kubeloginWorkloadIdentity = `    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - get-token
      - --login
      - workloadidentity
      - --server-id
      - ` + kubeauthtest.AKSServerID + `
      command: kubelogin
      env: null
      installHint: |2

        kubelogin is not installed which is required to connect to AAD enabled cluster.

        To learn more, please go to https://aka.ms/aks/kubelogin
      interactiveMode: IfAvailable
      provideClusterInfo: false
`

const aksClusterName = "pach-prod"

// azureEnv is the job's environment for azure/login-style federation: the app's ids, and the
// OIDC request variables that `permissions: id-token: write` gives the job.
func azureEnv(app kubeauthtest.EntraApp) map[string]string {
	return map[string]string{"AZURE_CLIENT_ID": app.ClientID, "AZURE_TENANT_ID": app.TenantID,
		"ACTIONS_ID_TOKEN_REQUEST_URL": clouds.OIDCRequestURL(), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": clouds.OIDC.RequestToken}
}

func TestAKSUpgradeThroughKubeloginWithGitHubOIDC(t *testing.T) {
	s := newSite(t)
	app := clouds.Entra.NewApp()
	clouds.MapUser(app.ObjectID, s.user)
	before := clouds.Entra.Issued()

	rc, signed, toks, err := s.signIn(s.kubeconfig(aksClusterName, kubeloginWorkloadIdentity), azureEnv(app), kubeauth.Options{})
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	if signed.Cloud != "AKS" || signed.Plugin != "kubelogin" || signed.User != s.user {
		t.Errorf("signed in as %+v, want AKS through kubelogin as %s", signed, s.user)
	}
	out := s.upgraded(rc, toks, nil)
	if clouds.Entra.Issued() == before {
		t.Error("the Entra ID stand-in issued no token")
	}
	noTokenIn(t, out, toks)
}

// TestAKSTokenExpiresMidRun signs in as a service principal federated through a token file
// (kubelogin spn mode's env, AZURE_FEDERATED_TOKEN_FILE for workload identity), with tokens
// that live 4s over a run that waits 12s in its backup command.
func TestAKSTokenExpiresMidRun(t *testing.T) {
	s := newSite(t)
	app := clouds.Entra.NewApp()
	clouds.MapUser(app.ObjectID, s.user)
	clouds.Entra.SetLifetime(4 * time.Second)
	t.Cleanup(func() { clouds.Entra.SetLifetime(time.Hour) })
	file := filepath.Join(t.TempDir(), "azure-identity-token")
	if err := os.WriteFile(file, []byte(clouds.OIDC.Issue("api://AzureADTokenExchange")), 0o600); err != nil {
		t.Fatal(err)
	}
	user := `    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - get-token
      - --environment
      - AzurePublicCloud
      - --server-id
      - ` + kubeauthtest.AKSServerID + `
      - --client-id
      - ` + app.ClientID + `
      - --tenant-id
      - ` + app.TenantID + `
      - --login
      - workloadidentity
      command: kubelogin
      env:
      - name: AZURE_FEDERATED_TOKEN_FILE
        value: ` + file + `
`
	rc, _, toks, err := s.signIn(s.kubeconfig(aksClusterName, user), map[string]string{}, kubeauth.Options{})
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	s.upgradedAcrossExpiry(rc, toks)
}

func TestAKSWrongCredentialsChangeNothing(t *testing.T) {
	s := newSite(t)
	app := clouds.Entra.NewApp()
	clouds.MapUser(app.ObjectID, s.user)
	env := azureEnv(app)
	env["AZURE_CLIENT_ID"] = "00000000-0000-0000-0000-000000000000"
	_, _, _, err := s.signIn(s.kubeconfig(aksClusterName, kubeloginWorkloadIdentity), env, kubeauth.Options{})
	if err == nil || !strings.Contains(err.Error(), "sign in to AKS") || !strings.Contains(err.Error(), "AADSTS700016") {
		t.Errorf("unknown client id: error %v, want Entra ID's refusal", err)
	}
	env = azureEnv(app)
	delete(env, "ACTIONS_ID_TOKEN_REQUEST_URL")
	_, _, _, err = s.signIn(s.kubeconfig(aksClusterName, kubeloginWorkloadIdentity), env, kubeauth.Options{})
	if err == nil || !strings.Contains(err.Error(), "ACTIONS_ID_TOKEN_REQUEST_URL") || !strings.Contains(err.Error(), "id-token: write") {
		t.Errorf("no OIDC permission: error %v, want the variable and the permission", err)
	}
	s.wantRevision(1, "2.11.5")
}
