package upgrade

import (
	"strings"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/github/githubtest"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/chartrepo"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

const deployRepo = "acme/pachyderm-deploy"

// deployValues is the repository's values file: the pin sits among
// comments, odd indentation and blank lines that a rewrite must keep.
const deployValues = `# Staging Pachyderm. pach-upgrade proposes bumps of the pin below.

deployTarget: LOCAL   # no cloud storage on staging

pachyderm:
    # Merging a bump PR applies this version (target-version: from-file).
    version: 2.11.5  # pinned
    channel: stable
`

const proposeChangelog = `# Changelog

## 2.11.7
* Fix etcd compaction.

## 2.11.6
* Fix pg-bouncer readiness.

## v2.11.5
* Older fix.
`

// TestProposeLifecycle runs the scheduled propose workflow against a real
// release and the local GitHub API, through a bump's whole life: refused
// by the policy, proposed, proposed again (the same PR edited),
// superseded by a newer patch, merged (then a no-op with zero writes), and
// applied from the merged pin.
func TestProposeLifecycle(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{
		Charts: []chartrepo.Chart{
			{Version: "7.11.5", AppVersion: "2.11.5"},
			{Version: "7.11.6", AppVersion: "2.11.6"},
			{Version: "7.11.7", AppVersion: "2.11.7"},
			{Version: "8.0.0", AppVersion: "3.0.0"},
		},
		Changelog: proposeChangelog,
	})
	gh := s.w.GitHub
	gh.SetFile(deployRepo, "deploy/values.yaml", []byte(deployValues))
	s.repository = deployRepo
	s.install("7.11.5", baseValues())
	const spec = "deploy/values.yaml#pachyderm.version"
	propose := func(target string) *report.Report {
		t.Helper()
		return s.run(map[string]string{config.InputMode: "propose", config.InputTargetVersion: target,
			config.InputVersionFile: spec, config.InputGitHubToken: "app-token", config.InputAllowMinor: "false"})
	}

	// The policy refuses a major bump exactly as apply does, before any write.
	rep := propose("3.0.0")
	if rep.Result != report.ResultFailed || !strings.Contains(rep.Failure, "major") || gh.WriteCount() != 0 {
		t.Fatalf("major: result %s (%s), %d writes; want a refusal and no write", rep.Result, rep.Failure, gh.WriteCount())
	}

	rep = propose("2.11.6")
	if rep.Result != report.ResultProposed || rep.PullRequest == nil || !rep.PullRequest.Created {
		t.Fatalf("first run: result %s (%s), PR %+v", rep.Result, rep.Failure, rep.PullRequest)
	}
	pulls := gh.Pulls(deployRepo)
	branchPrefix := bumpBranchPrefix(s.ns, "pachd", spec)
	if len(pulls) != 1 || pulls[0].Head != branchPrefix+"2.11.6" || pulls[0].Base != githubtest.DefaultBranch {
		t.Fatalf("pulls after the first run: %+v", pulls)
	}
	first := pulls[0]
	for _, want := range []string{
		report.ProposeMarker(s.ns, releaseName), // hidden marker
		"pg-bouncer readiness",                  // notes of 2.11.6
		"Manifest diff",                         // the plan
		"pachyderm/pachd:2.11.6",                // … against the cluster
		"| pachd-",                              // pods table
	} {
		if !strings.Contains(first.Body, want) {
			t.Errorf("PR body lacks %q:\n%s", want, first.Body)
		}
	}
	if strings.Contains(first.Body, "Older fix") || strings.Contains(first.Body, "etcd compaction") {
		t.Errorf("PR body has notes outside (2.11.5, 2.11.6]:\n%s", first.Body)
	}
	wantFile := strings.Replace(deployValues, "version: 2.11.5  # pinned", "version: 2.11.6  # pinned", 1)
	if got, _ := gh.File(deployRepo, first.Head, "deploy/values.yaml"); string(got) != wantFile {
		t.Errorf("bump branch's values file:\n%s\nwant only the pin changed:\n%s", got, wantFile)
	}
	if got, _ := gh.File(deployRepo, "", "deploy/values.yaml"); string(got) != deployValues {
		t.Errorf("the default branch changed before any merge")
	}
	s.wantRelease(1, "deployed", "2.11.5")

	// Same target again: that PR is edited, no second one opened.
	rep = propose("2.11.6")
	if rep.Result != report.ResultProposed || rep.PullRequest.Created || rep.PullRequest.Number != first.Number {
		t.Fatalf("second run: result %s (%s), PR %+v; want #%d updated", rep.Result, rep.Failure, rep.PullRequest, first.Number)
	}
	if n := len(gh.Pulls(deployRepo)); n != 1 || gh.Count(githubtest.OpCreatePull) != 1 {
		t.Errorf("after the second run: %d PRs, %d creations", n, gh.Count(githubtest.OpCreatePull))
	}

	// A newer patch supersedes and closes the old PR, linking the new one.
	rep = propose("latest-patch")
	if rep.Result != report.ResultProposed || !rep.PullRequest.Created || rep.ToVersion != "2.11.7" ||
		len(rep.PullRequest.Superseded) != 1 || rep.PullRequest.Superseded[0] != first.Number {
		t.Fatalf("newer patch: result %s (%s), to %s, PR %+v", rep.Result, rep.Failure, rep.ToVersion, rep.PullRequest)
	}
	pulls = gh.Pulls(deployRepo)
	if len(pulls) != 2 || pulls[0].State != "closed" || pulls[1].State != "open" || pulls[1].Head != branchPrefix+"2.11.7" {
		t.Fatalf("pulls after the newer patch: %+v", pulls)
	}
	newer := pulls[1]
	if _, ok := gh.Branch(deployRepo, first.Head); ok {
		t.Errorf("the superseded PR's branch %s is left behind", first.Head)
	}
	if !strings.Contains(newer.Body, "etcd compaction") || !strings.Contains(newer.Body, "pg-bouncer readiness") {
		t.Errorf("the newer PR lacks notes of (2.11.5, 2.11.7]:\n%s", newer.Body)
	}
	if cs := gh.Comments(deployRepo, first.Number); len(cs) != 1 || !strings.Contains(cs[0].Body, "#2") {
		t.Errorf("the superseded PR's comments: %+v", cs)
	}

	// Closed by a reviewer without merging: that version is not proposed
	// again, and nothing is written; reopened, it is updated as before.
	gh.SetPullState(deployRepo, newer.Number, "closed")
	writes := gh.WriteCount()
	rep = propose("latest-patch")
	if rep.Result != report.ResultNoOp || len(rep.Warnings) == 0 || !strings.Contains(strings.Join(rep.Warnings, " "), "closed without merging") {
		t.Errorf("after closing #%d: result %s (%s), warnings %v; want a no-op saying why", newer.Number, rep.Result, rep.Failure, rep.Warnings)
	}
	if n := gh.WriteCount() - writes; n != 0 || len(gh.Pulls(deployRepo)) != 2 {
		t.Errorf("a declined version made %d writes, %d PRs exist", n, len(gh.Pulls(deployRepo)))
	}
	gh.SetPullState(deployRepo, newer.Number, "open")

	// Merged: the pin is current, and the next scheduled run writes nothing.
	if err := gh.Merge(deployRepo, newer.Number); err != nil {
		t.Fatal(err)
	}
	writes = gh.WriteCount()
	rep = propose("latest-patch")
	if rep.Result != report.ResultNoOp || rep.PullRequest != nil {
		t.Fatalf("after the merge: result %s (%s), PR %+v; want no-op", rep.Result, rep.Failure, rep.PullRequest)
	}
	if n := gh.WriteCount() - writes; n != 0 {
		t.Errorf("a current pin made %d write calls, want 0", n)
	}

	// The merge-triggered apply upgrades to what the merged PR pinned, read
	// through the API at the pushed commit.
	s.ref, _ = gh.Branch(deployRepo, githubtest.DefaultBranch)
	rep = s.run(map[string]string{config.InputTargetVersion: "from-file", config.InputVersionFile: spec})
	if rep.Result != report.ResultUpgraded || rep.ToVersion != "2.11.7" {
		t.Fatalf("from-file apply: result %s (%s), to %s", rep.Result, rep.Failure, rep.ToVersion)
	}
	s.wantRelease(2, "deployed", "2.11.7")
}
