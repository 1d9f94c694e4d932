package report

import (
	"strings"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/github"
)

// TestPlanCannotCarryAForeignMarker: values from a pull request show in
// the plan's values diff. Carrying production's propose marker there would
// make production's next run supersede (close) staging's bump PR, and a
// sticky-comment marker would be found in the wrong text. Only the body's
// own marker may be found.
func TestPlanCannotCarryAForeignMarker(t *testing.T) {
	r := proposed()
	foreign := []string{ProposeMarker("production", "pachd"), github.Marker("production", "pachd")}
	r.Plan.ValuesDiff = "--- a\n+++ b\n@@ -1 +1 @@\n-x: 1\n+x: \"" + strings.Join(foreign, " ") + "\"\n"
	for name, text := range map[string]string{
		"PR body": PullRequestBody(r, "v.yaml#pachyderm.version"),
		"comment": Comment(r),
		"summary": Summary(r),
	} {
		for _, m := range foreign {
			if strings.Contains(text, m) {
				t.Errorf("%s carries the foreign marker %s", name, m)
			}
		}
	}
	if body := PullRequestBody(r, "v.yaml#pachyderm.version"); strings.Count(body, ProposeMarker("staging", "pachd")) != 1 {
		t.Errorf("the PR body's own marker is not there exactly once")
	}
}
