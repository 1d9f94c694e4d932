package report

import (
	"strings"
	"testing"
)

func proposed() *Report {
	r := planned()
	r.Result, r.Mode, r.Pinned, r.NotesWarning = ResultProposed, "propose", "2.11.4", ""
	r.Pods = upgraded().Pods
	r.PullRequest = &PullRequest{Number: 7, URL: "https://github.com/acme/platform/pull/7", Branch: "pach-upgrade/pachd-2.11.6", Created: true, Superseded: []int{5}}
	return r
}

func TestPullRequestBodyCarriesNotesPlanPodsAndMarker(t *testing.T) {
	r := proposed()
	body := PullRequestBody(r, "deploy/values.yaml#pachyderm.version")
	if !strings.HasPrefix(body, ProposeMarker("staging", "pachd")+"\n") {
		t.Errorf("body does not start with the marker:\n%s", body)
	}
	for _, want := range []string{
		"2.11.4 → 2.11.6", "`deploy/values.yaml#pachyderm.version`", "target-version: from-file",
		"Fix pipeline restarts",                       // notes
		"image: pachyderm/pachd:2.11.6", "(redacted)", // plan
		"| pachd-6c9d8f7b5-x2x9q |", // pods
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if got := BumpTitle(r); got != "Bump Pachyderm staging/pachd to 2.11.6" {
		t.Errorf("title %q", got)
	}
	sum := Summary(r)
	if !strings.Contains(sum, "Opened pull request [#7](https://github.com/acme/platform/pull/7)") || !strings.Contains(sum, "Closed #5") {
		t.Errorf("summary does not link the PR:\n%s", sum)
	}
}

func TestPullRequestBodyFitsGitHubLimit(t *testing.T) {
	r := proposed()
	r.Plan.ManifestDiff = strings.Repeat("+ a long manifest line of a very large chart\n", 5000)
	r.Notes[0].Body = strings.Repeat("* a long release note line\n", 3000)
	body := PullRequestBody(r, "VERSION")
	if len(body) > 65536 || !strings.HasPrefix(body, ProposeMarker("staging", "pachd")) {
		t.Errorf("body is %d characters (limit 65536) or lost its marker", len(body))
	}
	if strings.Count(body, "<details")-strings.Count(body, "</details>") != 0 {
		t.Errorf("cut body leaves a <details> open")
	}
}
