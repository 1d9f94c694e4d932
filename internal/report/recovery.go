package report

import (
	"fmt"
	"strings"
)

// databaseRecovery shows, in the summary and the comment alike, the steps
// a person must take when the run left the new revision because the
// database cannot go back by a rollback alone.
func databaseRecovery(b *strings.Builder, r *Report) {
	d := r.Database
	if d == nil || len(d.RecoverySteps) == 0 {
		return
	}
	b.WriteString("> [!CAUTION]\n> **Not rolled back:** " + inline(d.Recovery) + ".\n\n")
	b.WriteString("**To recover by hand:**\n\n")
	for i, s := range d.RecoverySteps {
		b.WriteString(fmt.Sprintf("%d. %s\n", i+1, s))
	}
	b.WriteString("\n")
}
