package config

import (
	"net/url"
	"strings"
)

// hidden replaces a URL's user info or query in an echoed value.
const hidden = "***"

// minMaskLen is the shortest URL credential registered as a mask: the runner
// masks every occurrence of a mask in the whole log, and a two-letter user
// name would star out text everywhere. Shorter credentials are still cut from
// every echoed value by RedactURLs.
const minMaskLen = 4

// RedactURLs returns s with the user info and the query (and fragment) of
// every URL-like word replaced by ***, so that an echoed input such as
// https://u:PW@host/x?token=T reads https://***@host/x?***. A word is
// URL-like when it holds "://", "@" or "?"; the user info is everything up to
// the last "@" before the path, so a password with an unescaped "/" or "@"
// is still hidden whole.
func RedactURLs(s string) string {
	var b strings.Builder
	rest := s
	for rest != "" {
		i := strings.IndexAny(rest, " \t\r\n")
		if i < 0 {
			b.WriteString(redactWord(rest))
			break
		}
		b.WriteString(redactWord(rest[:i]))
		b.WriteByte(rest[i])
		rest = rest[i+1:]
	}
	return b.String()
}

func redactWord(w string) string {
	if !strings.ContainsAny(w, "@?#") {
		return w
	}
	scheme, authority, tail := splitURLWord(w)
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		authority = hidden + authority[at:]
	}
	if q := strings.IndexAny(tail, "?#"); q >= 0 {
		tail = tail[:q+1] + hidden
	}
	return scheme + authority + tail
}

// splitURLWord splits w into its scheme ("https://"), the authority (user
// info and host) and the rest (path, query, fragment). The authority ends at
// the first "/", "?" or "#" after its last "@", so that a password holding
// those characters stays inside it.
func splitURLWord(w string) (scheme, authority, tail string) {
	if i := strings.Index(w, "://"); i >= 0 {
		scheme, w = w[:i+3], w[i+3:]
	}
	start := 0
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

// urlCredentials returns what a URL input holds that must be masked in
// logs: its user info, password (or the user name when it is the only part,
// as with a token used as user name), its raw query and each query value.
// Parts shorter than minMaskLen are left out (see minMaskLen).
func urlCredentials(s string) []string {
	_, authority, tail := splitURLWord(s)
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
	var out []string
	seen := map[string]bool{}
	for _, p := range parts {
		if len(p) >= minMaskLen && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// urlInputs are the inputs whose value is a URL or address that may carry
// credentials.
func urlInputs() []string {
	return []string{InputChartRepo, InputPachdAddress, InputPachctlDownloadURL}
}

// URLCredentials returns the credentials found in the URL inputs of raw
// (input name → value), for masking before anything is logged — also when
// the inputs are refused.
func URLCredentials(raw map[string]string) []string {
	var out []string
	for _, in := range urlInputs() {
		out = append(out, urlCredentials(strings.TrimSpace(raw[in]))...)
	}
	return out
}
