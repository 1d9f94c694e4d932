package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/pach-upgrade/pach-upgrade/internal/changelog"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/github"
	"github.com/pach-upgrade/pach-upgrade/internal/upgrade"
)

// notes implements `pach-upgrade notes --from 2.5.0 --to 2.5.3
// [--changelog-file F] [--changelog-repo R] [--changelog-path P]`: it prints
// the release notes of every version in (from, to], the same extraction the
// action writes into the job summary. With --changelog-file it works
// offline; otherwise it reads the release bodies (and, for versions without
// notes there, the changelog) from GitHub,
// with GITHUB_TOKEN (or GH_TOKEN) when set and GITHUB_API_URL /
// GITHUB_SERVER_URL for GitHub Enterprise Server. Its inputs are validated
// by the same rules as the action's. args excludes "notes".
func notes(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) int {
	err := runNotes(ctx, args, getenv, stdout)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case config.IsInputError(err):
		fmt.Fprintf(stderr, "pach-upgrade notes: bad input:\n%v\n", err)
		return exitBadInput
	default:
		fmt.Fprintf(stderr, "pach-upgrade notes: %v\n", err)
		return exitFailed
	}
}

func runNotes(ctx context.Context, args []string, getenv config.Getenv, stdout io.Writer) error {
	fs := flag.NewFlagSet("pach-upgrade notes", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from := fs.String("from", "", "current version (exclusive), e.g. 2.5.0")
	to := fs.String("to", "", "target version (inclusive), e.g. 2.5.3")
	file := fs.String("changelog-file", "", "read the changelog from this local file instead of GitHub (no network)")
	repo := fs.String(config.InputChangelogRepo, optionDefault(config.InputChangelogRepo), "GitHub repository (owner/name) holding the changelog and releases")
	path := fs.String(config.InputChangelogPath, optionDefault(config.InputChangelogPath), "path of the changelog in --changelog-repo")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "Usage: pach-upgrade notes --from VERSION --to VERSION [options]")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return err
		}
		return &config.InputError{Input: "command line", Problem: err.Error(), Accepted: "the options listed by notes --help"}
	}
	if fs.NArg() > 0 {
		return &config.InputError{Input: "command line", Value: strings.Join(fs.Args(), " "), Problem: "unexpected arguments", Accepted: "--name value options only (see notes --help)"}
	}

	var errs config.InputErrors
	add := func(err error) {
		var ie *config.InputError
		if errors.As(err, &ie) {
			errs = append(errs, ie)
		}
	}
	fromV, err := config.ExactVersion("from", *from)
	add(err)
	toV, err := config.ExactVersion("to", *to)
	add(err)
	if fromV != nil && toV != nil && !toV.GreaterThan(fromV) {
		add(&config.InputError{Input: "to", Value: *to, Problem: "is not newer than --from " + fromV.String(), Accepted: "a version after --from"})
	}
	add(config.Repo(config.InputChangelogRepo, *repo))
	cleanPath, err := config.RepoPath(config.InputChangelogPath, *path)
	add(err)
	var content []byte
	if *file != "" {
		content, err = config.ReadFile(ctx, "changelog-file", *file)
		add(err)
	}
	if len(errs) > 0 {
		return errs
	}

	req := changelog.Request{From: fromV, To: toV, Repo: *repo, Path: cleanPath, ServerURL: getenv("GITHUB_SERVER_URL"), Changelog: content}
	if req.ServerURL == "" {
		req.ServerURL = github.DefaultServerURL
	}
	var src changelog.Source
	if content == nil {
		token := getenv("GITHUB_TOKEN")
		if token == "" {
			token = getenv("GH_TOKEN")
		}
		c, err := github.NewClient(github.OptionsFromEnv(token, getenv))
		if err != nil {
			return err
		}
		src = upgrade.NotesSource(c)
	}
	got, err := changelog.Collect(ctx, src, req)
	if got == nil && err != nil {
		return err
	}
	out := fmt.Sprintf("## Release notes: %s → %s\n\n%s", fromV, toV, changelog.Markdown(got))
	if content != nil {
		out += offlineHint(content, toV.String(), req)
	}
	if _, werr := io.WriteString(stdout, out); werr != nil {
		return fmt.Errorf("write: %w", werr)
	}
	if err != nil {
		// The notes printed are incomplete; say so, after printing what
		// could be had.
		return fmt.Errorf("incomplete: %w", err)
	}
	return nil
}

// offlineHint says where to look when a local changelog cannot cover the
// range: only GitHub knows the releases after its newest section.
func offlineHint(content []byte, to string, req changelog.Request) string {
	releases := strings.TrimRight(req.ServerURL, "/") + "/" + req.Repo + "/releases"
	vs := changelog.Parse(string(content)).Versions()
	switch {
	case len(vs) == 0:
		return fmt.Sprintf("\n_The changelog file has no version sections; see the [releases](%s)._\n", releases)
	case vs[0].LessThan(req.To):
		return fmt.Sprintf("\n_The changelog file's newest section is %s; releases after it up to %s are on the [releases page](%s)._\n", vs[0], to, releases)
	}
	return ""
}

func optionDefault(name string) string {
	for _, o := range config.Options() {
		if o.Name == name {
			return o.Default
		}
	}
	return ""
}
