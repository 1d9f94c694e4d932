package helmrelease

import (
	"encoding/base64"
	"strings"
	"testing"
)

const secretManifest = `---
# Source: pachyderm/templates/postgres.yaml
apiVersion: v1
kind: Secret
metadata:
  name: postgres
data:
  postgresql-password: %s
  postgresql-postgres-password: cm9vdA==
---
# Source: pachyderm/templates/pachd.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: pachd
spec:
  template:
    spec:
      containers:
      - name: pachd
        image: pachyderm/pachd:%s
`

func manifest(password, tag string) string {
	return strings.Replace(strings.Replace(secretManifest, "%s", base64.StdEncoding.EncodeToString([]byte(password)), 1), "%s", tag, 1)
}

// hasMarker accepts the marker quoted or not, as the YAML encoder decides.
func hasMarker(s, key, marker string) bool {
	return strings.Contains(s, key+": "+marker+"\n") || strings.Contains(s, key+": '"+marker+"'\n")
}

func TestRedactManifestsMarksChangesWithoutValues(t *testing.T) {
	cur, next, err := redactManifests(manifest("old-pass", "2.11.5"), manifest("n3w-s3cret", "2.11.6"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{cur, next} {
		for _, leak := range []string{"old-pass", "n3w-s3cret", "cm9vdA==", base64.StdEncoding.EncodeToString([]byte("old-pass")), base64.StdEncoding.EncodeToString([]byte("n3w-s3cret"))} {
			if strings.Contains(s, leak) {
				t.Fatalf("redacted manifest leaks %q:\n%s", leak, s)
			}
		}
		if !strings.Contains(s, "# Source: pachyderm/templates/postgres.yaml") {
			t.Errorf("redacted manifest lost the template source line:\n%s", s)
		}
	}
	if !hasMarker(next, "postgresql-password", redactedChanged) {
		t.Errorf("changed password not marked changed:\n%s", next)
	}
	if !hasMarker(next, "postgresql-postgres-password", redacted) {
		t.Errorf("unchanged password not marked plainly:\n%s", next)
	}
	d, err := unifiedDiff(cur, next, "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d, "-        image: pachyderm/pachd:2.11.5") || !strings.Contains(d, "+        image: pachyderm/pachd:2.11.6") {
		t.Errorf("diff does not show the image change:\n%s", d)
	}
}

func TestRedactManifestsAddedKey(t *testing.T) {
	cur := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: x\n"
	next := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: x\n  b: y\n"
	_, out, err := redactManifests(cur, next)
	if err != nil {
		t.Fatal(err)
	}
	if !hasMarker(out, "b", redactedAdded) || !hasMarker(out, "a", redacted) {
		t.Errorf("stringData markers wrong:\n%s", out)
	}
}

func TestRedactValues(t *testing.T) {
	in := map[string]any{
		"global": map[string]any{"postgresql": map[string]any{
			"postgresqlPassword":           "hunter2",
			"postgresqlExistingSecretName": "pg",
			"postgresqlExistingSecretKey":  "password",
			"postgresqlUsername":           "pachyderm",
		}},
		"pachd": map[string]any{
			"rootToken":           "tok",
			"rootTokenSecretName": "root",
			"replicas":            1,
		},
		"oidc": map[string]any{"upstreamIDPs": []any{map[string]any{"config": map[string]any{"clientSecret": "cs"}}}},
	}
	out := RedactValues(in)
	pg := out["global"].(map[string]any)["postgresql"].(map[string]any)
	if pg["postgresqlPassword"] != redacted || pg["postgresqlExistingSecretName"] != "pg" || pg["postgresqlExistingSecretKey"] != "password" || pg["postgresqlUsername"] != "pachyderm" {
		t.Errorf("postgresql values redacted wrongly: %v", pg)
	}
	pachd := out["pachd"].(map[string]any)
	if pachd["rootToken"] != redacted || pachd["rootTokenSecretName"] != "root" || pachd["replicas"] != 1 {
		t.Errorf("pachd values redacted wrongly: %v", pachd)
	}
	idp := out["oidc"].(map[string]any)["upstreamIDPs"].([]any)[0].(map[string]any)["config"].(map[string]any)
	if idp["clientSecret"] != redacted {
		t.Errorf("nested IDP secret not redacted: %v", idp)
	}
	if in["global"].(map[string]any)["postgresql"].(map[string]any)["postgresqlPassword"] != "hunter2" {
		t.Error("RedactValues changed its input")
	}
}

func TestRedactValuesAgainstMarksChanges(t *testing.T) {
	prev := map[string]any{"a": map[string]any{"password": "one", "token": "same"}}
	next := map[string]any{"a": map[string]any{"password": "two", "token": "same", "rootToken": "new"}, "plain": "x"}
	a := redactValuesAgainst(next, prev, true)["a"].(map[string]any)
	if a["password"] != redactedChanged || a["token"] != redacted || a["rootToken"] != redactedAdded {
		t.Errorf("markers: %v", a)
	}
}
