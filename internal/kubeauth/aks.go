package kubeauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// githubOIDCAudience is the audience azure/login asks GitHub's OIDC provider for, and the one
// an Entra ID federated credential expects.
const githubOIDCAudience = "api://AzureADTokenExchange"

const azureFix = "set AZURE_CLIENT_ID and AZURE_TENANT_ID (the app registration or user-assigned identity with a " +
	"federated credential for this repository) in the job's env, with `permissions: id-token: write` on the job"

type aksSource struct {
	cred  azcore.TokenCredential
	scope string
}

func newAKS(_ context.Context, p *Plugin, getenv func(string) string, opts Options) (tokenSource, error) {
	// The authority receives the client assertion or secret: only Microsoft's, unless allowed.
	if host := firstNonEmpty(p.AuthorityHost, getenv("AZURE_AUTHORITY_HOST")); host != "" {
		if err := checkEndpoint("the Entra ID authority host (--authority-host or AZURE_AUTHORITY_HOST)", host, entraHost, opts.AllowHosts); err != nil {
			return nil, err
		}
	}
	co := azcore.ClientOptions{Cloud: azureCloud(p, getenv)}
	if opts.HTTPClient != nil {
		co.Transport = opts.HTTPClient
	}
	tenant := firstNonEmpty(p.TenantID, getenv("AZURE_TENANT_ID"))
	var cred azcore.TokenCredential
	var err error
	switch p.Login {
	case "workloadidentity":
		client := firstNonEmpty(p.ClientID, getenv("AZURE_CLIENT_ID"))
		if client == "" {
			return nil, missingVar("AZURE_CLIENT_ID", azureFix)
		}
		if tenant == "" {
			return nil, missingVar("AZURE_TENANT_ID", azureFix)
		}
		if file := firstNonEmpty(p.FederatedTokenFile, getenv("AZURE_FEDERATED_TOKEN_FILE")); file != "" {
			local, ferr := credentialFile("AZURE_FEDERATED_TOKEN_FILE (or --federated-token-file)", file, opts, azureFix)
			if ferr != nil {
				return nil, ferr
			}
			file = local
			cred, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
				ClientOptions: co, ClientID: client, TenantID: tenant, TokenFilePath: file,
				DisableInstanceDiscovery: p.DisableInstanceDiscovery})
			break
		}
		assertion, aerr := githubAssertion(getenv, opts)
		if aerr != nil {
			return nil, aerr
		}
		cred, err = azidentity.NewClientAssertionCredential(tenant, client, assertion,
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: p.DisableInstanceDiscovery})
	case "spn":
		client := firstNonEmpty(p.ClientID, getenv("AAD_SERVICE_PRINCIPAL_CLIENT_ID"), getenv("AZURE_CLIENT_ID"))
		if client == "" {
			return nil, missingVar("AZURE_CLIENT_ID", azureFix)
		}
		if tenant == "" {
			return nil, missingVar("AZURE_TENANT_ID", azureFix)
		}
		if secret := firstNonEmpty(p.ClientSecret, getenv("AAD_SERVICE_PRINCIPAL_CLIENT_SECRET"), getenv("AZURE_CLIENT_SECRET")); secret != "" {
			if opts.Mask != nil {
				opts.Mask(secret)
			}
			cred, err = azidentity.NewClientSecretCredential(tenant, client, secret,
				&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: p.DisableInstanceDiscovery})
			break
		}
		// No secret: federate the service principal with the job's OIDC token, as azure/login does.
		assertion, aerr := githubAssertion(getenv, opts)
		if aerr != nil {
			return nil, fmt.Errorf("no AAD_SERVICE_PRINCIPAL_CLIENT_SECRET and no OIDC token to federate with: %w", aerr)
		}
		cred, err = azidentity.NewClientAssertionCredential(tenant, client, assertion,
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: p.DisableInstanceDiscovery})
	case "msi":
		mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: co}
		if id := firstNonEmpty(p.ClientID, getenv("AZURE_CLIENT_ID")); id != "" {
			mo.ID = azidentity.ClientID(id)
		}
		cred, err = azidentity.NewManagedIdentityCredential(mo)
	default:
		return nil, fmt.Errorf("kubelogin login mode %q needs an interactive sign-in or the Azure CLI, neither of which runs here: "+
			"convert the kubeconfig with `kubelogin convert-kubeconfig -l workloadidentity` and %s", p.Login, azureFix)
	}
	if err != nil {
		return nil, fmt.Errorf("kubelogin %s: %w", p.Login, err)
	}
	return &aksSource{cred: cred, scope: p.ServerID + "/.default"}, nil
}

func (s *aksSource) token(ctx context.Context) (string, time.Time, error) {
	tok, err := s.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{s.scope}})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("get a Microsoft Entra ID token for %s: %w", s.scope, err)
	}
	return tok.Token, tok.ExpiresOn, nil
}

// azureCloud picks the Entra ID authority as kubelogin does: --authority-host or
// AZURE_AUTHORITY_HOST, else the cloud named by --environment.
func azureCloud(p *Plugin, getenv func(string) string) cloud.Configuration {
	c := cloud.AzurePublic
	switch strings.ToLower(p.Environment) {
	case "azurechinacloud":
		c = cloud.AzureChina
	case "azureusgovernmentcloud":
		c = cloud.AzureGovernment
	}
	if host := firstNonEmpty(p.AuthorityHost, getenv("AZURE_AUTHORITY_HOST")); host != "" {
		c.ActiveDirectoryAuthorityHost = host
	}
	return c
}

// githubAssertion returns a function that fetches the job's OIDC token from GitHub Actions
// for the Entra ID token exchange: the variables exist only with `permissions: id-token: write`.
func githubAssertion(getenv func(string) string, opts Options) (func(context.Context) (string, error), error) {
	reqURL, reqToken := getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
	if reqURL == "" || reqToken == "" {
		return nil, missingVar("ACTIONS_ID_TOKEN_REQUEST_URL", "the job cannot request an OIDC token: add `permissions: id-token: write` to the job "+
			"(or, outside Actions, set AZURE_FEDERATED_TOKEN_FILE)")
	}
	client := opts.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	return func(ctx context.Context) (string, error) {
		tok, err := fetchGitHubOIDC(ctx, client, reqURL, reqToken, githubOIDCAudience)
		if err == nil && opts.Mask != nil {
			opts.Mask(tok)
		}
		return tok, err
	}, nil
}

// fetchGitHubOIDC asks the Actions runtime for an OIDC token with the given audience.
func fetchGitHubOIDC(ctx context.Context, client *http.Client, reqURL, reqToken, audience string) (string, error) {
	u, err := url.Parse(reqURL)
	if err != nil {
		return "", fmt.Errorf("ACTIONS_ID_TOKEN_REQUEST_URL: %w", err)
	}
	q := u.Query()
	q.Set("audience", audience)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+reqToken)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("request the job's OIDC token: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("request the job's OIDC token: %s (does the job have `permissions: id-token: write`?)", resp.Status)
	}
	var out struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Value == "" {
		return "", fmt.Errorf("request the job's OIDC token: the answer holds no token")
	}
	return out.Value, nil
}
