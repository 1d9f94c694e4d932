package upgrade

import (
	"context"

	"github.com/pach-upgrade/pach-upgrade/internal/changelog"
	"github.com/pach-upgrade/pach-upgrade/internal/github"
)

// NotesSource reads the changelog and the release bodies from GitHub for
// changelog.Collect, which takes them as plain data.
func NotesSource(gh *github.Client) changelog.Source { return notesSource{gh} }

type notesSource struct{ gh *github.Client }

func (s notesSource) FetchFile(ctx context.Context, repo, path string) ([]byte, error) {
	return s.gh.FetchFile(ctx, repo, path)
}

func (s notesSource) ListReleases(ctx context.Context, repo string, done func([]changelog.Release) bool) ([]changelog.Release, error) {
	var until func([]github.Release) bool
	if done != nil {
		until = func(rs []github.Release) bool { return done(plain(rs)) }
	}
	rs, err := s.gh.ListReleasesUntil(ctx, repo, until)
	return plain(rs), err
}

func plain(rs []github.Release) []changelog.Release {
	out := make([]changelog.Release, 0, len(rs))
	for _, r := range rs {
		out = append(out, changelog.Release{Tag: r.Tag, Body: r.Body, Draft: r.Draft})
	}
	return out
}
