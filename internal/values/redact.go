package values

import (
	"fmt"
	"strings"
)

// Redacted replaces a credential in redacted values.
const Redacted = "[redacted]"

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
// whose name says it holds a credential (password, token, secret, …)
// anywhere in the tree, so a subchart's or a future chart's credential is
// not missed. Empty strings, nulls and booleans stay as they are, so a diff
// still shows whether a credential is set.
func Redact(values map[string]any) map[string]any {
	out := deepCopyMap(values)
	if out == nil {
		return nil
	}
	paths := extraSecretPaths()
	for _, s := range SecretTable() {
		paths = append(paths, s.PlainKey)
	}
	for _, p := range paths {
		if v, ok := Lookup(out, p); ok && hidable(v) {
			set(out, p, Redacted)
		}
	}
	redactByName(out)
	return out
}

func redactByName(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if sensitiveKey(k) && hidable(e) {
				t[k] = Redacted
				continue
			}
			redactByName(e)
		}
	case []any:
		for _, e := range t {
			redactByName(e)
		}
	}
}

// sensitiveKey says whether a values key holds a credential. Names of
// Secrets and of keys inside Secrets (rootTokenSecretName,
// postgresqlExistingSecretKey) are not credentials and stay readable.
func sensitiveKey(k string) bool {
	k = strings.ToLower(k)
	for _, suffix := range []string{"secretname", "secretkey", "secretref", "secrets"} {
		if strings.HasSuffix(k, suffix) {
			return false
		}
	}
	switch k {
	case "cred", "creds", "credential", "credentials", "upstreamidps", "privatekey", "licensekey":
		return true
	}
	return strings.Contains(k, "password") || strings.Contains(k, "passwd") ||
		strings.HasSuffix(k, "token") || strings.HasSuffix(k, "secret") ||
		strings.HasSuffix(k, "licensekey") || strings.HasSuffix(k, "apikey")
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
