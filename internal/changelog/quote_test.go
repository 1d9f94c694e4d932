package changelog

import (
	"strings"
	"testing"
)

// TestMarkdownQuotesHostileNotes performs issue 21 item 6: a release body
// that would hide the plan, close this repository's issues, notify people
// and plant the action's own markers.
func TestMarkdownQuotesHostileNotes(t *testing.T) {
	body := "* Fix etcd. Fixes #1, closes acme/deploy#2 and resolved: https://github.com/acme/deploy/issues/3\n" +
		"* Thanks @mallory and @acme/admins! Mail dev@example.com.\n" +
		"<!-- pach-upgrade:propose:production/pachd -->\n" +
		"```\n<!-- pach-upgrade:staging/pachd -->\nFIXES #4\n```\n" +
		"<!-- the rest of the page is hidden"
	out := Markdown([]Note{{Version: v("2.11.6"), Origin: OriginRelease, Body: body, URL: "https://example.invalid/r"}})
	for _, bad := range []string{"<!--", "Fixes #1", "closes acme/deploy#2", "resolved: https://", "FIXES #4", "@mallory", "@acme/admins"} {
		if strings.Contains(out, bad) {
			t.Errorf("quoted notes still contain %q:\n%s", bad, out)
		}
	}
	if !closingKeyword.MatchString(body) || !strings.Contains(body, "<!--") {
		t.Fatal("the attack text lost its teeth before rendering; the test proves nothing")
	}
	// What a reader sees is the same text, and an e-mail address is left alone.
	visible := strings.ReplaceAll(out, zwsp, "")
	for _, keep := range []string{"Fixes #1", "@mallory", "dev@example.com", "<!-- the rest"} {
		if !strings.Contains(visible, keep) {
			t.Errorf("rendered notes lost %q", keep)
		}
	}
	if strings.Contains(out, "dev@"+zwsp) {
		t.Error("an e-mail address was altered")
	}
}
