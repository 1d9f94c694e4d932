package changelog

import (
	"regexp"
	"strings"
)

// zwsp is a zero-width space: invisible where it is rendered, and it breaks
// the token GitHub would otherwise act on.
const zwsp = "\u200b"

var (
	// mention is `@login` or `@org/team` not preceded by a word character
	// (an e-mail address's `@` is).
	mention = regexp.MustCompile(`(?m)(^|[^\w@])@([A-Za-z0-9])`)
	// closingKeyword is one of GitHub's keywords that close an issue when a
	// pull request carrying it merges, followed by a reference: `#1`,
	// `owner/repo#1`, `GH-1` or an issue URL.
	closingKeyword = regexp.MustCompile(`(?i)\b(close[sd]?|fix(?:e[sd])?|resolve[sd]?)(:?[ \t]+)(#\d|[\w.-]+/[\w.-]+#\d|gh-\d|https?://)`)
)

// Quote makes text written by others, release notes from the internet,
// safe to quote inside what the action publishes (job summary, PR comment,
// bump PR body):
//   - `<!--` cannot open an HTML comment, which would hide the rest of the
//     page (the plan under the notes), and cannot spell one of the
//     action's hidden markers, which later runs search for as plain text;
//   - `Fixes #1` and the other closing keywords cannot close this
//     repository's issues when the bump PR merges;
//   - `@user` and `@org/team` notify nobody.
//
// It works on the raw text, code blocks included: a marker in a code block
// is still found by a plain-text search, and a parser that disagreed with
// GitHub's about where code ends would let the rest through. The cost is an
// invisible character in the odd `@` or `Fixes #` inside code.
func Quote(body string) string {
	body = strings.ReplaceAll(body, "<!--", "<"+zwsp+"!--")
	body = closingKeyword.ReplaceAllStringFunc(body, func(m string) string {
		return m[:1] + zwsp + m[1:]
	})
	// Applied twice, since a match consumes the character before the
	// next `@` in "@a @b".
	for range 2 {
		body = mention.ReplaceAllString(body, "${1}@"+zwsp+"${2}")
	}
	return body
}
