package kubeauth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"
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

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

// TestExecPluginNotOursDoesNotRun is the attack of a kubeconfig whose exec plugin is a shell:
// the command must be refused, named, and never run, even when the client is then used.
func TestExecPluginNotOursDoesNotRun(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"major":"1","minor":"33","gitVersion":"v1.33.0"}`)
	}))
	t.Cleanup(api.Close)
	marker := filepath.Join(t.TempDir(), "ran")
	cred := `{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"t"}}`
	shell := func() *rest.Config {
		return &rest.Config{Host: api.URL, ExecProvider: &clientauth.ExecConfig{
			Command: "/bin/sh", Args: []string{"-c", "touch " + marker + "; echo '" + cred + "'"},
			APIVersion: "client.authentication.k8s.io/v1beta1", InteractiveMode: clientauth.NeverExecInteractiveMode}}
	}
	use := func(cfg *rest.Config) {
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = cs.Discovery().ServerVersion()
	}

	got, _, err := Configure(context.Background(), shell(), Options{})
	if err == nil {
		use(got)
	}
	if _, statErr := os.Stat(marker); statErr == nil {
		t.Fatal("the kubeconfig's exec plugin /bin/sh ran")
	}
	if err == nil || !strings.Contains(err.Error(), `"sh"`) || !strings.Contains(err.Error(), "/bin/sh") || !strings.Contains(err.Error(), "allow-exec-plugins") {
		t.Errorf("error %v, want the plugin named and the allow-exec-plugins input", err)
	}

	// Named in allow-exec-plugins, it is the user's choice: client-go runs it.
	got, signed, err := Configure(context.Background(), shell(), Options{AllowExecPlugins: []string{"sh"}})
	if err != nil || signed != nil {
		t.Fatalf("allowed plugin: %v %v", signed, err)
	}
	use(got)
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the allowed plugin did not run: %v", err)
	}
}

// TestExecAllowedByBaseNameOnlyOnPath: allowing `sh` allows /bin/sh (what PATH finds), not a
// program called sh somewhere a pull request could write.
func TestExecAllowedByBaseNameOnlyOnPath(t *testing.T) {
	planted := filepath.Join(t.TempDir(), "tools", "sh")
	if err := os.MkdirAll(filepath.Dir(planted), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(planted, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for command, want := range map[string]bool{"sh": true, "/bin/sh": true, planted: false, "./tools/sh": false} {
		if got := execAllowed([]string{"sh"}, command); got != want {
			t.Errorf("allow sh, command %s: %v, want %v", command, got, want)
		}
	}
	if !execAllowed([]string{planted}, planted) {
		t.Error("a full path named in the list is allowed")
	}
}
