package changelog

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/github"
)

// ErrUsage marks a bad command line; main exits with status 2 on it, as for
// bad inputs.
var ErrUsage = errors.New("usage")

// Defaults shared with the action's inputs.
const (
	DefaultRepo = "pachyderm/pachyderm"
	DefaultPath = "CHANGELOG.md"
)

// RunNotes implements `pach-upgrade notes --from 2.5.0 --to 2.5.3
// [--changelog-file F] [--changelog-repo R] [--changelog-path P]`: it prints
// the markdown notes of every version in (from, to]. With --changelog-file
// it works offline; otherwise it reads the changelog and release bodies from
// GitHub, with GITHUB_TOKEN (or GH_TOKEN) when set and GITHUB_API_URL /
// GITHUB_SERVER_URL for GitHub Enterprise Server. args excludes "notes".
func RunNotes(ctx context.Context, args []string, stdout io.Writer, env func(string) string) error {
	fs := flag.NewFlagSet("pach-upgrade notes", flag.ContinueOnError)
	var usage strings.Builder
	fs.SetOutput(&usage)
	from := fs.String("from", "", "current version (exclusive), e.g. 2.5.0")
	to := fs.String("to", "", "target version (inclusive), e.g. 2.5.3")
	file := fs.String("changelog-file", "", "read the changelog from this local file instead of GitHub (no network)")
	repo := fs.String("changelog-repo", DefaultRepo, "GitHub repository (owner/name) holding the changelog and releases")
	path := fs.String("changelog-path", DefaultPath, "path of the changelog in --changelog-repo")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.PrintDefaults()
			_, werr := io.WriteString(stdout, "Usage: pach-upgrade notes --from VERSION --to VERSION [options]\n"+usage.String())
			return werr
		}
		return fmt.Errorf("%w: notes: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: notes: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	fromV, err := parseFlagVersion("--from", *from)
	if err != nil {
		return err
	}
	toV, err := parseFlagVersion("--to", *to)
	if err != nil {
		return err
	}
	if !toV.GreaterThan(fromV) {
		return fmt.Errorf("%w: notes: --to %s must be newer than --from %s", ErrUsage, toV, fromV)
	}
	if owner, name, ok := strings.Cut(*repo, "/"); !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("%w: notes: --changelog-repo %q: want owner/name", ErrUsage, *repo)
	}

	req := Request{From: fromV, To: toV, Repo: *repo, Path: *path, ServerURL: env("GITHUB_SERVER_URL")}
	if req.ServerURL == "" {
		req.ServerURL = github.DefaultServerURL
	}
	var src Source
	if *file != "" {
		b, err := config.ReadFile(ctx, "changelog-file", *file)
		if err != nil {
			return fmt.Errorf("%w: notes: %w", ErrUsage, err)
		}
		req.Changelog = b
	} else {
		token := env("GITHUB_TOKEN")
		if token == "" {
			token = env("GH_TOKEN")
		}
		c, err := github.NewClient(github.OptionsFromEnv(token, env))
		if err != nil {
			return fmt.Errorf("notes: %w", err)
		}
		src = c
	}
	notes, err := Collect(ctx, src, req)
	if notes == nil && err != nil {
		return fmt.Errorf("notes: %w", err)
	}
	out := fmt.Sprintf("## Release notes: %s → %s\n\n%s", fromV, toV, Markdown(notes))
	if _, werr := io.WriteString(stdout, out); werr != nil {
		return fmt.Errorf("notes: write: %w", werr)
	}
	if err != nil {
		// The notes printed are incomplete; say so, but after printing
		// what could be had.
		return fmt.Errorf("notes: incomplete: %w", err)
	}
	return nil
}

func parseFlagVersion(flagName, s string) (*semver.Version, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: notes: %s is required (e.g. 2.5.0)", ErrUsage, flagName)
	}
	v, err := semver.StrictNewVersion(strings.TrimPrefix(s, "v"))
	if err != nil {
		return nil, fmt.Errorf("%w: notes: %s %q is not a version like 2.5.0", ErrUsage, flagName, s)
	}
	return v, nil
}
