package kubeauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// awsFiles writes an AWS shared config file and an empty credentials file, points the SDK at
// them (it reads these variables from the process, as the aws CLI does) and returns the config
// file's path.
func awsFiles(t *testing.T, configText string) string {
	t.Helper()
	dir := t.TempDir()
	cfg, creds := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	if err := os.WriteFile(cfg, []byte(configText), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(creds, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", cfg)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	return cfg
}

// credentialProgram writes a program that leaves a marker file when it runs and prints the
// keys credential_process expects; it returns the program and the marker's path.
func credentialProgram(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	program := filepath.Join(dir, "aws-creds-helper")
	script := "#!/bin/sh\ntouch '" + marker + "'\n" +
		`echo '{"Version":1,"AccessKeyId":"AKIAIOSFODNN7EXAMPLE","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}'` + "\n"
	if err := os.WriteFile(program, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return program, marker
}

func ran(marker string) bool {
	_, err := os.Stat(marker)
	return err == nil
}

// TestAWSCredentialProcessIsNotRun: a shared config file (which a pull request may have written)
// whose selected profile, or the source_profile its role is assumed from, names a
// credential_process makes the real SDK run that program. It is refused, named with the file
// and profile, and never runs; allow-exec-plugins lets the program named there run.
func TestAWSCredentialProcessIsNotRun(t *testing.T) {
	program, marker := credentialProgram(t)
	eks := &Plugin{Cloud: CloudEKS, ClusterID: "pach-prod", Region: "eu-west-1"}
	env := map[string]string{"AWS_REGION": "eu-west-1"}
	getenv := func(k string) string { return env[k] }

	for _, tc := range []struct {
		name, config, profile, wantProfile string
	}{
		{"the default profile", "[default]\ncredential_process = " + program + " --account prod\n", "", "default"},
		{"AWS_PROFILE", "[profile ci]\ncredential_process = " + program + "\n", "ci", "ci"},
		{"through source_profile", "[profile deploy]\nrole_arn = arn:aws:iam::111122223333:role/deploy\nsource_profile = base\n\n" +
			"[profile base]\ncredential_process = \"" + program + "\" --json\n", "deploy", "base"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := awsFiles(t, tc.config)
			env["AWS_PROFILE"] = tc.profile
			_, err := newEKS(context.Background(), eks, getenv, Options{})
			if ran(marker) {
				t.Fatalf("the credential_process ran (err %v)", err)
			}
			if err == nil {
				t.Fatal("signed in through a refused credential_process")
			}
			for _, want := range []string{file, `profile "` + tc.wantProfile + `"`, program, "allow-exec-plugins", "not run"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
		})
	}

	// A shell line cannot be allowed by naming its first word: `sh -c` would run the rest.
	awsFiles(t, "[default]\ncredential_process = "+program+"; touch "+marker+"\n")
	env["AWS_PROFILE"] = ""
	_, err := newEKS(context.Background(), eks, getenv, Options{AllowExecPlugins: []string{program}})
	if ran(marker) || err == nil || !strings.Contains(err.Error(), "shell command line") {
		t.Errorf("shell line with the allowed program first: ran %v, error %v", ran(marker), err)
	}

	// Keys in the environment come first in the SDK's chain: the profile's program would not
	// run, so nothing is refused.
	awsFiles(t, "[default]\ncredential_process = "+program+"\n")
	env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = "AKIAIOSFODNN7EXAMPLE", "secret"
	if _, err := newEKS(context.Background(), eks, getenv, Options{}); err != nil || ran(marker) {
		t.Errorf("keys in the environment: error %v, ran %v", err, ran(marker))
	}
	delete(env, "AWS_ACCESS_KEY_ID")
	delete(env, "AWS_SECRET_ACCESS_KEY")

	// Allowed by its base name, a program that is not the one PATH finds by that name (a pull
	// request's ./tools/aws-creds-helper) is still refused.
	if _, err := newEKS(context.Background(), eks, getenv, Options{AllowExecPlugins: []string{filepath.Base(program)}}); ran(marker) || err == nil {
		t.Errorf("allowed base name, program not on PATH: ran %v, error %v", ran(marker), err)
	}

	// Allowed by name (as written, or its base name when PATH finds it), the program runs as
	// the SDK says.
	t.Setenv("PATH", filepath.Dir(program)+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, allow := range []string{program, filepath.Base(program)} {
		_ = os.Remove(marker)
		if _, err := newEKS(context.Background(), eks, getenv, Options{AllowExecPlugins: []string{allow}}); err != nil {
			t.Errorf("allow-exec-plugins %s: %v", allow, err)
		}
		if !ran(marker) {
			t.Errorf("allow-exec-plugins %s: the program did not run", allow)
		}
	}
}

func TestShellProgram(t *testing.T) {
	for line, want := range map[string]string{
		"/usr/local/bin/aws-vault exec prod --json": "/usr/local/bin/aws-vault",
		`"/opt/my tools/helper" --x 'a b'`:          "/opt/my tools/helper",
		"  helper  ":                                "helper",
	} {
		if got, ok := shellProgram(line); !ok || got != want {
			t.Errorf("shellProgram(%q) = %q, %v; want %q", line, got, ok, want)
		}
	}
	for _, line := range []string{"helper; curl x", "helper && id", "helper | sh", "helper $(id)", "helper `id`", "PATH=/tmp helper",
		"helper > /tmp/x", "helper 'open", "helper\nid", "", "helper & id", `helper \; id`} {
		if got, ok := shellProgram(line); ok {
			t.Errorf("shellProgram(%q) = %q, simple; want refused", line, got)
		}
	}
}

// TestAWSSharedConfigEndpointOnlyToAWS: a shared config file that names its own STS endpoint
// (the web identity token and the signed requests would go there) is refused like
// AWS_ENDPOINT_URL_STS, unless allow-credential-hosts names the host.
func TestAWSSharedConfigEndpointOnlyToAWS(t *testing.T) {
	eks := &Plugin{Cloud: CloudEKS, ClusterID: "pach-prod", Region: "eu-west-1"}
	env := map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}
	getenv := func(k string) string { return env[k] }
	for name, text := range map[string]string{
		"endpoint_url": "[default]\nendpoint_url = https://sts.attacker.example\n",
		"services":     "[default]\nservices = s\n\n[services s]\nsts =\n  endpoint_url = https://sts.attacker.example\n",
	} {
		awsFiles(t, text)
		_, err := newEKS(context.Background(), eks, getenv, Options{})
		if err == nil || !strings.Contains(err.Error(), "sts.attacker.example") || !strings.Contains(err.Error(), "allow-credential-hosts") {
			t.Errorf("%s: error %v, want the host refused", name, err)
		}
		if _, err := newEKS(context.Background(), eks, getenv, Options{AllowHosts: []string{"sts.attacker.example"}}); err != nil {
			t.Errorf("%s allowed: %v", name, err)
		}
	}
	awsFiles(t, "[default]\nendpoint_url = https://sts.eu-west-1.amazonaws.com\n")
	if _, err := newEKS(context.Background(), eks, getenv, Options{}); err != nil {
		t.Errorf("AWS's own endpoint: %v", err)
	}
}

// TestEnvOnlySourcesIgnoreTheKubeconfig: the container credentials URI and the managed identity
// endpoint are trusted because the SDKs read them from the process environment only. A
// kubeconfig's exec env entries (which the sign-in otherwise honours, as the plugins would)
// pointing them at another host send it nothing.
func TestEnvOnlySourcesIgnoreTheKubeconfig(t *testing.T) {
	evil := newCatcher(t)
	// The SDK's container provider uses its own HTTP client, and allows plain http to loopback.
	var containerHits atomic.Int32
	container := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		containerHits.Add(1)
		http.Error(w, "no", http.StatusForbidden)
	}))
	t.Cleanup(container.Close)
	awsFiles(t, "")
	eks, err := Recognise("aws", []string{"--region", "eu-west-1", "eks", "get-token", "--cluster-name", "c"},
		map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": container.URL + "/creds", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "tok"})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = newEKS(context.Background(), eks, eks.getenv(func(string) string { return "" }), Options{HTTPClient: evil.srv.Client()})
	aks, err := Recognise("kubelogin", []string{"get-token", "--login", "msi", "--server-id", "srv"},
		map[string]string{"IDENTITY_ENDPOINT": evil.srv.URL + "/msi", "IDENTITY_HEADER": "h"})
	if err != nil {
		t.Fatal(err)
	}
	if src, err := newAKS(context.Background(), aks, aks.getenv(func(string) string { return "" }), Options{HTTPClient: evil.srv.Client()}); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _, _ = src.token(ctx)
	}
	if got := evil.received(); len(got) > 0 {
		t.Errorf("a kubeconfig's env entry steered the managed identity request: %q", got)
	}
	if n := containerHits.Load(); n > 0 {
		t.Errorf("a kubeconfig's env entry steered %d container credential requests", n)
	}
}
