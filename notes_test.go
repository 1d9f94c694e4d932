package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"

	"github.com/pach-upgrade/pach-upgrade/internal/changelog"
	"github.com/pach-upgrade/pach-upgrade/internal/github"
	"github.com/pach-upgrade/pach-upgrade/internal/github/githubtest"
	"github.com/pach-upgrade/pach-upgrade/internal/upgrade"
)

const changelogFile = "testdata/changelog/CHANGELOG.md"

func runNotesCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"notes"}, args...), func(k string) string { return env[k] }, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestNotesFromFile(t *testing.T) {
	code, out, errOut := runNotesCmd(t, nil, "--from", "2.5.0", "--to", "v2.5.3", "--changelog-file", changelogFile)
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut)
	}
	for _, want := range []string{"Release notes: 2.5.0 → 2.5.3", "<b>2.5.3</b>", "<b>2.5.2</b>", "<b>2.5.1</b>", "https://github.com/pachyderm/pachyderm/releases/tag/v2.5.3"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "<b>2.5.0</b>") {
		t.Error("the current version is included")
	}
}

// TestNotesPastNewestSection: a range past the file's newest section lists
// the target with its release link and says where later releases are,
// instead of "no versions".
func TestNotesPastNewestSection(t *testing.T) {
	code, out, errOut := runNotesCmd(t, nil, "--from", "2.5.3", "--to", "2.11.6", "--changelog-file", changelogFile)
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut)
	}
	for _, want := range []string{
		"**2.11.6** — no notes ([release](https://github.com/pachyderm/pachyderm/releases/tag/v2.11.6))",
		"newest section is 2.5.3", "https://github.com/pachyderm/pachyderm/releases",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "No versions") {
		t.Errorf("output says there are no versions:\n%s", out)
	}
}

// TestNotesBadInputs: what the main command refuses, notes refuses too, in
// the same words, with exit 2 and one "notes" prefix.
func TestNotesBadInputs(t *testing.T) {
	binary := filepath.Join(t.TempDir(), "pachctl")
	if err := os.WriteFile(binary, []byte("\x7fELF\x02\x01\x01\x00\x00\x00binary"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args  []string
		input string
		says  string
	}{
		{[]string{"--from", "2.5.0", "--to", "2.5.3", "--changelog-repo", "a b/c?x"}, "changelog-repo", "is not a repository"},
		{[]string{"--from", "2.5.0", "--to", "2.5.3+build"}, "to", "is not a version"},
		{[]string{"--from", "2.5.0+b", "--to", "2.5.3"}, "from", "is not a version"},
		{[]string{"--from", "2.5", "--to", "2.5.3"}, "from", "is not a version"},
		{[]string{"--to", "2.5.3"}, "from", "is required"},
		{[]string{"--from", "2.5.3", "--to", "2.5.0"}, "to", "not newer"},
		{[]string{"--from", "2.5.3", "--to", "2.5.3"}, "to", "not newer"},
		{[]string{"--from", "2.5.0", "--to", "latest"}, "to", "is not a version"},
		{[]string{"--from", "2.5.0", "--to", "2.5.3", "--changelog-path", "../../etc/passwd"}, "changelog-path", "not a path inside"},
		{[]string{"--from", "2.5.0", "--to", "2.5.3", "--changelog-file", "does-not-exist.md"}, "changelog-file", "does not exist"},
		{[]string{"--from", "2.5.0", "--to", "2.5.3", "--changelog-file", binary}, "changelog-file", "is not text"},
		{[]string{"--from", "2.5.0", "--to", "2.5.3", "--changelog-file", t.TempDir()}, "changelog-file", "not a regular file"},
		{[]string{"--from", "2.5.0", "--to", "2.5.3", "extra"}, "command line", "unexpected"},
		{[]string{"--bogus"}, "command line", "not defined"},
	}
	for _, tc := range cases {
		code, out, errOut := runNotesCmd(t, nil, tc.args...)
		if code != exitBadInput {
			t.Errorf("%q: exit %d, want %d; stdout:\n%s", tc.args, code, exitBadInput, out)
		}
		if !strings.Contains(errOut, `input "`+tc.input+`"`) || !strings.Contains(errOut, tc.says) {
			t.Errorf("%q: error does not name %s (%s):\n%s", tc.args, tc.input, tc.says, errOut)
		}
		if strings.Count(errOut, "pach-upgrade notes:") != 1 || strings.Contains(errOut, "notes: notes") {
			t.Errorf("%q: want one \"notes\" prefix:\n%s", tc.args, errOut)
		}
	}
	if code, out, _ := runNotesCmd(t, nil, "--help"); code != exitOK || !strings.Contains(out, "-changelog-file") {
		t.Errorf("notes --help: exit %d:\n%s", code, out)
	}
}

func TestNotesFromGitHub(t *testing.T) {
	s := githubtest.NewServer(githubtest.WithPathPrefix("/api/v3"))
	t.Cleanup(s.Close)
	s.SetFile("acme/pachyderm", "docs/CHANGES.md", []byte("## 2.5.1\n- mirrored fix\n"))
	env := map[string]string{"GITHUB_API_URL": s.APIURL, "GITHUB_SERVER_URL": s.ServerURL, "GITHUB_TOKEN": "ghs_secret"}
	code, out, errOut := runNotesCmd(t, env, "--from=2.5.0", "--to=2.5.1", "--changelog-repo=acme/pachyderm", "--changelog-path=docs/CHANGES.md")
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut)
	}
	if !strings.Contains(out, "mirrored fix") || !strings.Contains(out, s.ServerURL+"/acme/pachyderm/releases/tag/v2.5.1") {
		t.Fatalf("output:\n%s", out)
	}
	if strings.Contains(out+errOut, "ghs_secret") {
		t.Fatal("token printed")
	}
}

// TestNotesSourceReleaseBodiesThenChangelog: through the GitHub adapter, a
// version's release body wins; a bare release (only GitHub's compare link)
// gets its changelog section; drafts and pre-releases other than the target
// are left out. The changelog is fetched only when some version needs it.
func TestNotesSourceReleaseBodiesThenChangelog(t *testing.T) {
	s := githubtest.NewServer(githubtest.WithMaxPerPage(2))
	t.Cleanup(s.Close)
	const repo = "pachyderm/pachyderm"
	cl, err := os.ReadFile(changelogFile)
	if err != nil {
		t.Fatal(err)
	}
	// The changelog stops at 2.5.3; 2.6.x is only in release bodies.
	s.SetFile(repo, "CHANGELOG.md", cl)
	s.AddRelease(repo, githubtest.Release{Tag: "v2.5.3", Body: "**Full Changelog**: " + s.ServerURL + "/" + repo + "/compare/v2.5.2...v2.5.3"})
	s.AddRelease(repo, githubtest.Release{Tag: "v2.6.0", Body: "## What's Changed\n* Big 2.6 feature"})
	s.AddRelease(repo, githubtest.Release{Tag: "v2.6.1-rc.1", Body: "rc", Prerelease: true})
	s.AddRelease(repo, githubtest.Release{Tag: "v2.6.1", Body: ""})
	s.AddRelease(repo, githubtest.Release{Tag: "v2.6.2", Body: "draft", Draft: true})
	c, err := github.NewClient(github.Options{APIURL: s.APIURL, ServerURL: s.ServerURL, HTTPClient: s.Client()})
	if err != nil {
		t.Fatal(err)
	}
	vs := func(ss ...string) []*semver.Version {
		var out []*semver.Version
		for _, x := range ss {
			out = append(out, semver.MustParse(x))
		}
		return out
	}
	notes, err := changelog.Collect(context.Background(), upgrade.NotesSource(c), changelog.Request{
		From: semver.MustParse("2.5.2"), To: semver.MustParse("2.6.2"), Repo: repo, Path: "CHANGELOG.md", ServerURL: s.ServerURL,
		Released: vs("2.5.3", "2.6.0", "2.6.1", "2.6.2"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range notes {
		got = append(got, n.Version.String()+":"+string(n.Origin))
	}
	if want := "2.6.2:none 2.6.1:none 2.6.0:release 2.5.3:changelog"; strings.Join(got, " ") != want {
		t.Fatalf("notes = %v, want %s", got, want)
	}
	if !strings.Contains(notes[2].Body, "Big 2.6 feature") || strings.Contains(notes[3].Body, "Full Changelog") {
		t.Errorf("bodies: %q / %q", notes[2].Body, notes[3].Body)
	}
	if n := s.Count(githubtest.OpGetContents); n != 1 {
		t.Errorf("contents calls = %d, want 1", n)
	}
	// 2.5.3 → 2.6.0: the release body covers it, on the second page of
	// two (drafts, rc and 2.6.1 come first); the third page is not asked
	// for, nor the changelog.
	before := len(s.Requests())
	notes, err = changelog.Collect(context.Background(), upgrade.NotesSource(c), changelog.Request{
		From: semver.MustParse("2.5.3"), To: semver.MustParse("2.6.0"), Repo: repo, ServerURL: s.ServerURL, Released: vs("2.6.0"),
	})
	if err != nil || len(notes) != 1 || notes[0].Origin != changelog.OriginRelease {
		t.Fatalf("2.5.3 → 2.6.0: notes = %+v, %v", notes, err)
	}
	if reqs := s.Requests()[before:]; len(reqs) != 2 || reqs[0].Op != githubtest.OpListReleases || reqs[1].Op != githubtest.OpListReleases {
		t.Errorf("2.5.3 → 2.6.0 made %+v, want two list-releases calls (pages)", reqs)
	}
}
