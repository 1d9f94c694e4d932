package values

import (
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"
)

func parseYAML(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return m
}

// TestMergePrecedence documents the precedence: release values, then
// values-file, then the inline values input; later wins.
func TestMergePrecedence(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		release, file, inline string
		want                  string
	}{
		{"all empty", "", "", "", "{}"},
		{"release only", "pachd: {replicas: 2}", "", "", "pachd: {replicas: 2}"},
		{"file beats release", "pachd: {replicas: 2}", "pachd: {replicas: 3}", "", "pachd: {replicas: 3}"},
		{"inline beats file and release", "pachd: {replicas: 2}", "pachd: {replicas: 3}", "pachd: {replicas: 4}", "pachd: {replicas: 4}"},
		{"inline beats release without file", "pachd: {replicas: 2}", "", "pachd: {replicas: 4}", "pachd: {replicas: 4}"},
		{"maps merge at depth",
			"global: {postgresql: {postgresqlHost: db, postgresqlPort: 5432}}",
			"global: {postgresql: {postgresqlPort: 6432}}",
			"global: {postgresql: {postgresqlUsername: pach}}",
			"global: {postgresql: {postgresqlHost: db, postgresqlPort: 6432, postgresqlUsername: pach}}"},
		{"lists are replaced, not appended",
			"pachd: {tolerations: [{key: a}, {key: b}]}", "", "pachd: {tolerations: [{key: c}]}",
			"pachd: {tolerations: [{key: c}]}"},
		{"null in a later layer replaces the value",
			"pachd: {rootToken: abc, replicas: 1}", "", "pachd: {rootToken: null}",
			"pachd: {rootToken: null, replicas: 1}"},
		{"scalar replaces a map", "console: {config: {a: 1}}", "console: off", "", "console: off"},
		{"map replaces a scalar", "console: off", "", "console: {enabled: true}", "console: {enabled: true}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release, file, inline := parseYAML(t, tc.release), parseYAML(t, tc.file), parseYAML(t, tc.inline)
			before := []any{Merge(release), Merge(file), Merge(inline)}
			got := Merge(release, file, inline)
			if want := parseYAML(t, tc.want); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("Merge = %v, want %v", got, want)
			}
			after := []any{Merge(release), Merge(file), Merge(inline)}
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("Merge changed its inputs: %v → %v", before, after)
			}
		})
	}
}

func TestMergeDoesNotAlias(t *testing.T) {
	release := map[string]any{"pachd": map[string]any{"replicas": 1, "list": []any{"a"}}}
	got := Merge(release, nil)
	got["pachd"].(map[string]any)["replicas"] = 9
	got["pachd"].(map[string]any)["list"].([]any)[0] = "z"
	if release["pachd"].(map[string]any)["replicas"] != 1 || release["pachd"].(map[string]any)["list"].([]any)[0] != "a" {
		t.Fatalf("changing the result changed the input: %v", release)
	}
}

func TestLookupAndSet(t *testing.T) {
	m := parseYAML(t, "global: {postgresql: {postgresqlPassword: x}}\npachd: 3")
	if v, ok := Lookup(m, "global.postgresql.postgresqlPassword"); !ok || v != "x" {
		t.Errorf("Lookup = %v, %v", v, ok)
	}
	for _, p := range []string{"global.postgresql.nope", "pachd.rootToken", "nope", "global.postgresql.postgresqlPassword.deeper"} {
		if v, ok := Lookup(m, p); ok {
			t.Errorf("Lookup(%s) = %v, want absent", p, v)
		}
	}
	Set(m, "pachd.rootTokenSecretName", "rt")
	Set(m, "a.b.c", "d")
	if v, _ := Lookup(m, "pachd.rootTokenSecretName"); v != "rt" {
		t.Errorf("set over a scalar: %v", m)
	}
	if v, _ := Lookup(m, "a.b.c"); v != "d" {
		t.Errorf("set with new maps: %v", m)
	}
}
