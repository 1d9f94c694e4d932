package changelog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/Masterminds/semver/v3"
)

func fixture(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "changelog", "CHANGELOG.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func v(s string) *semver.Version { return semver.MustParse(s) }

func versions(ss ...string) []*semver.Version {
	var out []*semver.Version
	for _, s := range ss {
		out = append(out, v(s))
	}
	return out
}

func TestParseIrregularHeadings(t *testing.T) {
	cl := Parse(fixture(t))
	var got []string
	for _, x := range cl.Versions() {
		got = append(got, x.String())
	}
	want := "2.5.3 2.5.2 2.5.1 2.5.0 2.5.0-rc.1 2.4.6 2.4.5 2.4.4 2.4.1 2.4.0 2.3.9"
	if strings.Join(got, " ") != want {
		t.Fatalf("versions = %v\nwant      %s", got, want)
	}
	cases := []struct {
		version  string
		contains []string
		excludes []string
	}{
		// Heading with a trailing space.
		{"2.5.1", []string{"pgbouncer pg_isready"}, []string{"Projects"}},
		// `v` prefix, with sub-headings one and two levels down.
		{"2.5.0", []string{"### Projects", "#### Bugs/Fixes", "Fix datum logger"}, []string{"Release candidate"}},
		// `[2.4.6] - date`.
		{"2.4.6", []string{"pg_isready"}, nil},
		// A level-1 heading among level-2 ones.
		{"2.4.5", []string{"path range requests"}, []string{"pg_isready"}},
		// `## Logging` at the version headings' level stays inside 2.4.0,
		// as does a `# ` line inside a code block.
		{"2.4.0", []string{"## Logging", "loki timeout", "# 2.9.9 is a shell comment", "**Full Changelog**"}, []string{"out of order"}},
		// Out of order.
		{"2.4.1", []string{"out of order"}, nil},
		// No blank line before the next heading.
		{"2.5.2", []string{"Debug dump fix"}, []string{"pg_isready"}},
	}
	for _, tc := range cases {
		s, ok := cl.Section(v(tc.version))
		if !ok {
			t.Errorf("%s: no section", tc.version)
			continue
		}
		for _, c := range tc.contains {
			if !strings.Contains(s.Body, c) {
				t.Errorf("%s: body lacks %q:\n%s", tc.version, c, s.Body)
			}
		}
		for _, c := range tc.excludes {
			if strings.Contains(s.Body, c) {
				t.Errorf("%s: body has %q:\n%s", tc.version, c, s.Body)
			}
		}
	}
	if s, ok := cl.Section(v("2.4.4")); !ok || s.Body != "" {
		t.Errorf("2.4.4 should be present and empty: %q %v", s.Body, ok)
	}
	if _, ok := cl.Section(v("2.9.9")); ok {
		t.Error("a heading inside a code block was taken for a version")
	}
}

func TestParseHeadingForms(t *testing.T) {
	cases := map[string]string{
		"## 2.5.1":                   "2.5.1",
		"## 2.5.1   ":                "2.5.1",
		"## v2.5.1":                  "2.5.1",
		"## V2.5.1":                  "2.5.1",
		"## [2.5.1] - 2023-04-01":    "2.5.1",
		"## [v2.5.1](https://x/y)":   "2.5.1",
		"# 2.5.1":                    "2.5.1",
		"### 2.5.1 (2023-04-01)":     "2.5.1",
		"## Release 2.5.1":           "2.5.1",
		"## 2.5.1: security fixes":   "2.5.1",
		"## 2.6.0-rc.2":              "2.6.0-rc.2",
		"   ## 2.5.1 ##":             "2.5.1",
		"## Logging":                 "",
		"## 2.5":                     "",
		"## 2.5.x backports":         "",
		"##2.5.1":                    "",
		"    ## 2.5.1":               "",
		"* 2.5.1 bump":               "",
		"## 2.5.1.4":                 "",
		"## Upgrading from 2.5.1":    "",
		"####### 2.5.1":              "",
		"## 12.345.6789 - big":       "12.345.6789",
		"## [2.5.1]":                 "2.5.1",
		"## 2.5.1+build.7 (rebuild)": "2.5.1+build.7",
	}
	for line, want := range cases {
		_, got, ok := parseVersionHeading(line)
		if want == "" {
			if ok {
				t.Errorf("%q parsed as version %s", line, got)
			}
			continue
		}
		if !ok || got.String() != want {
			t.Errorf("%q: got %v %v, want %s", line, got, ok, want)
		}
	}
}

func TestParseDuplicateAndCRLF(t *testing.T) {
	cl := Parse("## 2.5.1\r\n- one\r\n## 2.5.0\r\n- zero\r\n## v2.5.1\r\n- two\r\n")
	s, ok := cl.Section(v("2.5.1"))
	if !ok || !strings.Contains(s.Body, "one") || !strings.Contains(s.Body, "two") || strings.Contains(s.Body, "\r") {
		t.Fatalf("2.5.1 = %q", s.Body)
	}
	if s, _ := cl.Section(v("2.5.0")); s.Body != "- zero" {
		t.Fatalf("2.5.0 = %q", s.Body)
	}
	if got := Parse("").Versions(); len(got) != 0 {
		t.Fatalf("empty changelog has versions %v", got)
	}
}

func TestSelectRange(t *testing.T) {
	cl := Parse(fixture(t))
	link := ReleaseLink("https://ghes.example.com/", "pachyderm/pachyderm")
	// 2.4.2 and 2.4.3 were released but have no section; 2.6.0 is beyond
	// the target.
	released := versions("2.4.2", "2.4.3", "2.5.3", "2.6.0", "2.4.0")
	notes := Select(cl, v("2.4.0"), v("2.5.1"), released, link)
	var got []string
	for _, n := range notes {
		got = append(got, n.Version.String()+":"+string(n.Origin))
	}
	want := "2.5.1:changelog 2.5.0:changelog 2.4.6:changelog 2.4.5:changelog 2.4.4:none 2.4.3:none 2.4.2:none 2.4.1:changelog"
	if strings.Join(got, " ") != want {
		t.Fatalf("notes = %v\nwant    %s", got, want)
	}
	if notes[4].URL != "https://ghes.example.com/pachyderm/pachyderm/releases/tag/v2.4.4" {
		t.Errorf("URL = %s", notes[4].URL)
	}
	// A pre-release target includes itself.
	notes = Select(cl, v("2.4.6"), v("2.5.0-rc.1"), nil, link)
	if len(notes) != 1 || notes[0].Version.String() != "2.5.0-rc.1" {
		t.Errorf("pre-release target: %+v", notes)
	}
	// Nothing between equal versions.
	if n := Select(cl, v("2.5.1"), v("2.5.1"), released, link); len(n) != 0 {
		t.Errorf("empty range gave %d notes", len(n))
	}
}

var errRateLimited = errors.New("fetch: HTTP 403: rate limit")

type fakeSource struct {
	file     []byte
	fileErr  error
	releases []Release
	relErr   error
	listed   int
	fetched  int
	// perPage > 0 lists releases in pages of that size, as GitHub does,
	// stopping when done holds; pages counts the pages read.
	perPage int
	pages   int
}

func (f *fakeSource) FetchFile(context.Context, string, string) ([]byte, error) {
	f.fetched++
	return f.file, f.fileErr
}

func (f *fakeSource) ListReleases(_ context.Context, _ string, done func([]Release) bool) ([]Release, error) {
	f.listed++
	if f.perPage == 0 {
		f.pages++
		return f.releases, f.relErr
	}
	var out []Release
	for lo := 0; lo < len(f.releases); lo += f.perPage {
		f.pages++
		out = append(out, f.releases[lo:min(lo+f.perPage, len(f.releases))]...)
		if done != nil && done(out) {
			break
		}
	}
	return out, f.relErr
}

func TestCollectMissingChangelog(t *testing.T) {
	src := &fakeSource{
		fileErr:  fmt.Errorf("fetch: HTTP 404: %w", fs.ErrNotExist),
		releases: []Release{{Tag: "v2.11.6", Body: "six"}, {Tag: "v2.11.5", Body: "five"}, {Tag: "v2.11.4", Body: "four"}},
	}
	// No released list: the versions come from the releases themselves.
	notes, err := Collect(context.Background(), src, Request{From: v("2.11.4"), To: v("2.11.6"), Repo: "o/r", ServerURL: "https://github.com"})
	if err != nil {
		t.Fatalf("a missing changelog is not an error: %v", err)
	}
	if len(notes) != 2 || notes[0].Body != "six" || notes[1].Body != "five" || notes[1].Origin != OriginRelease {
		t.Fatalf("notes = %+v", notes)
	}
}

func TestCollectDegradesOnAPIErrors(t *testing.T) {
	src := &fakeSource{
		fileErr: errRateLimited,
		relErr:  errors.New("list releases: HTTP 502: bad gateway"),
	}
	notes, err := Collect(context.Background(), src, Request{From: v("2.5.0"), To: v("2.5.2"), Repo: "o/r", ServerURL: "https://github.com",
		Released: versions("2.5.1", "2.5.2")})
	if !errors.Is(err, errRateLimited) || !strings.Contains(err.Error(), "HTTP 502") {
		t.Fatalf("err = %v, want both failures", err)
	}
	if len(notes) != 2 || notes[0].Origin != OriginNone || notes[0].URL != "https://github.com/o/r/releases/tag/v2.5.2" {
		t.Fatalf("notes = %+v", notes)
	}
}

// origins renders notes as "version:origin ...".
func origins(notes []Note) string {
	var out []string
	for _, n := range notes {
		out = append(out, n.Version.String()+":"+string(n.Origin))
	}
	return strings.Join(out, " ")
}

// TestCollectSkipsChangelogWhenReleasesCover: every version in range has a
// release body, so the changelog is not fetched at all — one call per run.
func TestCollectSkipsChangelogWhenReleasesCover(t *testing.T) {
	src := &fakeSource{file: []byte(fixture(t)), releases: []Release{
		{Tag: "v2.11.6", Body: "six"}, {Tag: "v2.11.5", Body: "five\n\n**Full Changelog**: https://github.com/o/r/compare/v2.11.4...v2.11.5"},
		{Tag: "v2.11.4", Body: "four"}, {Tag: "v2.11.7", Body: "draft", Draft: true},
	}}
	notes, err := Collect(context.Background(), src, Request{From: v("2.11.4"), To: v("2.11.6"), Repo: "o/r", Released: versions("2.11.5", "2.11.6")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := origins(notes), "2.11.6:release 2.11.5:release"; got != want {
		t.Fatalf("notes = %s, want %s", got, want)
	}
	if !strings.Contains(notes[1].Body, "five") || !strings.Contains(notes[1].Body, "Full Changelog") {
		t.Errorf("2.11.5 body = %q, want the body with its compare link", notes[1].Body)
	}
	if src.listed != 1 || src.fetched != 0 {
		t.Errorf("listed releases %d times, fetched the changelog %d times; want 1 and 0", src.listed, src.fetched)
	}
}

// TestCollectPrefersReleaseBody: a version with both a release body and a
// changelog section shows the release body; a bare release (empty, or only
// GitHub's compare link) falls back to its section; a version with neither
// gets its link only. The changelog is fetched once.
func TestCollectPrefersReleaseBody(t *testing.T) {
	src := &fakeSource{file: []byte(fixture(t)), releases: []Release{
		{Tag: "v2.5.3", Body: "## What's Changed\n* release body of 2.5.3"},
		{Tag: "v2.5.2", Body: "\r\n**Full Changelog**: https://github.com/pachyderm/pachyderm/compare/v2.5.1...v2.5.2\r\n"},
		{Tag: "v2.5.1", Body: "  \n"},
		{Tag: "v2.5.0-rc.2", Body: "rc"},
	}}
	notes, err := Collect(context.Background(), src, Request{From: v("2.4.6"), To: v("2.5.3"), Repo: "pachyderm/pachyderm",
		ServerURL: "https://github.com", Released: versions("2.4.7")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := origins(notes), "2.5.3:release 2.5.2:changelog 2.5.1:changelog 2.5.0:changelog 2.4.7:none"; got != want {
		t.Fatalf("notes = %s\nwant    %s", got, want)
	}
	if !strings.Contains(notes[0].Body, "release body of 2.5.3") {
		t.Errorf("2.5.3 body = %q", notes[0].Body)
	}
	if !strings.Contains(notes[1].Body, "Debug dump fix") || !strings.Contains(notes[2].Body, "pgbouncer pg_isready") {
		t.Errorf("bare releases did not fall back to their sections: %q / %q", notes[1].Body, notes[2].Body)
	}
	if notes[4].URL != "https://github.com/pachyderm/pachyderm/releases/tag/v2.4.7" {
		t.Errorf("2.4.7 URL = %s", notes[4].URL)
	}
	if src.listed != 1 || src.fetched != 1 {
		t.Errorf("listed %d, fetched %d; want 1 and 1", src.listed, src.fetched)
	}
	md := Markdown(notes)
	for _, want := range []string{"<b>2.5.3</b> — release notes", "<b>2.5.2</b> — CHANGELOG", "**2.4.7** — no notes"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown does not say where notes came from: lacks %q", want)
		}
	}
}

// TestCollectGivenChangelogFillsBareReleases: with Request.Changelog (a
// local file), the releases are still listed and their bodies win; the file
// is used for the versions without one, and nothing is fetched.
func TestCollectGivenChangelogFillsBareReleases(t *testing.T) {
	src := &fakeSource{releases: []Release{{Tag: "v2.5.3", Body: "body 2.5.3"}, {Tag: "v2.5.2", Body: ""}}}
	notes, err := Collect(context.Background(), src, Request{From: v("2.5.1"), To: v("2.5.3"), Repo: "o/r", Changelog: []byte(fixture(t))})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := origins(notes), "2.5.3:release 2.5.2:changelog"; got != want {
		t.Fatalf("notes = %s, want %s", got, want)
	}
	if src.fetched != 0 {
		t.Errorf("fetched the changelog %d times though it was given", src.fetched)
	}
	// Offline: the file alone.
	notes, err = Collect(context.Background(), nil, Request{From: v("2.5.1"), To: v("2.5.3"), Repo: "o/r", Changelog: []byte(fixture(t))})
	if err != nil || origins(notes) != "2.5.3:changelog 2.5.2:changelog" {
		t.Fatalf("offline notes = %s, %v", origins(notes), err)
	}
}

// TestCollectStopsListingOnceRangeIsSeen: a repository with hundreds of
// releases is listed only until every version in range (from the chart
// index) and the target have been seen; without the index's versions (the
// notes command) the whole list is read.
func TestCollectStopsListingOnceRangeIsSeen(t *testing.T) {
	var rels []Release
	for i := 20; i >= 0; i-- { // 2.12.20 … 2.12.0, newest first
		rels = append(rels, Release{Tag: fmt.Sprintf("v2.12.%d", i), Body: fmt.Sprintf("notes %d", i)})
	}
	rels = append(rels, Release{Tag: "v2.11.9", Body: "backport"})
	src := &fakeSource{releases: rels, perPage: 5}
	req := Request{From: v("2.12.13"), To: v("2.12.15"), Repo: "o/r", Released: versions("2.12.14", "2.12.15")}
	notes, err := Collect(context.Background(), src, req)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := origins(notes), "2.12.15:release 2.12.14:release"; got != want {
		t.Fatalf("notes = %s, want %s", got, want)
	}
	// 2.12.15 and 2.12.14 are on the second page of five.
	if src.pages != 2 || src.fetched != 0 {
		t.Errorf("read %d pages and fetched the changelog %d times; want 2 and 0", src.pages, src.fetched)
	}
	// A target no release has: the whole list, then the changelog.
	src = &fakeSource{releases: rels, perPage: 5, fileErr: fmt.Errorf("404: %w", fs.ErrNotExist)}
	if _, err := Collect(context.Background(), src, Request{From: v("2.12.20"), To: v("2.12.21"), Repo: "o/r", Released: versions("2.12.21")}); err != nil {
		t.Fatal(err)
	}
	if src.pages != 5 || src.fetched != 1 {
		t.Errorf("missing target: read %d pages, fetched %d; want 5 and 1", src.pages, src.fetched)
	}
	// No versions known: everything.
	src = &fakeSource{releases: rels, perPage: 5}
	notes, err = Collect(context.Background(), src, Request{From: v("2.11.8"), To: v("2.12.1"), Repo: "o/r"})
	if err != nil || origins(notes) != "2.12.1:release 2.12.0:release 2.11.9:release" || src.pages != 5 {
		t.Errorf("without Released: notes %s (%v) after %d pages, want 3 notes after 5", origins(notes), err, src.pages)
	}
}

func TestReleaseNotes(t *testing.T) {
	cases := map[string]string{
		"":    "",
		" \n": "",
		"**Full Changelog**: https://github.com/pachyderm/pachyderm/compare/v2.5.2...v2.5.3": "",
		"\n**Full Changelog**: https://github.com/o/r/compare/v1...v2\n":                     "",
		"* Fix\n\n**Full Changelog**: https://github.com/o/r/compare/v1...v2":                "* Fix\n\n**Full Changelog**: https://github.com/o/r/compare/v1...v2",
		"**Full Changelog**: https://github.com/o/r/compare/v1...v2 and more words":          "**Full Changelog**: https://github.com/o/r/compare/v1...v2 and more words",
		"## What's Changed\n* x": "## What's Changed\n* x",
	}
	for in, want := range cases {
		if got := ReleaseNotes(in); got != want {
			t.Errorf("ReleaseNotes(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMarkdown(t *testing.T) {
	cl := Parse(fixture(t))
	notes := Select(cl, v("2.3.9"), v("2.4.6"), versions("2.4.3"), ReleaseLink("https://github.com", "pachyderm/pachyderm"))
	md := Markdown(notes)
	for _, want := range []string{
		"<details><summary><b>2.4.6</b> — CHANGELOG</summary>",
		"- **2.4.4** — no notes ([release](https://github.com/pachyderm/pachyderm/releases/tag/v2.4.4))",
		"- **2.4.3** — no notes",
		"#### Logging", // demoted from `## Logging`
		"# 2.9.9 is a shell comment",
		"[Release 2.4.0](https://github.com/pachyderm/pachyderm/releases/tag/v2.4.0)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if strings.Count(md, "<details>") != strings.Count(md, "</details>") || strings.Count(md, "<details>") != 4 {
		t.Errorf("details blocks unbalanced or wrong count:\n%s", md)
	}
	if strings.Index(md, "2.4.6") > strings.Index(md, "2.4.0") {
		t.Error("not newest first")
	}
	if Markdown(nil) == "" {
		t.Error("no notes renders nothing")
	}
}

func TestTruncateKeepsFencesClosed(t *testing.T) {
	body := "```\n" + strings.Repeat("line of code\n", MaxNoteBytes/10)
	got := truncate(body, "https://x")
	if len(got) > MaxNoteBytes+200 || strings.Count(got, "```")%2 != 0 || !strings.Contains(got, "truncated") {
		t.Fatalf("truncate: %d bytes, fences %d", len(got), strings.Count(got, "```"))
	}
}

func FuzzParse(f *testing.F) {
	f.Add("## 2.5.1 \n- x\n## Logging\n- y\n# 2.5.0\n")
	f.Add("```\n## 2.5.1\n```\n## [v2.5.2] - 2023\n")
	f.Add("## 1.2.3-rc.1+b\n\r\n## 1.2.3\n")
	f.Fuzz(func(t *testing.T, in string) {
		cl := Parse(in)
		vs := cl.Versions()
		for i, x := range vs {
			if i > 0 && x.GreaterThan(vs[i-1]) {
				t.Fatalf("versions not newest first: %v", vs)
			}
			s, ok := cl.Section(x)
			if !ok {
				t.Fatalf("listed version %s has no section", x)
			}
			if s.Body != strings.TrimSpace(s.Body) {
				t.Fatalf("body of %s not trimmed", x)
			}
			if utf8.ValidString(in) && !utf8.ValidString(s.Body) {
				t.Fatalf("body of %s is not valid UTF-8", x)
			}
		}
		md := Markdown(Select(cl, semver.New(0, 0, 0, "", ""), semver.New(1<<20, 0, 0, "", ""), nil, ReleaseLink("https://github.com", "o/r")))
		if strings.Count(md, "<details>") != strings.Count(md, "</details>") {
			t.Fatal("unbalanced details")
		}
	})
}

// TestSelectPastNewestSection: a range past the changelog's newest section
// lists the target with its release link instead of "no versions".
func TestSelectPastNewestSection(t *testing.T) {
	cl := Parse(fixture(t))
	notes := Select(cl, v("2.5.3"), v("2.11.6"), nil, ReleaseLink("https://github.com", "pachyderm/pachyderm"))
	if len(notes) != 1 || !notes[0].Version.Equal(v("2.11.6")) || notes[0].Origin != OriginNone ||
		notes[0].URL != "https://github.com/pachyderm/pachyderm/releases/tag/v2.11.6" {
		t.Fatalf("notes = %+v, want 2.11.6 without notes, with its link", notes)
	}
	if md := Markdown(notes); !strings.Contains(md, "**2.11.6** — no notes ([release](https://github.com/pachyderm/pachyderm/releases/tag/v2.11.6))") {
		t.Errorf("markdown:\n%s", md)
	}
}
