// Package changelog extracts the release notes of every version between the
// running and the target Pachyderm version, from the GitHub release bodies
// and, where a release has no notes of its own, from a CHANGELOG.md.
package changelog

import (
	"regexp"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Section is the notes of one version as found in the changelog.
type Section struct {
	Version *semver.Version
	// Heading is the heading line as written, kept for diagnostics.
	Heading string
	// Level is the heading's number of '#'.
	Level int
	// Body is the markdown below the heading, up to the next version heading,
	// trimmed. Empty when the changelog has a heading but no notes.
	Body string
}

// Changelog is a parsed CHANGELOG.md.
type Changelog struct {
	// sections are keyed by the canonical version string, so `v2.5.1`,
	// `2.5.1` and `[2.5.1]` all land on one entry.
	sections map[string]*Section
}

// versionHeading matches the text of a heading that names a release. Real
// changelogs write `2.5.1`, `v2.5.1`, `[2.5.1] - 2023-04-01`,
// `[2.5.1](link)` or `Release 2.5.1`; the version must be a full
// MAJOR.MINOR.PATCH so that a heading such as `## 2.x notes` is not taken
// for one.
var versionHeading = regexp.MustCompile(
	`^(?i:(?:release|version|pachyderm)\s+)?\[?[vV]?` +
		`(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)` +
		`\]?(?:\([^)]*\))?(?:$|[\s:(–—-])`)

var atxHeading = regexp.MustCompile(`^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t#]*$`)

// Parse splits markdown into per-version sections. Headings that do not name
// a version (`## Logging`, `### Projects`) belong to the section they appear
// in, whatever their level, because real changelogs put sub-headings at the
// same level as version headings. Text before the first version heading is
// ignored. A version that appears twice has its bodies joined in file order.
func Parse(markdown string) *Changelog {
	c := &Changelog{sections: map[string]*Section{}}
	var cur *Section
	var body []string
	flush := func() {
		if cur == nil {
			return
		}
		text := strings.TrimSpace(strings.Join(body, "\n"))
		if prev, ok := c.sections[canonical(cur.Version)]; ok {
			prev.Body = strings.TrimSpace(prev.Body + "\n\n" + text)
		} else {
			cur.Body = text
			c.sections[canonical(cur.Version)] = cur
		}
		body = nil
	}

	fence := ""
	for _, line := range strings.Split(strings.ReplaceAll(markdown, "\r\n", "\n"), "\n") {
		if f := fenceMarker(line); f != "" {
			switch {
			case fence == "":
				fence = f
			case strings.HasPrefix(f, fence):
				fence = ""
			}
		}
		if fence == "" {
			if level, v, ok := parseVersionHeading(line); ok {
				flush()
				cur = &Section{Version: v, Heading: strings.TrimSpace(line), Level: level}
				continue
			}
		}
		if cur != nil {
			body = append(body, line)
		}
	}
	flush()
	return c
}

// fenceMarker returns the fence characters when line opens or closes a code
// block, so that a `# comment` inside shell examples is not a heading.
func fenceMarker(line string) string {
	t := strings.TrimLeft(line, " ")
	if len(line)-len(t) > 3 {
		return ""
	}
	for _, ch := range []string{"`", "~"} {
		n := 0
		for n < len(t) && t[n:n+1] == ch {
			n++
		}
		if n >= 3 {
			return strings.Repeat(ch, n)
		}
	}
	return ""
}

func parseVersionHeading(line string) (int, *semver.Version, bool) {
	m := atxHeading.FindStringSubmatch(line)
	if m == nil {
		return 0, nil, false
	}
	vm := versionHeading.FindStringSubmatch(strings.TrimSpace(m[2]))
	if vm == nil {
		return 0, nil, false
	}
	v, err := semver.StrictNewVersion(vm[1])
	if err != nil {
		return 0, nil, false
	}
	return len(m[1]), v, true
}

// Section returns the notes of v, if the changelog has a heading for it.
func (c *Changelog) Section(v *semver.Version) (Section, bool) {
	if c == nil || v == nil {
		return Section{}, false
	}
	s, ok := c.sections[canonical(v)]
	if !ok {
		return Section{}, false
	}
	return *s, true
}

// Versions returns every version with a heading, newest first.
func (c *Changelog) Versions() []*semver.Version {
	if c == nil {
		return nil
	}
	out := make([]*semver.Version, 0, len(c.sections))
	for _, s := range c.sections {
		out = append(out, s.Version)
	}
	sortNewestFirst(out)
	return out
}

// canonical drops build metadata: `2.5.1+abc` and `2.5.1` are one release.
func canonical(v *semver.Version) string {
	if v.Metadata() == "" {
		return v.String()
	}
	w, err := v.SetMetadata("")
	if err != nil {
		return v.String()
	}
	return w.String()
}

func sortNewestFirst(vs []*semver.Version) {
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].GreaterThan(vs[j]) })
}
