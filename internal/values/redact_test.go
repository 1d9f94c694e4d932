package values

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	in := parseYAML(t, `
global:
  postgresql:
    postgresqlPassword: pw1
    postgresqlPostgresPassword: pw2
    postgresqlExistingSecretName: pg
    postgresqlExistingSecretKey: postgresql-password
    postgresqlHost: db.internal
pachd:
  rootToken: tok1
  rootTokenSecretName: rt
  enterpriseRootToken: tok2
  enterpriseLicenseKey: lic1
  oauthClientSecret: oc1
  enterpriseSecret: es1
  enterpriseServerToken: est1
  enterpriseSecretSecretName: ""
  replicas: 2
  storage:
    amazon: {bucket: b, secret: aws1, token: aws2}
    google: {cred: gcp1}
console:
  config:
    oauthClientSecret: cs1
    oauthClientSecretSecretName: console
oidc:
  upstreamIDPs:
  - {id: github, config: {clientSecret: idp1}}
  upstreamIDPsSecretName: ""
  IDTokenExpiry: 24h
determined:
  db: {password: det1}
  extraUsers: [{name: x, apiToken: det2}]
  serviceAccount: {automountServiceAccountToken: false}
postgresql:
  enabled: true
  postgresqlPassword: ""
imagePullSecrets: [regcred]
`)
	orig := Merge(in)
	out := Redact(in)
	if !reflect.DeepEqual(in, orig) {
		t.Fatal("Redact changed its input")
	}
	for _, p := range []string{
		"global.postgresql.postgresqlPassword", "global.postgresql.postgresqlPostgresPassword",
		"pachd.rootToken", "pachd.enterpriseRootToken", "pachd.enterpriseLicenseKey", "pachd.oauthClientSecret",
		"pachd.enterpriseSecret", "pachd.enterpriseServerToken", "pachd.storage.amazon.secret",
		"pachd.storage.amazon.token", "pachd.storage.google.cred", "console.config.oauthClientSecret",
		"oidc.upstreamIDPs", "determined.db.password",
	} {
		if v, _ := Lookup(out, p); v != Redacted {
			t.Errorf("%s = %v, want redacted", p, v)
		}
	}
	keep := map[string]any{
		"global.postgresql.postgresqlExistingSecretName":         "pg",
		"global.postgresql.postgresqlExistingSecretKey":          "postgresql-password",
		"global.postgresql.postgresqlHost":                       "db.internal",
		"pachd.rootTokenSecretName":                              "rt",
		"pachd.enterpriseSecretSecretName":                       "",
		"pachd.storage.amazon.bucket":                            "b",
		"console.config.oauthClientSecretSecretName":             "console",
		"oidc.IDTokenExpiry":                                     "24h",
		"determined.serviceAccount.automountServiceAccountToken": false,
		"postgresql.enabled":                                     true,
		"postgresql.postgresqlPassword":                          "",
	}
	for p, want := range keep {
		if v, _ := Lookup(out, p); v != want {
			t.Errorf("%s = %v, want %v kept", p, v, want)
		}
	}
	if v, _ := Lookup(out, "pachd.replicas"); v != float64(2) {
		t.Errorf("pachd.replicas = %v (%T), want kept", v, v)
	}
	users, _ := Lookup(out, "determined.extraUsers")
	if u := users.([]any)[0].(map[string]any); u["apiToken"] != Redacted || u["name"] != "x" {
		t.Errorf("credential inside a list not redacted: %v", u)
	}
	if v, _ := Lookup(out, "imagePullSecrets"); !reflect.DeepEqual(v, []any{"regcred"}) {
		t.Errorf("imagePullSecrets = %v, want kept", v)
	}
	s := strings.ToLower(Values(in).String())
	for _, secret := range []string{"pw1", "pw2", "tok1", "tok2", "lic1", "oc1", "es1", "est1", "aws1", "aws2", "gcp1", "cs1", "idp1", "det1", "det2"} {
		if strings.Contains(s, secret) {
			t.Errorf("printed values show %q: %s", secret, s)
		}
	}
	if Redact(nil) != nil {
		t.Error("Redact(nil) != nil")
	}
}

// TestRedactChanges: the plan's markers say which credentials the upgrade
// adds or changes, without showing them; non-credentials stay readable.
func TestRedactChanges(t *testing.T) {
	prev := map[string]any{"a": map[string]any{"password": "one", "token": "same", "port": 1},
		"pachd": map[string]any{"storage": map[string]any{"amazon": map[string]any{"id": "AKIA1"}}}}
	next := map[string]any{"a": map[string]any{"password": "two", "token": "same", "rootToken": "new", "port": 2}, "plain": "x",
		"pachd": map[string]any{"storage": map[string]any{"amazon": map[string]any{"id": "AKIA2"}}}}
	out := RedactChanges(next, prev)
	a := out["a"].(map[string]any)
	if a["password"] != RedactedChanged || a["token"] != Redacted || a["rootToken"] != RedactedAdded || a["port"] != 2 || out["plain"] != "x" {
		t.Errorf("markers: %v", out)
	}
	if v, _ := Lookup(out, "pachd.storage.amazon.id"); v != RedactedChanged {
		t.Errorf("a known credential path is not marked changed: %v", v)
	}
	if next["a"].(map[string]any)["password"] != "two" {
		t.Error("RedactChanges changed its input")
	}
	if s := fmt.Sprint(out); strings.Contains(s, "one") || strings.Contains(s, "two") || strings.Contains(s, "AKIA") {
		t.Errorf("a credential shows: %s", s)
	}
}
