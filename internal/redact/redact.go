// Package redact holds the project's one rule for what is a credential: in a
// URL (user info, query) and by the name of a key (password, token, …). The
// packages that show values — config's errors, pachctl's download messages,
// values' and helmrelease's redacted values — all call it, so a credential
// hidden in one place is hidden in every other.
package redact

import (
	"net/url"
	"strings"
)

// Markers put in place of a credential. Changed and Added tell a reviewer of
// a plan whether a credential changes without showing it, or anything derived
// from it (a hash of a short password can be brute-forced).
const (
	Marker  = "[redacted]"
	Changed = "[redacted: changed]"
	Added   = "[redacted: added]"
)

// URLMarker replaces a URL's user info or query.
const URLMarker = "REDACTED"

// MinMaskLen is the shortest credential worth registering as a log mask:
// the runner masks every occurrence of a mask in the whole log, and a
// two-letter user name would star out text everywhere. Shorter credentials
// are still cut from every echoed value by URL.
const MinMaskLen = 4

// URL returns s with the user info and the query (and fragment) of every
// URL-like word replaced by REDACTED, so that https://u:PW@host/x?token=T
// reads https://REDACTED@host/x?REDACTED. A word is URL-like when it holds
// "@", "?" or "#"; the user info is everything up to the last "@" before the
// path, so a password with an unescaped "/" or "@" is still hidden whole. It
// works on the text, not a parsed URL, so that an invalid URL (the very one
// an error is about) and template placeholders such as {version} are handled.
func URL(s string) string {
	var b strings.Builder
	rest := s
	for rest != "" {
		i := strings.IndexAny(rest, " \t\r\n")
		if i < 0 {
			b.WriteString(urlWord(rest))
			break
		}
		b.WriteString(urlWord(rest[:i]))
		b.WriteByte(rest[i])
		rest = rest[i+1:]
	}
	return b.String()
}

func urlWord(w string) string {
	if !strings.ContainsAny(w, "@?#") {
		return w
	}
	scheme, authority, tail := splitURL(w)
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		authority = URLMarker + authority[at:]
	}
	if q := strings.IndexAny(tail, "?#"); q >= 0 {
		tail = tail[:q+1] + URLMarker
	}
	return scheme + authority + tail
}

// splitURL splits w into its scheme ("https://"), the authority (user info
// and host) and the rest (path, query, fragment). The authority ends at the
// first "/", "?" or "#" after its last "@", so that a password holding those
// characters stays inside it.
func splitURL(w string) (scheme, authority, tail string) {
	if i := strings.Index(w, "://"); i >= 0 {
		scheme, w = w[:i+3], w[i+3:]
	}
	var start int
	if q := strings.IndexAny(w, "?#"); q >= 0 {
		start = strings.LastIndex(w[:q], "@") + 1
	} else {
		start = strings.LastIndex(w, "@") + 1
	}
	end := len(w)
	if i := strings.IndexAny(w[start:], "/?#"); i >= 0 {
		end = start + i
	}
	return scheme, w[:end], w[end:]
}

// URLCredentials returns what a URL holds that must be masked in logs: its
// user info, password (or the user name when it is the only part, as with a
// token used as user name), its raw query and each query value, escaped and
// not. Parts shorter than MinMaskLen are left out.
func URLCredentials(s string) []string {
	_, authority, tail := splitURL(s)
	var parts []string
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo := authority[:at]
		parts = append(parts, userinfo)
		if user, pass, ok := strings.Cut(userinfo, ":"); ok {
			parts = append(parts, pass)
			if u, err := url.PathUnescape(pass); err == nil {
				parts = append(parts, u)
			}
		} else {
			parts = append(parts, user)
		}
	}
	if q := strings.IndexAny(tail, "?#"); q >= 0 {
		raw := tail[q+1:]
		parts = append(parts, raw)
		for _, kv := range strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == ';' || r == '#' }) {
			_, v, _ := strings.Cut(kv, "=")
			parts = append(parts, v)
			if u, err := url.QueryUnescape(v); err == nil {
				parts = append(parts, u)
			}
		}
	}
	return Maskable(parts)
}

// Maskable returns values without duplicates and without those shorter
// than MinMaskLen, in order.
func Maskable(values []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range values {
		if len(v) >= MinMaskLen && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// SensitiveKey says whether a key — of Helm values, a kubeconfig's
// auth-provider config, an environment variable — names a credential.
// Names of Secrets and of keys inside Secrets (rootTokenSecretName,
// postgresqlExistingSecretKey, oidc.clientSecretKey, imagePullSecrets) are
// not credentials and stay readable; a bare `secretKey` or `secret_key` is
// one (S3's, as determined.checkpointStorage has it), and so is a
// `connection_string` (Azure's carries the AccountKey). Case, "-" and "_"
// are ignored: client-secret, client_secret and clientSecret are one key.
func SensitiveKey(k string) bool {
	k = strings.ToLower(strings.NewReplacer("-", "", "_", "", ".", "").Replace(k))
	for _, name := range []string{"existingsecretkey", "clientsecretkey", "secretkeyref", "secretkeyname"} {
		if strings.HasSuffix(k, name) {
			return false
		}
	}
	for _, suffix := range []string{"secretname", "secretref", "secrets"} {
		if strings.HasSuffix(k, suffix) {
			return false
		}
	}
	switch k {
	case "cred", "creds", "upstreamidps", "dsn":
		return true
	}
	for _, part := range []string{"password", "passwd", "credential", "connectionstring", "connstring"} {
		if strings.Contains(k, part) {
			return true
		}
	}
	for _, suffix := range []string{"token", "secret", "secretkey", "licensekey", "apikey", "accesskey", "privatekey", "accountkey", "sharedkey", "signingkey", "encryptionkey"} {
		if strings.HasSuffix(k, suffix) {
			return true
		}
	}
	return false
}

// SensitiveValue says whether a value carries a credential whatever its key
// is called: a connection string with a password or an account key
// (`AccountKey=…;`, `Password=…`), or a URL with user info.
func SensitiveValue(v string) bool {
	l := strings.ToLower(v)
	for _, part := range []string{"accountkey=", "sharedaccesskey=", "sharedaccesssignature=", "password=", "pwd="} {
		if strings.Contains(l, part) {
			return true
		}
	}
	if i := strings.Index(v, "://"); i >= 0 {
		_, authority, _ := splitURL(strings.Fields(v[i:] + " ")[0])
		return strings.Contains(authority, "@")
	}
	return false
}
