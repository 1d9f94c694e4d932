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
