package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	cases := map[string]string{
		"https://u:PW@host/x?token=T":                "https://REDACTED@host/x?REDACTED",
		"https://TOKEN@host/x":                       "https://REDACTED@host/x",
		"https://u:P/W@host/x":                       "https://REDACTED@host/x",
		"https://u:P@W@host:8443/x#access=T":         "https://REDACTED@host:8443/x#REDACTED",
		"grpc://u:PW@[::1]:30650":                    "grpc://REDACTED@[::1]:30650",
		"u:PW@pachd:30650":                           "REDACTED@pachd:30650",
		"pachd:30650?token=T":                        "pachd:30650?REDACTED",
		"https://h/{version}/p_{arch}.tgz?sig=S":     "https://h/{version}/p_{arch}.tgz?REDACTED",
		"a https://u:PW@h/ and http://h/?k=T end":    "a https://REDACTED@h/ and http://h/?REDACTED end",
		"https://helm.pachyderm.com":                 "https://helm.pachyderm.com",
		"2.11.6":                                     "2.11.6",
		"https://u:PW@host/x?token=T&v={version}x y": "https://REDACTED@host/x?REDACTED y",
	}
	for in, want := range cases {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestURLCredentials(t *testing.T) {
	got := strings.Join(URLCredentials("https://user:pa%2Fss-word@h/x?sig=sig-value&n=1"), "\n")
	for _, want := range []string{"user:pa%2Fss-word", "pa%2Fss-word", "pa/ss-word", "sig=sig-value&n=1", "sig-value"} {
		if !strings.Contains(got, want+"\n") && !strings.HasSuffix(got, want) {
			t.Errorf("URLCredentials lacks %q: %q", want, got)
		}
	}
	for _, short := range URLCredentials("https://u:p@h/?n=1") {
		t.Errorf("too short to mask, yet returned: %q", short)
	}
	if got := URLCredentials("https://tokenasuser@h/"); len(got) != 1 || got[0] != "tokenasuser" {
		t.Errorf("token as user name: %q", got)
	}
}

func TestSensitiveKey(t *testing.T) {
	for _, k := range []string{
		"password", "postgresqlPassword", "rootToken", "access-token", "refresh_token", "id-token",
		"client-secret", "clientSecret", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "VAULT_TOKEN",
		"enterpriseLicenseKey", "apiKey", "privateKey", "cred", "credentials", "upstreamIDPs", "DB_PASSWD",
	} {
		if !SensitiveKey(k) {
			t.Errorf("SensitiveKey(%q) = false", k)
		}
	}
	for _, k := range []string{
		"rootTokenSecretName", "postgresqlExistingSecretKey", "imagePullSecrets", "oauthClientSecretSecretName",
		"IDTokenExpiry", "replicas", "client-id", "idp-issuer-url", "AWS_ACCESS_KEY_ID", "AWS_PROFILE", "tokenFile", "name",
	} {
		if SensitiveKey(k) {
			t.Errorf("SensitiveKey(%q) = true", k)
		}
	}
}

func TestSensitiveKeyObjectStores(t *testing.T) {
	for k, want := range map[string]bool{
		"secretKey": true, "secret_key": true, "awsSecretKey": true, "connection_string": true,
		"connectionString": true, "storageAccountKey": true, "dsn": true,
		"postgresqlExistingSecretKey": false, "clientSecretKey": false, "rootTokenSecretName": false,
		"secretKeyRef": false, "bucket": false, "endpointUrl": false,
	} {
		if got := SensitiveKey(k); got != want {
			t.Errorf("SensitiveKey(%q) = %v, want %v", k, got, want)
		}
	}
	for v, want := range map[string]bool{
		"DefaultEndpointsProtocol=https;AccountName=a;AccountKey=xyz==": true,
		"Server=db;User Id=u;Password=p;":                               true,
		"postgres://u:p@db:5432/x":                                      true,
		"https://logs.example.com/ingest":                               false,
		"2.11.6":                                                        false,
	} {
		if got := SensitiveValue(v); got != want {
			t.Errorf("SensitiveValue(%q) = %v, want %v", v, got, want)
		}
	}
}
