package kubeauth

import (
	"context"
	"os"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	clientauth "k8s.io/client-go/tools/clientcmd/api"
)

func TestRecogniseExecConfigsAsTheToolsWriteThem(t *testing.T) {
	cases := []struct {
		name    string
		command string
		args    []string
		env     map[string]string
		want    Plugin
	}{
		{"aws eks update-kubeconfig", "aws",
			[]string{"--region", "eu-west-1", "eks", "get-token", "--cluster-name", "pach-prod", "--output", "json"}, nil,
			Plugin{Cloud: CloudEKS, Command: "aws", ClusterID: "pach-prod", Region: "eu-west-1"}},
		{"aws eks update-kubeconfig --role-arn --profile", "/usr/local/bin/aws",
			[]string{"--region", "us-west-2", "eks", "get-token", "--cluster-name", "c1", "--output", "json", "--role-arn", "arn:aws:iam::1:role/r"},
			map[string]string{"AWS_PROFILE": "ci"},
			Plugin{Cloud: CloudEKS, Command: "aws", ClusterID: "c1", Region: "us-west-2", RoleARN: "arn:aws:iam::1:role/r"}},
		{"aws-iam-authenticator", "aws-iam-authenticator", []string{"token", "-i", "c2", "-r", "arn:aws:iam::1:role/r"}, nil,
			Plugin{Cloud: CloudEKS, Command: "aws-iam-authenticator", ClusterID: "c2", RoleARN: "arn:aws:iam::1:role/r"}},
		{"gke-gcloud-auth-plugin", "gke-gcloud-auth-plugin", nil, nil, Plugin{Cloud: CloudGKE, Command: "gke-gcloud-auth-plugin"}},
		{"kubelogin workloadidentity", "kubelogin",
			[]string{"get-token", "--login", "workloadidentity", "--server-id", "6dae42f8-4368-4678-94ff-3960e28e3630"}, nil,
			Plugin{Cloud: CloudAKS, Command: "kubelogin", Login: "workloadidentity", ServerID: "6dae42f8-4368-4678-94ff-3960e28e3630"}},
		{"kubelogin spn", "kubelogin",
			[]string{"get-token", "--environment", "AzurePublicCloud", "--server-id", "srv", "--client-id", "cli", "--tenant-id", "ten", "--login", "spn"},
			map[string]string{"AAD_SERVICE_PRINCIPAL_CLIENT_SECRET": "s"},
			Plugin{Cloud: CloudAKS, Command: "kubelogin", Login: "spn", ServerID: "srv", ClientID: "cli", TenantID: "ten", Environment: "AzurePublicCloud"}},
		{"kubelogin msi with flags as key=value", "kubelogin",
			[]string{"get-token", "-l=msi", "--server-id=srv", "--client-id=cli", "--disable-instance-discovery"}, nil,
			Plugin{Cloud: CloudAKS, Command: "kubelogin", Login: "msi", ServerID: "srv", ClientID: "cli", DisableInstanceDiscovery: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Recognise(tc.command, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Env = p.Env
			if p.Cloud != tc.want.Cloud || p.Command != tc.want.Command || p.ClusterID != tc.want.ClusterID || p.Region != tc.want.Region ||
				p.RoleARN != tc.want.RoleARN || p.Login != tc.want.Login || p.ServerID != tc.want.ServerID || p.ClientID != tc.want.ClientID ||
				p.TenantID != tc.want.TenantID || p.Environment != tc.want.Environment || p.DisableInstanceDiscovery != tc.want.DisableInstanceDiscovery {
				t.Errorf("got %+v\nwant %+v", *p, tc.want)
			}
			for k, v := range tc.env {
				if p.getenv(func(string) string { return "" })(k) != v {
					t.Errorf("exec env %s not seen", k)
				}
			}
		})
	}
}

func TestRecogniseRefusesWhatCannotSignIn(t *testing.T) {
	for _, tc := range []struct {
		command string
		args    []string
		msg     string
	}{
		{"aws", []string{"sts", "get-caller-identity"}, "only `aws eks get-token`"},
		{"aws", []string{"eks", "get-token"}, "without --cluster-name"},
		{"kubelogin", []string{"get-token", "--login", "workloadidentity"}, "without --server-id"},
		{"aws-iam-authenticator", []string{"verify"}, "only `token`"},
	} {
		if _, err := Recognise(tc.command, tc.args, nil); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s %v: error %v, want %q", tc.command, tc.args, err, tc.msg)
		}
	}
}

func TestUnknownExecPluginFailsNamingIt(t *testing.T) {
	cfg := &rest.Config{Host: "https://127.0.0.1:1", ExecProvider: &clientauth.ExecConfig{
		Command: "/opt/bin/oci-cluster-auth", APIVersion: "client.authentication.k8s.io/v1beta1"}}
	_, _, err := Configure(context.Background(), cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), `"oci-cluster-auth"`) || !strings.Contains(err.Error(), "aws eks update-kubeconfig") {
		t.Errorf("error %v, want the plugin named and the kubeconfigs that work", err)
	}
	// A kubeconfig without an exec plugin is left alone.
	plain := &rest.Config{Host: "https://127.0.0.1:1", BearerToken: "t"}
	got, signed, err := Configure(context.Background(), plain, Options{})
	if err != nil || got != plain || signed != nil {
		t.Errorf("plain config: %v %v %v", got, signed, err)
	}
}

func TestAKSNeedsOIDCPermission(t *testing.T) {
	p, err := Recognise("kubelogin", []string{"get-token", "--login", "workloadidentity", "--server-id", "srv"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": "t"}
	_, err = newAKS(context.Background(), p, func(k string) string { return env[k] }, Options{})
	if err == nil || !strings.Contains(err.Error(), "ACTIONS_ID_TOKEN_REQUEST_URL") || !strings.Contains(err.Error(), "id-token: write") {
		t.Errorf("error %v, want the missing variable and the permission", err)
	}
	_, err = newAKS(context.Background(), p, func(string) string { return "" }, Options{})
	if err == nil || !strings.Contains(err.Error(), "AZURE_CLIENT_ID") {
		t.Errorf("error %v, want AZURE_CLIENT_ID named", err)
	}
	p.Login = "azurecli"
	if _, err = newAKS(context.Background(), p, func(k string) string { return env[k] }, Options{}); err == nil || !strings.Contains(err.Error(), "workloadidentity") {
		t.Errorf("azurecli: error %v, want the conversion to workloadidentity", err)
	}
}

func TestGKECredentialFileFromTheRunnerWorkspace(t *testing.T) {
	ws := t.TempDir()
	// google-github-actions/auth writes gha-creds-*.json at the workspace root; the container
	// sees the runner's host path in GOOGLE_APPLICATION_CREDENTIALS.
	if err := writeFile(ws+"/gha-creds-1a2b.json", `{"type":"external_account"}`); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": "/opt/actions-runner/_work/ops/ops/gha-creds-1a2b.json", "GITHUB_WORKSPACE": ws}
	got, err := adcFile(func(k string) string { return env[k] })
	if err != nil || got != ws+"/gha-creds-1a2b.json" {
		t.Errorf("adcFile = %q, %v", got, err)
	}
	_, err = adcFile(func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "GOOGLE_APPLICATION_CREDENTIALS") || !strings.Contains(err.Error(), "google-github-actions/auth") {
		t.Errorf("no credentials: %v", err)
	}
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
