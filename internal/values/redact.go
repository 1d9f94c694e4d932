package values

import (
	"fmt"
	"reflect"

	"github.com/pach-upgrade/pach-upgrade/internal/redact"
)

// Markers that replace a credential in redacted values: the project's one
// set (see package redact).
const (
	Redacted        = redact.Marker
	RedactedChanged = redact.Changed
	RedactedAdded   = redact.Added
)

// extraSecretPaths are credentials in the Pachyderm chart's values that are
// not in the seed's table but must not be shown either.
func extraSecretPaths() []string {
	return []string{
		"global.postgresql.postgresqlPostgresPassword",
		"postgresql.postgresqlPassword",
		"postgresql.postgresqlPostgresPassword",
		"pachd.enterpriseServerToken",
		"pachd.storage.amazon.id",
		"pachd.storage.amazon.secret",
		"pachd.storage.amazon.token",
		"pachd.storage.google.cred",
		"pachd.storage.microsoft.secret",
		"pachd.storage.minio.secret",
	}
}

// Redact returns a copy of values in which every credential is replaced by
// Redacted, for diffs, backups and reports. It redacts the plain-value
// column of the secrets table, other known credential paths, and any key
// that redact.SensitiveKey calls a credential (password, token, secret, …)
// anywhere in the tree, so a subchart's or a future chart's credential is
// not missed. Empty strings, nulls and booleans stay as they are, so a diff
// still shows whether a credential is set.
func Redact(values map[string]any) map[string]any {
	if values == nil {
		return nil
	}
	out, _ := redactTree(values, nil, "", secretPaths(), false).(map[string]any)
	return out
}

// RedactChanges redacts proposed as Redact does, but each marker also says
// whether the credential differs from the same path in current
// (RedactedChanged) or is new (RedactedAdded), so that a plan shows a changed
// password as changed without showing it.
func RedactChanges(proposed, current map[string]any) map[string]any {
	if proposed == nil {
		return nil
	}
	out, _ := redactTree(proposed, current, "", secretPaths(), true).(map[string]any)
	return out
}

func secretPaths() map[string]bool {
	paths := map[string]bool{}
	for _, p := range extraSecretPaths() {
		paths[p] = true
	}
	for _, s := range SecretTable() {
		paths[s.PlainKey] = true
	}
	return paths
}

// redactTree copies v, replacing each hidable value under a credential key
// or path; prev is the same subtree of the current values, for compare.
func redactTree(v, prev any, path string, paths map[string]bool, compare bool) any {
	switch t := v.(type) {
	case map[string]any:
		pm, _ := prev.(map[string]any)
		out := make(map[string]any, len(t))
		for k, e := range t {
			p := k
			if path != "" {
				p = path + "." + k
			}
			pv, had := pm[k]
			if (paths[p] || redact.SensitiveKey(k) || sensitiveString(e)) && hidable(e) {
				out[k] = marker(compare, had, pv, e)
				continue
			}
			out[k] = redactTree(e, pv, p, paths, compare)
		}
		return out
	case []any:
		pl, _ := prev.([]any)
		out := make([]any, len(t))
		for i, e := range t {
			var pv any
			if i < len(pl) {
				pv = pl[i]
			}
			if sensitiveString(e) {
				out[i] = marker(compare, i < len(pl), pv, e)
				continue
			}
			out[i] = redactTree(e, pv, path, paths, compare)
		}
		return out
	}
	return v
}

// sensitiveString is a string value that carries a credential under any key
// (redact.SensitiveValue): a connection string or a URL with user info.
func sensitiveString(v any) bool {
	s, ok := v.(string)
	return ok && redact.SensitiveValue(s)
}

func marker(compare, had bool, prev, value any) string {
	switch {
	case !compare:
		return Redacted
	case !had:
		return RedactedAdded
	case !reflect.DeepEqual(prev, value):
		return RedactedChanged
	}
	return Redacted
}

func hidable(v any) bool {
	switch t := v.(type) {
	case nil, bool:
		return false
	case string:
		return t != ""
	}
	return true
}

// Values are Helm values that may hold credentials. They print redacted
// with every fmt verb, so a stray log line cannot leak the PostgreSQL
// password; pass them to Helm as a plain map.
type Values map[string]any

// String returns the values redacted.
func (v Values) String() string { return fmt.Sprintf("%v", map[string]any(Redact(v))) }

// Format prints the values redacted, whatever the verb.
func (v Values) Format(f fmt.State, _ rune) { fmt.Fprint(f, v.String()) }

// Masked are credential values the caller must register with the logger's
// masking (AddMask) before logging anything. They never print.
type Masked []string

// String says only how many values there are.
func (m Masked) String() string { return fmt.Sprintf("[%d masked values]", len(m)) }

// Format prints String, whatever the verb.
func (m Masked) Format(f fmt.State, _ rune) { fmt.Fprint(f, m.String()) }
