package upgrade

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/github/githubtest"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

// TestNotesNeverHoldUpTheUpgrade holds GitHub's answer to the release list
// until the cluster runs the target version: a run that waited for its
// notes before upgrading would never get there. Once released, the notes
// still reach the report, in their own row.
func TestNotesNeverHoldUpTheUpgrade(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	release := s.w.GitHub.Hold(githubtest.OpListReleases)
	defer release()
	done := make(chan *report.Report, 1)
	go func() { done <- s.run(map[string]string{config.InputTargetVersion: "2.11.6"}) }()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for !s.pachdRuns(ctx, "2.11.6") {
		select {
		case rep := <-done:
			t.Fatalf("run ended (%s: %s) before the held notes were released", rep.Result, rep.Failure)
		case <-ctx.Done():
			t.Fatal("pachd never ran 2.11.6 while the release list was held: the upgrade waited for its notes")
		case <-time.After(100 * time.Millisecond):
		}
	}
	release()
	rep := <-done
	if rep.Result != report.ResultUpgraded {
		t.Fatalf("result = %s (%s), want upgraded", rep.Result, rep.Failure)
	}
	if len(rep.Notes) == 0 {
		t.Errorf("no release notes in the report")
	}
	notes := stepNamed(t, rep, "Release notes")
	if !notes.Background || notes.Outcome != report.OutcomeOK {
		t.Errorf("notes row = %+v, want a background step that succeeded", notes)
	}
	wantStepOrder(t, rep, "Resolve the target version", "Fetch the chart", "Release notes", "Install pachctl",
		"Helm values", "Generated values", "Back up", "Check field ownership", "Helm upgrade", "Verify versions")
	// The held lines come out in one group, after the upgrade's.
	out := s.lastOutput()
	if i, j := strings.Index(out, "Release notes: notes of"), strings.Index(out, "Helm upgrade: revision"); i < 0 || j < 0 || i < j {
		t.Errorf("the notes' group is not shown after the upgrade's (at %d, upgrade at %d)", i, j)
	}
}

// TestUnreachableGitHubCostsNoRetries runs with GitHub's host unknown: the
// notes become a warning at once, with no retry, and the upgrade goes on.
func TestUnreachableGitHubCostsNoRetries(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	s.githubHTTP = &http.Client{Transport: &http.Transport{DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
		// What net.Dialer returns for a name the resolver does not know.
		host, _, _ := net.SplitHostPort(addr)
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
	}}}
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputPachctlVersionCheck: "false"})
	if rep.Result != report.ResultUpgraded {
		t.Fatalf("result = %s (%s), want upgraded", rep.Result, rep.Failure)
	}
	notes := stepNamed(t, rep, "Release notes")
	if notes.Outcome != report.OutcomeWarning || !strings.Contains(notes.Detail, "no such host") {
		t.Errorf("notes row = %+v, want a warning naming the unknown host", notes)
	}
	if strings.Contains(notes.Detail, "attempts") {
		t.Errorf("an unknown host was retried: %s", notes.Detail)
	}
	s.wantRelease(2, "deployed", "2.11.6")
}

// pachdRuns reports whether the pachd Deployment runs tag.
func (s *scenario) pachdRuns(ctx context.Context, tag string) bool {
	d, err := s.w.Kube.AppsV1().Deployments(s.ns).Get(ctx, "pachd", metav1.GetOptions{})
	if err != nil || len(d.Spec.Template.Spec.Containers) == 0 {
		return false
	}
	return strings.HasSuffix(d.Spec.Template.Spec.Containers[0].Image, ":"+tag) &&
		d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == d.Status.Replicas && d.Status.ReadyReplicas == d.Status.Replicas
}

func stepNamed(t *testing.T, rep *report.Report, name string) report.Step {
	t.Helper()
	for _, s := range rep.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %q in %+v", name, rep.Steps)
	return report.Step{}
}

// wantStepOrder checks that the step table lists names in this order.
func wantStepOrder(t *testing.T, rep *report.Report, names ...string) {
	t.Helper()
	var got []string
	for _, s := range rep.Steps {
		got = append(got, s.Name)
	}
	i := 0
	for _, g := range got {
		if i < len(names) && g == names[i] {
			i++
		}
	}
	if i != len(names) {
		t.Errorf("steps %q, want %q in this order", got, names)
	}
}
