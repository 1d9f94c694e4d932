package report

import (
	"fmt"
	"strings"

	"github.com/pach-upgrade/pach-upgrade/internal/changelog"
)

// maxPullBodyChars keeps a bump PR's body under GitHub's 65,536-character
// limit.
const maxPullBodyChars = 60000

// ProposeMarker is the hidden text that every bump pull request of one
// release carries, so later runs find it to update or supersede.
func ProposeMarker(namespace, release string) string {
	return "<!-- pach-upgrade:propose:" + namespace + "/" + release + " -->"
}

// BumpTitle is the title of the bump pull request.
func BumpTitle(r *Report) string {
	return fmt.Sprintf("Bump Pachyderm %s/%s to %s", r.Namespace, r.Release, r.ToVersion)
}

// PullRequestBody renders the bump pull request: what changes, the release
// notes of every version in (pinned, target], the plan against the live
// cluster and its pods now. The caller redacts it like any published text.
func PullRequestBody(r *Report, versionFile string) string {
	var b strings.Builder
	b.WriteString(ProposeMarker(r.Namespace, r.Release))
	b.WriteString("\n")
	fmt.Fprintf(&b, "### 🔀 Pachyderm `%s/%s`: %s → %s\n\n", r.Namespace, r.Release, cell(or(r.Pinned, "—")), cell(r.ToVersion))
	fmt.Fprintf(&b, "This pull request pins Pachyderm **%s** in `%s`. Merging it lets the workflow that runs pach-upgrade with `target-version: from-file` upgrade the cluster; closing it skips this version (a newer one is proposed when released).\n\n",
		cell(r.ToVersion), strings.ReplaceAll(versionFile, "`", "'"))
	b.WriteString("| | Pinned | Cluster now | Proposed |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| Pachyderm | %s | %s | %s |\n", cell(or(r.Pinned, "—")), cell(or(r.FromVersion, "—")), cell(or(r.ToVersion, "—")))
	fmt.Fprintf(&b, "| Chart | | %s | %s |\n\n", cell(or(r.FromChart, "—")), cell(or(r.ToChart, "—")))
	warnings(&b, r)

	fmt.Fprintf(&b, "#### Release notes %s → %s\n\n", cell(or(r.Pinned, r.FromVersion)), cell(r.ToVersion))
	if len(r.Notes) > 0 {
		b.WriteString(changelog.Markdown(r.Notes))
	}
	switch {
	case r.NotesWarning != "":
		fmt.Fprintf(&b, "_⚠️ Notes may be incomplete: %s_\n\n", inline(r.NotesWarning))
	case len(r.Notes) == 0:
		b.WriteString("_No release notes were found for these versions._\n\n")
	}
	if r.Plan != nil {
		b.WriteString("#### Plan against the cluster (credentials redacted)\n\n")
		plan(&b, r.Plan, maxCommentDiffChars)
	}
	if len(r.Pods) > 0 {
		b.WriteString("#### Pods now\n\n")
		pods(&b, r.Pods, true, maxCommentPods)
	}
	footer(&b, r)
	out := b.String()
	if len(out) > maxPullBodyChars {
		cut := strings.LastIndex(out[:maxPullBodyChars], "\n")
		out = out[:cut] + "\n\n" + closeOpenBlocks(out[:cut]) +
			"_…cut to fit a pull request; the job summary of the run has everything._\n"
	}
	return out
}
