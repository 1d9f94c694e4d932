package config

import (
	"strings"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/redact"
)

// TestBadURLInputsNeverEchoCredentials tries URL inputs a hostile or careless
// user would give: each is refused, and the error names the input without
// the password, the token or the query.
func TestBadURLInputsNeverEchoCredentials(t *testing.T) {
	const pw, tok = "PW-s3cr3t", "T0k3n-s3cr3t"
	cases := []struct{ input, value string }{
		{InputPachctlDownloadURL, "https://u:" + pw + "@host/x?token=" + tok},
		{InputPachctlDownloadURL, "https://u:" + pw + "@host/x?token=" + tok + "&v={version}x y"},
		{InputChartRepo, "ftp://u:" + pw + "@charts.example/?token=" + tok},
		{InputChartRepo, "https://u:" + pw + "@/?token=" + tok},
		{InputPachdAddress, "grpc://u:" + pw + "@pachd?token=" + tok},
		{InputPachdAddress, "u:" + pw + "@pachd:99999?token=" + tok},
		{InputPachdAddress, "ftp://" + tok + "@pachd:30650"},
	}
	for _, tc := range cases {
		_, err := Parse(map[string]string{InputTargetVersion: "2.11.6", tc.input: tc.value})
		if err == nil {
			t.Errorf("%s=%q accepted", tc.input, redact.URL(tc.value))
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.input) {
			t.Errorf("error does not name %s: %s", tc.input, msg)
		}
		for _, secret := range []string{pw, tok} {
			if strings.Contains(msg, secret) {
				t.Errorf("%s: error echoes a credential: %s", tc.input, msg)
			}
		}
	}
}

func TestURLCredentialsAreMasked(t *testing.T) {
	c, err := Parse(map[string]string{
		InputTargetVersion:      "2.11.6",
		InputChartRepo:          "https://charts:repo-pass@charts.example/",
		InputPachctlDownloadURL: "https://mirror.example/{version}/pachctl.tgz?sig=signature-value&x=1",
	})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	masks := strings.Join(c.SecretValues(), "\n")
	for _, want := range []string{"repo-pass", "signature-value"} {
		if !strings.Contains(masks, want) {
			t.Errorf("SecretValues lacks %q: %q", want, c.SecretValues())
		}
	}
	// A refused address is masked too, from the raw inputs.
	if got := URLCredentials(map[string]string{InputPachdAddress: "grpcs://pachd-token@pachd.example:443"}); !strings.Contains(strings.Join(got, "\n"), "pachd-token") {
		t.Errorf("URLCredentials(pachd-address) = %q, lacks the token", got)
	}
	for _, v := range c.SecretValues() {
		if len(v) < redact.MinMaskLen {
			t.Errorf("mask %q is too short: it would star out unrelated log text", v)
		}
	}
}

// kubeconfigWithEveryCredential holds each kind of credential a kubeconfig
// can carry, beside lines that are not secret and must not become masks.
const kubeconfigWithEveryCredential = `---
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: Q0EtREFUQS1QVUJMSUM=}
users:
- name: token-user
  user:
    token: kube-token-s3cr3t
- name: cert-user
  user:
    client-certificate-data: Q0VSVC1QVUJMSUM=
    client-key-data: LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCktFWS1MSU5FLVMzQ1IzVAotLS0tLUVORCBFQyBQUklWQVRFIEtFWS0tLS0tCg==
- name: basic-user
  user: {username: admin, password: basic-pa55word}
- name: oidc-user
  user:
    auth-provider:
      name: oidc
      config: {client-id: kubectl, client-secret: oidc-client-s3cr3t, id-token: oidc-id-t0ken, refresh-token: oidc-refresh-t0ken, idp-issuer-url: "https://issuer.example"}
- name: exec-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: vault-login
      env:
      - {name: VAULT_TOKEN, value: vault-t0ken-s3cr3t}
      - {name: AWS_REGION, value: us-east-1}
      interactiveMode: Never
- name: same-token-user
  user:
    token: kube-token-s3cr3t
contexts:
- name: staging
  context: {cluster: c, user: token-user}
current-context: staging
`

// TestKubeconfigMasksCredentialFieldsOnly: only the credential fields of a
// kubeconfig are masks, each once; the file's other lines ("---", "{",
// "],", the certificates) never are, so they are not starred out of the job
// summary's tables.
func TestKubeconfigMasksCredentialFieldsOnly(t *testing.T) {
	c, err := Parse(map[string]string{InputTargetVersion: "2.11.6", InputKubeconfig: kubeconfigWithEveryCredential})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	masks := c.SecretValues()
	want := map[string]bool{
		"kube-token-s3cr3t": true, "basic-pa55word": true, "oidc-client-s3cr3t": true, "oidc-id-t0ken": true,
		"oidc-refresh-t0ken": true, "vault-t0ken-s3cr3t": true, "KEY-LINE-S3CR3T": true,
		// client-key-data as written in the file.
		"LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCktFWS1MSU5FLVMzQ1IzVAotLS0tLUVORCBFQyBQUklWQVRFIEtFWS0tLS0tCg==": true,
	}
	seen := map[string]int{}
	for _, m := range masks {
		seen[m]++
		if !want[m] {
			t.Errorf("mask %q is not a credential", m)
		}
		if strings.ContainsAny(m, "\n") {
			t.Errorf("multi-line mask %q: the runner masks line by line", m)
		}
	}
	for w := range want {
		if seen[w] != 1 {
			t.Errorf("credential %q masked %d times, want once", w, seen[w])
		}
	}
}
