// Package values builds the Helm values of an upgrade (the seed's step 2):
// it layers the user's values, carries the built-in PostgreSQL password
// over, points the chart at the user's existing Secrets, and redacts
// credentials for anything that is shown or stored.
package values

import (
	"strings"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
)

// Merge layers Helm values, later layers winning, the way `helm upgrade -f a
// -f b` does: maps are merged key by key at every depth, while lists and
// scalars are replaced whole. A null in a later layer replaces the earlier
// value with null, which Helm then treats as "remove this key".
//
// The action calls it as Merge(releaseValues, valuesFile, inlineValues), so
// the inline `values` input beats `values-file`, which beats what the
// release was installed or last upgraded with. The layers are not modified
// and the result shares no maps or lists with them.
func Merge(layers ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, l := range layers {
		out = loader.MergeMaps(out, deepCopyMap(l))
	}
	return out
}

// Copy returns a deep copy of values that a caller may change freely; it is
// never nil, so Set can write into it.
func Copy(values map[string]any) map[string]any {
	if values == nil {
		return map[string]any{}
	}
	return deepCopyMap(values)
}

func deepCopyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopy(v)
	}
	return out
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return deepCopyMap(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	default:
		return v
	}
}

// Lookup returns the value at a dotted path such as
// "global.postgresql.postgresqlPassword".
func Lookup(values map[string]any, path string) (any, bool) {
	var cur any = values
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// Set writes a value at a dotted path, creating maps on the way and
// replacing any non-map value that is in the way.
func Set(values map[string]any, path string, v any) {
	keys := strings.Split(path, ".")
	m := values
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
}

// isSet says whether a path holds a value a chart template would treat as
// given: not absent, null, false or an empty string.
func isSet(values map[string]any, path string) bool {
	v, ok := Lookup(values, path)
	if !ok || v == nil {
		return false
	}
	switch t := v.(type) {
	case string:
		return t != ""
	case bool:
		return t
	}
	return true
}
