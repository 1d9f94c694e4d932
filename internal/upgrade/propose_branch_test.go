package upgrade

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/github"
	"github.com/pach-upgrade/pach-upgrade/internal/github/githubtest"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
)

// TestProposalsOfTwoNamespacesKeepApart performs issue 21 item 3: staging
// and production pin the same release name in their own files of one
// repository. Production's proposal must not land on staging's branch, and
// closing staging's PR must not decline production's bump.
func TestProposalsOfTwoNamespacesKeepApart(t *testing.T) {
	t.Parallel()
	s := githubtest.NewServer()
	t.Cleanup(s.Close)
	const repo = "acme/deploy"
	s.SetFile(repo, "staging/values.yaml", []byte("pachyderm:\n  version: 2.11.5\n"))
	s.SetFile(repo, "production/values.yaml", []byte("pachyderm:\n  version: 2.11.5\n"))
	c, err := github.NewClient(github.Options{Token: "t", APIURL: s.APIURL, ServerURL: s.ServerURL,
		HTTPClient: s.Client(), Retry: github.Retry{Backoff: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	propose := func(ns string) github.BumpResult {
		t.Helper()
		vf := ns + "/values.yaml#pachyderm.version"
		prefix := bumpBranchPrefix(ns, "pachd", vf)
		marker := report.ProposeMarker(ns, "pachd")
		res, err := c.ProposeBump(context.Background(), github.Bump{
			Repo: repo, Base: githubtest.DefaultBranch, Branch: prefix + "2.11.6", BranchPrefix: prefix,
			Path: ns + "/values.yaml", Content: []byte("pachyderm:\n  version: 2.11.6\n"),
			Message: "bump " + ns, Title: "Bump " + ns, Body: marker + "\nbump " + ns, Marker: marker,
		})
		if err != nil {
			t.Fatalf("propose %s: %v", ns, err)
		}
		return res
	}
	staging := propose("staging")
	s.SetPullState(repo, staging.Number, "closed") // a reviewer says no to staging
	production := propose("production")
	if production.Declined || !production.Created || production.Number == staging.Number {
		t.Fatalf("production = %+v: want its own new PR, not staging's #%d or its decline", production, staging.Number)
	}
	pulls := s.Pulls(repo)
	if len(pulls) != 2 || pulls[0].Head == pulls[1].Head {
		t.Fatalf("pulls %+v: want two PRs from two branches", pulls)
	}
	if b, _ := s.File(repo, pulls[0].Head, "production/values.yaml"); strings.Contains(string(b), "2.11.6") {
		t.Errorf("production's pin was committed to staging's branch %s", pulls[0].Head)
	}
	// Two version files of one namespace differ too; the branch is a valid
	// ref name whatever the version file's key holds.
	a := bumpBranchPrefix("ns", "pachd", "a.yaml#x")
	b := bumpBranchPrefix("ns", "pachd", "b.yaml#x")
	if a == b || strings.ContainsAny(a, " ~^:?*[\\#") {
		t.Errorf("prefixes %q and %q", a, b)
	}
}
