package report

import (
	"strings"
	"testing"
	"time"
)

// A background step shows its own time and the time the run waited on it,
// and only the wait counts in the run's total.
func TestBackgroundStepShowsItsWait(t *testing.T) {
	r := &Report{Result: ResultUpgraded, Release: "pachd", Namespace: "ns", Steps: []Step{
		{Name: "Release notes", Duration: 2 * time.Second, Outcome: OutcomeOK, Background: true, Waited: 300 * time.Millisecond},
		{Name: "Install pachctl", Duration: time.Second, Outcome: OutcomeOK, Background: true},
		{Name: "Helm upgrade", Duration: time.Second, Outcome: OutcomeOK},
	}}
	c := Comment(r)
	for _, want := range []string{"2s in background, run waited 300ms", "1s in background, run did not wait", "Steps (3, 1.3s)"} {
		if !strings.Contains(c, want) {
			t.Errorf("comment does not say %q:\n%s", want, c)
		}
	}
}
