package upgrade

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/pach-upgrade/pach-upgrade/internal/github"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/versionfile"
)

// runPropose resolves the target exactly as apply does, and when it is newer
// than the version the repository pins, proposes the bump as a pull request
// carrying the release notes, the plan and the pods. It changes nothing in
// the cluster, and nothing in the repository when the pin is current.
func (r *runner) runPropose(ctx context.Context) report.Result {
	for _, s := range []struct {
		name string
		f    stepFunc
	}{
		{"Check the release", r.checkRelease},
		{"Read the pinned version", r.readPin},
		{"Resolve the target version", r.resolveTarget},
	} {
		if err := r.step(ctx, s.name, s.f); err != nil {
			return r.fail(err)
		}
	}
	if !r.pinned.LessThan(r.target.AppVersion) {
		detail := fmt.Sprintf("%s already pins %s; the target is %s", r.cfg.VersionFile, r.pinned, r.target.AppVersion)
		if r.pinned.GreaterThan(r.target.AppVersion) {
			detail = fmt.Sprintf("%s pins %s, newer than the target %s: not proposing a downgrade", r.cfg.VersionFile, r.pinned, r.target.AppVersion)
			r.rep.Warnings = append(r.rep.Warnings, detail)
		}
		r.log.Infof("Nothing to propose: %s", detail)
		return report.ResultNoOp
	}
	r.notesFrom = r.pinned
	_ = r.step(ctx, "Release notes", r.releaseNotes)
	for _, s := range []struct {
		name string
		f    stepFunc
	}{
		{"Fetch the chart", r.fetchChart},
		{"Helm values", r.prepareValues},
		// As apply and plan do: without it the plan shows every generated
		// value (root token, enterprise secret) as changing, and a bump
		// that apply would refuse (a value it cannot carry) is proposed.
		{"Generated values", r.carryGenerated},
		{"Plan the upgrade", r.plan},
	} {
		if err := r.step(ctx, s.name, s.f); err != nil {
			return r.fail(err)
		}
	}
	r.recordPods(ctx)
	if err := r.step(ctx, "Propose the pull request", r.proposePR); err != nil {
		return r.fail(err)
	}
	if r.declined {
		return report.ResultNoOp
	}
	return report.ResultProposed
}

// readPin reads the version the repository pins, from its default branch:
// the branch the bump pull request targets.
func (r *runner) readPin(ctx context.Context) (string, error) {
	if r.d.GitHub == nil || r.d.Repository == "" {
		return "", errors.New("mode propose needs the GitHub API and the repository (GITHUB_REPOSITORY): run it in GitHub Actions")
	}
	base, err := r.d.GitHub.DefaultBranch(ctx, r.d.Repository)
	if err != nil {
		return "", err
	}
	r.base = base
	f, err := r.d.GitHub.ReadFile(ctx, r.d.Repository, r.cfg.VersionFile.Path, base)
	if err != nil {
		return "", fmt.Errorf("version-file: %w", err)
	}
	v, err := versionfile.Read(*r.cfg.VersionFile, f.Content)
	if err != nil {
		return "", fmt.Errorf("version-file: %w", err)
	}
	r.pinFile, r.pinned = f.Content, v
	r.rep.Pinned = v.String()
	return fmt.Sprintf("%s on %s of %s pins %s", r.cfg.VersionFile, base, r.d.Repository, v), nil
}

// proposePR writes the new pin to the bump branch and opens or updates
// the release's one pull request.
func (r *runner) proposePR(ctx context.Context) (string, error) {
	content, err := versionfile.Write(*r.cfg.VersionFile, r.pinFile, r.target.AppVersion)
	if err != nil {
		return "", fmt.Errorf("version-file: %w", err)
	}
	to := r.target.AppVersion.String()
	prefix := bumpBranchPrefix(r.cfg.Namespace, r.cfg.Release, r.cfg.VersionFile.String())
	branch := prefix + to
	// The body is public and no runner masks it.
	body := r.log.Redact(report.PullRequestBody(r.rep, r.cfg.VersionFile.String()))
	res, err := r.d.GitHub.ProposeBump(ctx, github.Bump{
		Repo: r.d.Repository, Base: r.base, Branch: branch, BranchPrefix: prefix,
		Path: r.cfg.VersionFile.Path, Content: content,
		Message: fmt.Sprintf("Bump Pachyderm %s/%s from %s to %s", r.cfg.Namespace, r.cfg.Release, r.pinned, to),
		Title:   report.BumpTitle(r.rep),
		Body:    body,
		Marker:  report.ProposeMarker(r.cfg.Namespace, r.cfg.Release),
	})
	if err != nil {
		return "", err
	}
	if res.Declined {
		r.declined = true
		msg := fmt.Sprintf("pull request #%d (%s) proposing %s was closed without merging: not proposing %s again; reopen it to have it updated, or wait for a newer version",
			res.Number, res.URL, to, to)
		r.rep.Warnings = append(r.rep.Warnings, msg)
		return msg, nil
	}
	for _, w := range res.Warnings {
		r.rep.Warnings = append(r.rep.Warnings, w)
		r.log.Warningf("Propose the pull request", "%s", w)
	}
	r.rep.PullRequest = &report.PullRequest{Number: res.Number, URL: res.URL, Branch: branch,
		Created: res.Created, Superseded: res.Superseded}
	verb := "updated"
	if res.Created {
		verb = "opened"
	}
	detail := fmt.Sprintf("%s #%d (%s) from %s", verb, res.Number, res.URL, branch)
	if len(res.Superseded) > 0 {
		var ns []string
		for _, n := range res.Superseded {
			ns = append(ns, fmt.Sprintf("#%d", n))
		}
		detail += "; closed superseded " + strings.Join(ns, ", ")
	}
	return detail, nil
}

// bumpBranchPrefix is the bump branch without its version:
// `pach-upgrade/<namespace>/<release>/<version file>/`. Each of the three
// is part of what a proposal is about: without the namespace, staging's
// and production's proposals of one version would share a branch, so a
// production bump would land on the staging PR and closing that PR would
// decline both. A declined PR is found by its branch, so declines match
// on the same key. The version file (`path#key`) may hold characters a
// branch name cannot, so it is named by a short hash.
func bumpBranchPrefix(namespace, release, versionFile string) string {
	sum := sha256.Sum256([]byte(versionFile))
	return fmt.Sprintf("pach-upgrade/%s/%s/%s/", namespace, release, hex.EncodeToString(sum[:4]))
}

// pinnedTarget reads the version a merged bump PR left in version-file,
// for target-version from-file: through the GitHub API at the commit the
// workflow runs for, or from the working directory outside Actions.
func (r *runner) pinnedTarget(ctx context.Context) (*semver.Version, string, error) {
	spec := *r.cfg.VersionFile
	var content []byte
	where := ""
	if r.d.Repository != "" && r.d.GitHub != nil {
		f, err := r.d.GitHub.ReadFile(ctx, r.d.Repository, spec.Path, r.d.Ref)
		if err != nil {
			return nil, "", fmt.Errorf("version-file: %w", err)
		}
		content = f.Content
		where = " of " + r.d.Repository
		if r.d.Ref != "" {
			where += " at " + r.d.Ref
		}
	} else {
		b, err := os.ReadFile(filepath.FromSlash(spec.Path))
		if err != nil {
			return nil, "", fmt.Errorf("version-file: %w", err)
		}
		content = b
	}
	v, err := versionfile.Read(spec, content)
	if err != nil {
		return nil, "", fmt.Errorf("version-file: %w", err)
	}
	return v, fmt.Sprintf("%s%s pins %s", spec, where, v), nil
}
