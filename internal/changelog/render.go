package changelog

import (
	"fmt"
	"html"
	"strings"
)

// MaxNoteBytes bounds one version's notes in the output: a job summary is
// limited to 1 MiB per step, and a release body can be huge.
const MaxNoteBytes = 32 << 10

// Markdown renders notes, newest first as given, each version in a
// collapsible <details> block with a link to its release; versions without
// notes are one line each. Headings inside the notes are demoted so that a
// `## Logging` sub-heading does not outrank the summary's own headings.
// The notes are quoted (see Quote): summary, comment and bump PR body all
// render them through here.
func Markdown(notes []Note) string {
	if len(notes) == 0 {
		return "_No versions between the current and the target version._\n"
	}
	var b strings.Builder
	for _, n := range notes {
		v := html.EscapeString(canonical(n.Version))
		if n.Origin == OriginNone {
			// A blank line after each entry: markdown after an HTML block
			// renders only once a blank line ends the block.
			fmt.Fprintf(&b, "- **%s** — no notes ([release](%s))\n\n", v, n.URL)
			continue
		}
		from := "CHANGELOG"
		if n.Origin == OriginRelease {
			from = "release notes"
		}
		fmt.Fprintf(&b, "<details><summary><b>%s</b> — %s</summary>\n\n", v, from)
		b.WriteString(Demote(truncate(Quote(n.Body), n.URL)))
		fmt.Fprintf(&b, "\n\n[Release %s](%s)\n\n</details>\n\n", v, n.URL)
	}
	return b.String()
}

// Links renders one line per version with its link and where its notes
// are, for the compact PR comment.
func Links(notes []Note) string {
	var parts []string
	for _, n := range notes {
		label := canonical(n.Version)
		if n.Origin == OriginNone {
			label += " (no notes)"
		}
		parts = append(parts, fmt.Sprintf("[%s](%s)", label, n.URL))
	}
	return strings.Join(parts, " · ")
}

func truncate(body, url string) string {
	if len(body) <= MaxNoteBytes {
		return body
	}
	cut := strings.LastIndex(body[:MaxNoteBytes], "\n")
	if cut < MaxNoteBytes/2 {
		cut = MaxNoteBytes
	}
	// Cutting inside a fenced block would swallow the rest of the summary.
	out := body[:cut]
	if strings.Count(out, "```")%2 == 1 {
		out += "\n```"
	}
	return out + fmt.Sprintf("\n\n_…truncated; the full notes are on the [release page](%s)._", url)
}

// Demote rewrites the headings in body so that the shallowest becomes a
// level-4 heading, keeping their relative depth, outside code blocks.
func Demote(body string) string {
	lines := strings.Split(body, "\n")
	top := 7
	fence := ""
	visit := func(f func(i, level int, text string)) {
		fence = ""
		for i, line := range lines {
			if m := fenceMarker(line); m != "" {
				switch {
				case fence == "":
					fence = m
				case strings.HasPrefix(m, fence):
					fence = ""
				}
				continue
			}
			if fence != "" {
				continue
			}
			if m := atxHeading.FindStringSubmatch(line); m != nil {
				f(i, len(m[1]), m[2])
			}
		}
	}
	visit(func(_, level int, _ string) {
		if level < top {
			top = level
		}
	})
	if top >= 4 {
		return body
	}
	visit(func(i, level int, text string) {
		l := level - top + 4
		if l > 6 {
			l = 6
		}
		lines[i] = strings.Repeat("#", l) + " " + text
	})
	return strings.Join(lines, "\n")
}
