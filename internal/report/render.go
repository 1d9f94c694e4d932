package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/changelog"
)

// Limits keep the comment under GitHub's 65,536-character limit for a
// comment body, and the summary well under the 1 MiB step summary limit.
const (
	maxCommentChars     = 60000
	maxCommentDiffChars = 15000
	maxCommentPods      = 40
	maxSummaryDiffChars = 200000
)

// Summary renders the full job summary.
func Summary(r *Report) string {
	var b strings.Builder
	title(&b, r, "##")
	fromTo(&b, r)
	pullRequest(&b, r)
	warnings(&b, r)
	failure(&b, r, 0)

	if len(r.Steps) > 0 {
		b.WriteString("### Steps\n\n")
		steps(&b, r.Steps)
	}
	if len(r.Pods) > 0 {
		b.WriteString("### Pods\n\n")
		pods(&b, r.Pods, true, 0)
	}
	if len(r.Versions) > 0 {
		b.WriteString("### Versions\n\n")
		versions(&b, r.Versions)
	}
	database(&b, r.Database)
	if len(r.Generated) > 0 {
		b.WriteString("### Generated values\n\n")
		generated(&b, r.Generated)
	}
	if r.Plan != nil {
		b.WriteString("### Plan\n\n")
		plan(&b, r.Plan, maxSummaryDiffChars)
	}
	if len(r.Notes) > 0 || r.NotesWarning != "" {
		fmt.Fprintf(&b, "### Release notes %s → %s\n\n", r.FromVersion, r.ToVersion)
		b.WriteString(changelog.Markdown(r.Notes))
		if r.NotesWarning != "" {
			fmt.Fprintf(&b, "_⚠️ Notes may be incomplete: %s_\n\n", inline(r.NotesWarning))
		}
	}
	footer(&b, r)
	return b.String()
}

// Comment renders the compact PR comment, starting with the hidden marker
// that makes it sticky.
func Comment(r *Report) string {
	var b strings.Builder
	b.WriteString(r.Marker())
	b.WriteString("\n")
	title(&b, r, "###")
	fromTo(&b, r)
	warnings(&b, r)
	failure(&b, r, 2000)
	// Pods and versions come before the steps: they are what a reviewer
	// checks, and what survives if the comment must be cut.
	if len(r.Pods) > 0 {
		pods(&b, r.Pods, false, maxCommentPods)
	}
	if len(r.Versions) > 0 {
		versions(&b, r.Versions)
	}
	if len(r.Steps) > 0 {
		var total time.Duration
		for _, s := range r.Steps {
			total += s.RunTime()
		}
		open := ""
		for _, s := range r.Steps {
			if s.Outcome == OutcomeFailed {
				open = " open"
			}
		}
		fmt.Fprintf(&b, "<details%s><summary>Steps (%d, %s)</summary>\n\n", open, len(r.Steps), duration(total))
		steps(&b, r.Steps)
		b.WriteString("</details>\n\n")
	}
	if len(r.Generated) > 0 {
		b.WriteString("<details><summary>Generated values</summary>\n\n")
		generated(&b, r.Generated)
		b.WriteString("</details>\n\n")
	}
	if r.Plan != nil {
		plan(&b, r.Plan, maxCommentDiffChars)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(&b, "**Release notes:** %s\n\n", changelog.Links(r.Notes))
	}
	footer(&b, r)
	out := b.String()
	if len(out) > maxCommentChars {
		// Cut at a line, and close whatever block the cut left open, so
		// the comment still renders; the summary has everything.
		cut := strings.LastIndex(out[:maxCommentChars], "\n")
		out = out[:cut] + "\n\n" + closeOpenBlocks(out[:cut]) +
			"_…cut to fit a comment; the job summary has the full report._\n"
	}
	return out
}

func title(b *strings.Builder, r *Report, level string) {
	fmt.Fprintf(b, "%s %s Pachyderm `%s/%s`: %s\n\n", level, r.Result.Icon(), r.Namespace, r.Release, r.Result.Headline())
}

func fromTo(b *strings.Builder, r *Report) {
	if r.FromVersion == "" && r.ToVersion == "" {
		return
	}
	b.WriteString("| | From | To |\n|---|---|---|\n")
	fmt.Fprintf(b, "| Pachyderm | %s | %s |\n", cell(or(r.FromVersion, "—")), cell(or(r.ToVersion, "—")))
	if r.FromChart != "" || r.ToChart != "" {
		fmt.Fprintf(b, "| Chart | %s | %s |\n", cell(or(r.FromChart, "—")), cell(or(r.ToChart, "—")))
	}
	b.WriteString("\n")
}

func pullRequest(b *strings.Builder, r *Report) {
	pr := r.PullRequest
	if pr == nil {
		return
	}
	verb := "Updated"
	if pr.Created {
		verb = "Opened"
	}
	fmt.Fprintf(b, "%s pull request [#%d](%s) from `%s`", verb, pr.Number, pr.URL, cell(pr.Branch))
	if r.Pinned != "" {
		fmt.Fprintf(b, ", bumping the pinned %s to %s", cell(r.Pinned), cell(r.ToVersion))
	}
	b.WriteString(".")
	for _, n := range pr.Superseded {
		fmt.Fprintf(b, " Closed #%d, which it supersedes.", n)
	}
	b.WriteString("\n\n")
}

func warnings(b *strings.Builder, r *Report) {
	for _, w := range r.Warnings {
		fmt.Fprintf(b, "> [!WARNING]\n> %s\n\n", inline(w))
	}
}

func failure(b *strings.Builder, r *Report, limit int) {
	if r.Failure != "" {
		b.WriteString("**What failed:**\n\n")
		text := r.Failure
		if limit > 0 && len(text) > limit {
			text = text[:limit] + "\n…"
		}
		codeBlock(b, "text", text)
	}
	if c := r.Cancelled; c != nil {
		b.WriteString("> [!IMPORTANT]\n> **Cancelled**")
		if c.Step != "" {
			fmt.Fprintf(b, " during step **%s**", inline(c.Step))
		}
		if c.Cause != "" {
			fmt.Fprintf(b, " (%s)", inline(c.Cause))
		}
		b.WriteString(".\n")
		if c.State != "" {
			fmt.Fprintf(b, "> **Release left as:** %s.\n", inline(c.State))
		}
		if c.Recovery != "" {
			fmt.Fprintf(b, "> **Next run:** %s\n", inline(c.Recovery))
		}
		b.WriteString("\n")
	}
	databaseRecovery(b, r)
	if rb := r.RolledBack; rb != nil {
		switch {
		case rb.Err != "":
			fmt.Fprintf(b, "> [!CAUTION]\n> The rollback failed: %s. The release is neither at the old nor at the new revision and needs a human.\n\n",
				inline(rb.Err))
			b.WriteString("**To recover by hand:**\n\n")
			for i, step := range RecoverySteps(r) {
				fmt.Fprintf(b, "%d. %s\n", i+1, step)
			}
			b.WriteString("\n")
		default:
			fmt.Fprintf(b, "**Rolled back** to revision %d", rb.Revision)
			if rb.Version != "" {
				fmt.Fprintf(b, " (Pachyderm %s)", cell(rb.Version))
			}
			b.WriteString(", and it is Ready again.\n\n")
		}
	}
}

// RecoverySteps are the commands that bring the release back by hand after
// a failed rollback, exact for this release and namespace.
func RecoverySteps(r *Report) []string {
	rel, ns := shellWord(r.Release), shellWord(r.Namespace)
	rev := "<revision>"
	if r.RolledBack != nil && r.RolledBack.Revision > 0 {
		rev = fmt.Sprint(r.RolledBack.Revision)
	}
	return []string{
		fmt.Sprintf("See the revisions and which one is deployed: `helm history %s -n %s`", rel, ns),
		fmt.Sprintf("Find why the pods are not Ready: `kubectl get pods -n %s`, then `kubectl describe pod <pod> -n %s` "+
			"and `kubectl get events -n %s --sort-by=.lastTimestamp` (image pulls, probes, quotas, volumes)", ns, ns, ns),
		fmt.Sprintf("Once the cause is fixed, roll back to revision %s (Pachyderm %s) and wait for it: "+
			"`helm rollback %s %s -n %s --wait --timeout 10m`", rev, or(rollbackVersion(r), r.FromVersion), rel, rev, ns),
		fmt.Sprintf("Check that every pod is Ready and pachd answers: `kubectl get pods -n %s`, `pachctl version`", ns),
		"If `helm rollback` answers that another operation is in progress (status pending-rollback), " +
			"run pach-upgrade again with `recover-pending: true`: it marks the interrupted revision failed and rolls back",
	}
}

func rollbackVersion(r *Report) string {
	if r.RolledBack != nil {
		return r.RolledBack.Version
	}
	return ""
}

// shellWord quotes s for a shell when it holds anything but the
// characters Kubernetes names use.
func shellWord(s string) string {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

func steps(b *strings.Builder, ss []Step) {
	b.WriteString("| Step | Outcome | Duration | Detail |\n|---|---|---:|---|\n")
	for _, s := range ss {
		took := duration(s.Duration)
		if s.Background {
			if s.Waited >= time.Millisecond {
				took += " in background, run waited " + duration(s.Waited)
			} else {
				took += " in background, run did not wait"
			}
		}
		fmt.Fprintf(b, "| %s | %s %s | %s | %s |\n", cell(s.Name), s.Outcome.Icon(), s.Outcome, took, cell(s.Detail))
	}
	b.WriteString("\n")
}

func pods(b *strings.Builder, ps []Pod, withAge bool, limit int) {
	if withAge {
		b.WriteString("| Pod | Ready | Status | Restarts | Image tag | Age |\n|---|---|---|---:|---|---:|\n")
	} else {
		b.WriteString("| Pod | Ready | Status | Restarts | Image tag |\n|---|---|---|---:|---|\n")
	}
	for i, p := range ps {
		if limit > 0 && i == limit {
			fmt.Fprintf(b, "\n_…and %d more pods; see the job summary._\n", len(ps)-limit)
			break
		}
		fmt.Fprintf(b, "| %s | %s | %s | %d | %s |", cell(p.Name), cell(p.Ready), cell(p.Status), p.Restarts, cell(or(p.ImageTag, "—")))
		if withAge {
			fmt.Fprintf(b, " %s |", age(p.Age))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

func versions(b *strings.Builder, vs []ComponentVersion) {
	b.WriteString("| Component | Version | Expected | |\n|---|---|---|---|\n")
	for _, v := range vs {
		mark := ""
		switch {
		case v.Want == "":
		case v.Version == v.Want:
			mark = "✅"
		default:
			mark = "❌"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", cell(v.Component), cell(or(v.Version, "—")), cell(v.Want), mark)
	}
	b.WriteString("\n")
}

// generated lists what the chart generates, by object and field, never a
// value: first what was carried over, with the values key that pins it for
// good, then what was left as the chart renders it.
func generated(b *strings.Builder, fs []GeneratedField) {
	carried := 0
	for _, f := range fs {
		if f.Carried {
			carried++
		}
	}
	fmt.Fprintf(b, "The chart generates %d field(s) anew at every render; %d kept their live value.\n\n", len(fs), carried)
	b.WriteString("| Object | Field | Kept | Pin for good with | Note |\n|---|---|---|---|---|\n")
	for _, carriedFirst := range []bool{true, false} {
		for _, f := range fs {
			if f.Carried != carriedFirst {
				continue
			}
			kept := "✅ " + f.How
			if !f.Carried {
				kept = "— " + f.How
			}
			key := "—"
			if f.ValuesKey != "" {
				key = "`" + strings.ReplaceAll(f.ValuesKey, "`", "'") + "`"
			}
			fmt.Fprintf(b, "| %s | `%s` | %s | %s | %s |\n", cell(f.Object), strings.ReplaceAll(f.Path, "`", "'"), cell(kept), key, cell(f.Note))
		}
	}
	b.WriteString("\n")
}

func plan(b *strings.Builder, p *Plan, limit int) {
	for _, d := range []struct{ name, diff string }{{"Values diff", p.ValuesDiff}, {"Manifest diff", p.ManifestDiff}} {
		if strings.TrimSpace(d.diff) == "" {
			fmt.Fprintf(b, "**%s:** no change.\n\n", d.name)
			continue
		}
		text := d.diff
		note := ""
		if len(text) > limit {
			cut := strings.LastIndex(text[:limit], "\n")
			if cut <= 0 {
				cut = limit
			}
			note = fmt.Sprintf("_…%d more bytes not shown._\n\n", len(text)-cut)
			text = text[:cut]
		}
		fmt.Fprintf(b, "<details><summary>%s (%d lines)</summary>\n\n", d.name, strings.Count(strings.TrimRight(d.diff, "\n"), "\n")+1)
		// Values may come from a pull request: quoted like release notes,
		// so that no marker of ours can be planted through them.
		codeBlock(b, "diff", changelog.Quote(text))
		b.WriteString(note)
		b.WriteString("</details>\n\n")
	}
}

func footer(b *strings.Builder, r *Report) {
	var parts []string
	if r.BackupPath != "" {
		parts = append(parts, fmt.Sprintf("Backup: `%s`", strings.ReplaceAll(r.BackupPath, "`", "'")))
	}
	if r.Mode != "" {
		parts = append(parts, "Mode: `"+r.Mode+"`")
	}
	if r.RunURL != "" {
		parts = append(parts, fmt.Sprintf("[Workflow run](%s)", r.RunURL))
	}
	if len(parts) > 0 {
		b.WriteString(strings.Join(parts, " · "))
		b.WriteString("\n")
	}
}

// codeBlock fences text with more backticks than it contains in a row, so
// that a diff of a file with its own fences cannot end the block early.
func codeBlock(b *strings.Builder, lang, text string) {
	longest, run := 0, 0
	for _, c := range text {
		if c == '`' {
			run++
			if run > longest {
				longest = run
			}
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", max(3, longest+1))
	fmt.Fprintf(b, "%s%s\n%s\n%s\n\n", fence, lang, strings.TrimRight(text, "\n"), fence)
}

// closeOpenBlocks returns what closes the code fences and <details> that
// the cut text leaves open.
func closeOpenBlocks(text string) string {
	var out strings.Builder
	fence := ""
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "```") {
			f := t[:len(t)-len(strings.TrimLeft(t, "`"))]
			switch {
			case fence == "":
				fence = f
			case f == fence && len(t) == len(f):
				fence = ""
			}
		}
	}
	if fence != "" {
		out.WriteString(fence + "\n\n")
	}
	for n := strings.Count(text, "<details") - strings.Count(text, "</details>"); n > 0; n-- {
		out.WriteString("</details>\n\n")
	}
	return out.String()
}

// cell makes s safe inside a table cell: one line, no column breaks, no
// HTML.
func cell(s string) string {
	s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "|", "\\|").Replace(s)
	s = strings.ReplaceAll(strings.TrimSpace(s), "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "<br>")
}

func inline(s string) string {
	return strings.ReplaceAll(cell(s), "<br>", " ")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// age is formatted as kubectl shows it.
func age(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
