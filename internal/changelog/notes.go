package changelog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Origin says where a version's notes came from.
type Origin string

const (
	OriginChangelog Origin = "changelog"
	OriginRelease   Origin = "release"
	// OriginNone means neither the changelog nor a release body had notes.
	OriginNone Origin = "none"
)

// Note is one version's notes, ready for the report.
type Note struct {
	Version *semver.Version
	// Body is markdown; empty when Origin is OriginNone.
	Body   string
	Origin Origin
	// URL is the version's GitHub release page.
	URL string
}

// LinkFunc returns the release page of v.
type LinkFunc func(v *semver.Version) string

// ReleaseLink links to `<server>/<repo>/releases/tag/v<version>`, the tag
// scheme Pachyderm uses.
func ReleaseLink(serverURL, repo string) LinkFunc {
	base := strings.TrimRight(serverURL, "/") + "/" + repo + "/releases/tag/"
	return func(v *semver.Version) string { return base + Tag(v) }
}

// Tag is the git tag of a Pachyderm release.
func Tag(v *semver.Version) string { return "v" + canonical(v) }

// Range returns every version in (from, to] found in any of the candidate
// lists, newest first, without duplicates. Pre-releases are left out unless
// one is the target itself: an upgrade to 2.5.3 does not cross 2.5.3-rc.1 in
// any sense a reader cares about.
func Range(from, to *semver.Version, candidates ...[]*semver.Version) []*semver.Version {
	seen := map[string]bool{}
	var out []*semver.Version
	for _, list := range candidates {
		for _, v := range list {
			if v == nil || !v.GreaterThan(from) || v.GreaterThan(to) {
				continue
			}
			if v.Prerelease() != "" && !v.Equal(to) {
				continue
			}
			k := canonical(v)
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, v)
		}
	}
	sortNewestFirst(out)
	return out
}

// Select returns the notes of every version in (from, to] that is either in
// released or has a heading in cl, newest first, and of to itself: the
// target is a release even when nothing lists it (a range past the
// changelog's newest section). Versions without a section, or with an empty
// one, get OriginNone and only their link.
func Select(cl *Changelog, from, to *semver.Version, released []*semver.Version, link LinkFunc) []Note {
	return selectNotes(cl, nil, from, to, released, link)
}

// selectNotes is the one rule for where a version's notes come from: its
// release body when it has notes (bodies holds only those), else its
// changelog section when not empty, else a link only.
func selectNotes(cl *Changelog, bodies map[string]string, from, to *semver.Version, released []*semver.Version, link LinkFunc) []Note {
	var notes []Note
	for _, v := range Range(from, to, released, cl.Versions(), []*semver.Version{to}) {
		n := Note{Version: v, Origin: OriginNone, URL: link(v)}
		if b := bodies[canonical(v)]; b != "" {
			n.Body, n.Origin = b, OriginRelease
		} else if s, ok := cl.Section(v); ok && s.Body != "" {
			n.Body, n.Origin = s.Body, OriginChangelog
		}
		notes = append(notes, n)
	}
	return notes
}

// fullChangelogOnly matches a release body that is nothing but GitHub's
// generated compare link, as on Pachyderm's releases whose notes are in the
// CHANGELOG.
var fullChangelogOnly = regexp.MustCompile(`^\*\*Full Changelog\*\*:\s*\S+$`)

// ReleaseNotes returns body trimmed, or "" when it carries no notes: empty,
// or only a `**Full Changelog**: <compare link>` line.
func ReleaseNotes(body string) string {
	b := strings.TrimSpace(body)
	if fullChangelogOnly.MatchString(b) {
		return ""
	}
	return b
}

// Release is one published release, as plain data: its tag and notes.
type Release struct {
	Tag   string
	Body  string
	Draft bool
}

// Source is what Collect needs from where the changelog and releases are
// kept (GitHub, through an adapter in the packages that wire it). FetchFile
// returns an error wrapping fs.ErrNotExist when there is no such file.
// ListReleases lists newest first and may stop listing (paging) once
// done(the releases listed so far) holds; done may be nil.
type Source interface {
	FetchFile(ctx context.Context, repo, path string) ([]byte, error)
	ListReleases(ctx context.Context, repo string, done func([]Release) bool) ([]Release, error)
}

// DefaultPath is the changelog's path when Request.Path is empty.
const DefaultPath = "CHANGELOG.md"

// Request says which notes to collect.
type Request struct {
	From, To *semver.Version
	// Released lists the versions known to exist, e.g. from the chart
	// repository index; headings and releases found add to it.
	Released []*semver.Version
	// Repo and Path locate the changelog on GitHub.
	Repo, Path string
	// ServerURL is the web root for release links.
	ServerURL string
	// Changelog, when not nil, is used instead of fetching Path.
	Changelog []byte
}

// Collect gathers the notes of every version in (From, To]. The release
// list comes first: one call holds every release body, and a version's body
// wins when it has notes. The changelog is read only when some version in
// range has none (an empty body, or a bare compare link) or the list could
// not be read, and its sections fill those versions: Pachyderm's
// CHANGELOG.md stops at 2.5.3, so later upgrades need no second call. src may be nil to work offline from Request.Changelog.
// Notes are always returned, with links where no text was found; the error
// says what could not be read, for a warning — missing notes must never stop
// an upgrade.
func Collect(ctx context.Context, src Source, req Request) ([]Note, error) {
	if req.From == nil || req.To == nil {
		return nil, errors.New("release notes: from and to versions are required")
	}
	if req.Path == "" {
		req.Path = DefaultPath
	}
	link := ReleaseLink(req.ServerURL, req.Repo)
	var errs []error
	released := append([]*semver.Version(nil), req.Released...)
	bodies := map[string]string{}
	if src != nil {
		releases, err := src.ListReleases(ctx, req.Repo, listedAll(req))
		if err != nil {
			errs = append(errs, fmt.Errorf("list releases of %s: %w", req.Repo, err))
		}
		for _, r := range releases {
			if r.Draft {
				continue
			}
			v, err := semver.NewVersion(r.Tag)
			if err != nil {
				continue
			}
			released = append(released, v)
			if b := ReleaseNotes(r.Body); b != "" {
				bodies[canonical(v)] = b
			}
		}
	}

	content := req.Changelog
	if content == nil && src != nil && needsChangelog(selectNotes(Parse(""), bodies, req.From, req.To, released, link)) {
		b, err := src.FetchFile(ctx, req.Repo, req.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Not an error worth a warning: a repository may keep its
			// notes in release bodies only.
		case err != nil:
			errs = append(errs, fmt.Errorf("read %s of %s: %w", req.Path, req.Repo, err))
		default:
			content = b
		}
	}
	return selectNotes(Parse(string(content)), bodies, req.From, req.To, released, link), errors.Join(errs...)
}

// listedAll returns the stop condition of the release list: every version
// of req.Released in range, and the target, seen. Without Released (the
// notes command) only GitHub knows which versions exist, so it reads the
// whole list (nil). A release in range that the chart index does not list
// and that sits past those pages is left out — a bounded list is worth it.
func listedAll(req Request) func([]Release) bool {
	if len(req.Released) == 0 {
		return nil
	}
	want := map[string]bool{}
	for _, v := range Range(req.From, req.To, req.Released, []*semver.Version{req.To}) {
		want[canonical(v)] = true
	}
	return func(rs []Release) bool {
		seen := map[string]bool{}
		for _, r := range rs {
			if v, err := semver.NewVersion(r.Tag); err == nil && !r.Draft && want[canonical(v)] {
				seen[canonical(v)] = true
			}
		}
		return len(seen) == len(want)
	}
}

// needsChangelog reports whether some version in range has no release notes.
func needsChangelog(notes []Note) bool {
	for _, n := range notes {
		if n.Origin == OriginNone {
			return true
		}
	}
	return false
}
