package upgrade

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	helmrel "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/pach-upgrade/pach-upgrade/internal/changelog"
	"github.com/pach-upgrade/pach-upgrade/internal/cluster"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/github/githubtest"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/chartrepo"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

// newFaultScenario is a scenario whose runs publish their report, PR
// comment included, as main does.
func newFaultScenario(t *testing.T) *scenario {
	t.Helper()
	s := newScenario(t, nil, world.Options{})
	s.publish = true
	return s
}

// lastOutput is what the scenario's last run logged and printed.
func (s *scenario) lastOutput() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// comment is the sticky comment the runs left on pull request 1.
func (s *scenario) comment() string {
	s.t.Helper()
	cs := s.w.GitHub.Comments(world.Repo, 1)
	if len(cs) != 1 {
		s.t.Fatalf("pull request has %d comments, want one sticky comment", len(cs))
	}
	return cs[0].Body
}

// wantPublished checks that the last run's report reached both the job
// summary and the PR comment with its result.
func (s *scenario) wantPublished(rep *report.Report) {
	s.t.Helper()
	headline := rep.Result.Headline()
	if out := s.lastOutput(); !strings.Contains(out, headline) {
		s.t.Errorf("job summary of the run does not say %q", headline)
	}
	if c := s.comment(); !strings.Contains(c, headline) {
		s.t.Errorf("PR comment does not say %q:\n%s", headline, c)
	}
}

// TestChartRepositoryFaultsFailBeforeAnyChange serves a broken chart
// repository in four ways; each run must stop before the backup, name the
// URL (without its credentials) and say what was wrong, and leave the
// release untouched.
func TestChartRepositoryFaultsFailBeforeAnyChange(t *testing.T) {
	t.Parallel()
	s := newFaultScenario(t)
	s.install("7.11.5", baseValues())
	const password, token = "repo-Pw-4b1d", "repo-T0ken-77e2"
	withCreds := strings.Replace(s.w.Charts.URL, "http://", "http://reader:"+password+"@", 1) + "/?token=" + token
	archive := "pachyderm-7.11.6.tgz"
	for _, tc := range []struct {
		name, file string
		fault      chartrepo.Fault
		want       []string // in the failure, besides the file's URL
	}{
		{"index 404", "index.yaml", chartrepo.FaultNotFound, []string{"HTTP 404"}},
		{"index not YAML", "index.yaml", chartrepo.FaultHTML, []string{"not a valid YAML index", "<!DOCTYPE html>"}},
		{"archive 404", archive, chartrepo.FaultNotFound, []string{"HTTP 404"}},
		{"archive truncated", archive, chartrepo.FaultTruncated, []string{"cut short", "unexpected EOF"}},
		{"archive wrong digest", archive, chartrepo.FaultOtherBytes, []string{"digest", "refusing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.w.Charts.Fail(tc.file, tc.fault)
			defer s.w.Charts.Fail(tc.file, "")
			rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputChartRepo: withCreds})
			if rep.Result != report.ResultFailed {
				t.Fatalf("result = %s (%s), want failed", rep.Result, rep.Failure)
			}
			shownURL := strings.TrimPrefix(s.w.Charts.URL, "http://") + "/" + tc.file
			for _, want := range append([]string{shownURL, config.InputChartRepo}, tc.want...) {
				if !strings.Contains(rep.Failure, want) {
					t.Errorf("failure %q does not say %q", rep.Failure, want)
				}
			}
			if rep.BackupPath != "" {
				t.Errorf("a run that could not fetch the chart took a backup")
			}
			for _, st := range rep.Steps {
				if st.Name == "Back up" || st.Name == "Helm upgrade" || st.Name == "Roll back" {
					t.Errorf("step %q ran", st.Name)
				}
			}
			s.wantRelease(1, "deployed", "2.11.5")
			s.wantPublished(rep)
		})
	}
	s.assertNeverLeaked(password)
	s.assertNeverLeaked(token)
}

// TestFieldOwnedByAnotherManager changes pachd's replicas the way `kubectl
// scale` and an autoscaler do. Without force-conflicts the run must stop
// before any change, naming the object, the field, the manager and the
// input to set; with it the upgrade takes the field over.
func TestFieldOwnedByAnotherManager(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, manager string
		scale         func(ctx context.Context, s *scenario) error
	}{
		{"kubectl", `"kubectl"`, func(ctx context.Context, s *scenario) error {
			deps := s.w.Kube.AppsV1().Deployments(s.ns)
			d, err := deps.Get(ctx, "pachd", metav1.GetOptions{})
			if err != nil {
				return err
			}
			d.Spec.Replicas = ptr(int32(2))
			_, err = deps.Update(ctx, d, metav1.UpdateOptions{FieldManager: "kubectl"})
			return err
		}},
		{"autoscaler", `"kube-controller-manager" (subresource scale)`, func(ctx context.Context, s *scenario) error {
			deps := s.w.Kube.AppsV1().Deployments(s.ns)
			sc, err := deps.GetScale(ctx, "pachd", metav1.GetOptions{})
			if err != nil {
				return err
			}
			sc.Spec.Replicas = 2
			_, err = deps.UpdateScale(ctx, "pachd", sc, metav1.UpdateOptions{FieldManager: "kube-controller-manager"})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := newFaultScenario(t)
			s.install("7.11.5", baseValues())
			if err := tc.scale(ctx, s); err != nil {
				t.Fatal(err)
			}
			rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6"})
			if rep.Result != report.ResultFailed {
				t.Fatalf("result = %s (%s), want failed", rep.Result, rep.Failure)
			}
			for _, want := range []string{"Deployment/pachd", ".spec.replicas", tc.manager, config.InputForceConflicts + ": true"} {
				if !strings.Contains(rep.Failure, want) {
					t.Errorf("failure %q does not say %q", rep.Failure, want)
				}
			}
			for _, st := range rep.Steps {
				if st.Name == "Helm upgrade" || st.Name == "Roll back" {
					t.Errorf("step %q ran", st.Name)
				}
			}
			s.wantRelease(1, "deployed", "2.11.5")
			s.wantPachd(2, "2.11.5")
			s.wantPublished(rep)

			rep = s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputForceConflicts: "true"})
			if rep.Result != report.ResultUpgraded {
				t.Fatalf("with %s: result = %s (%s), want upgraded", config.InputForceConflicts, rep.Result, rep.Failure)
			}
			s.wantRelease(2, "deployed", "2.11.6")
			s.wantPachd(1, "2.11.6") // the chart's replicas again: Helm owns the field
		})
	}
}

func ptr[T any](v T) *T { return &v }

// wantPachd checks the pachd Deployment's replicas and image tag.
func (s *scenario) wantPachd(replicas int32, tag string) {
	s.t.Helper()
	d, err := s.w.Kube.AppsV1().Deployments(s.ns).Get(context.Background(), "pachd", metav1.GetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	image := d.Spec.Template.Spec.Containers[0].Image
	if d.Spec.Replicas == nil || *d.Spec.Replicas != replicas || !strings.HasSuffix(image, ":"+tag) {
		s.t.Errorf("deployment pachd: replicas %v image %s, want %d replicas of %s", d.Spec.Replicas, image, replicas, tag)
	}
}

// neverReady and crashLoop are values that make the new pachd pods fail.
const (
	neverReady = "pachd:\n  podAnnotations:\n    " + testenv.AnnotationNeverReady + ": \"true\"\n"
	crashLoop  = "pachd:\n  podAnnotations:\n    " + testenv.AnnotationCrashLoop + ": \"true\"\n"
)

// breakRevision rewrites the stored manifest of revision rev so that its
// pachd pods never become Ready: the old revision no longer comes up, as
// when its image has gone from the registry or a dependency it needs is
// down. It returns a func that puts the manifest back.
func (s *scenario) breakRevision(rev int) (restore func()) {
	s.t.Helper()
	store := storage.Init(driver.NewSecrets(s.w.Kube.CoreV1().Secrets(s.ns)))
	ri, err := store.Get(releaseName, rev)
	if err != nil {
		s.t.Fatal(err)
	}
	rel := ri.(*helmrel.Release)
	original := rel.Manifest
	const podMeta = "  template:\n    metadata:\n      labels:\n        app: pachd\n"
	if strings.Count(original, podMeta) != 1 {
		s.t.Fatalf("revision %d manifest: pachd pod template not found once", rev)
	}
	rel.Manifest = strings.Replace(original, podMeta,
		"  template:\n    metadata:\n      annotations:\n        "+testenv.AnnotationNeverReady+": \"true\"\n      labels:\n        app: pachd\n", 1)
	if err := store.Update(rel); err != nil {
		s.t.Fatal(err)
	}
	return func() {
		s.t.Helper()
		ri, err := store.Get(releaseName, rev)
		if err != nil {
			s.t.Fatal(err)
		}
		rel := ri.(*helmrel.Release)
		rel.Manifest = original
		if err := store.Update(rel); err != nil {
			s.t.Fatal(err)
		}
	}
}

// waitForPod waits until a pachd pod with image tag tag runs, annotated
// never-ready: the pod a rollout is waiting on.
func (s *scenario) waitForPod(tag string) *corev1.Pod {
	s.t.Helper()
	var found *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := s.w.Kube.CoreV1().Pods(s.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=pachd"})
		if err != nil {
			return false, nil
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Annotations[testenv.AnnotationNeverReady] == "true" && p.Status.Phase == corev1.PodRunning &&
				p.DeletionTimestamp == nil && strings.HasSuffix(p.Spec.Containers[0].Image, ":"+tag) {
				found = p
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		s.t.Fatalf("no running never-ready pachd pod of %s: %v", tag, err)
	}
	return found
}

// markReady reports pod Ready, as the kubelet does once its readiness
// probe passes.
func (s *scenario) markReady(pod *corev1.Pod) {
	s.t.Helper()
	pods := s.w.Kube.CoreV1().Pods(s.ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := pods.Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		for i, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
				p.Status.Conditions[i].Status, p.Status.Conditions[i].Reason, p.Status.Conditions[i].LastTransitionTime = corev1.ConditionTrue, "", now
			}
		}
		for i := range p.Status.ContainerStatuses {
			p.Status.ContainerStatuses[i].Ready = true
		}
		_, err = pods.UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		s.t.Fatalf("mark pod %s Ready: %v", pod.Name, err)
	}
}

// runAsync starts a run and returns its report's channel.
func (s *scenario) runAsync(inputs map[string]string) <-chan *report.Report {
	done := make(chan *report.Report, 1)
	go func() { done <- s.run(inputs) }()
	return done
}

func (s *scenario) await(done <-chan *report.Report) *report.Report {
	s.t.Helper()
	select {
	case rep := <-done:
		return rep
	case <-time.After(4 * time.Minute):
		s.t.Fatal("the run did not end")
		return nil
	}
}

// wantAllReady checks that every workload of the release and its pods are
// Ready, and that the run let go of its Lease.
func (s *scenario) wantAllReady() {
	s.t.Helper()
	ctx := context.Background()
	if err := s.kube.WaitReady(ctx, s.ns, cluster.Selection{Release: releaseName}, 20*time.Second, nil); err != nil {
		s.t.Errorf("release not Ready: %v", err)
	}
	_, err := s.w.Kube.CoordinationV1().Leases(s.ns).Get(ctx, cluster.LeaseName(releaseName), metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		s.t.Errorf("Lease after the run: %v, want it released", err)
	}
}

// The API server restart tests do not run in parallel: a restart cuts off
// every other test's requests too.

// TestAPIServerRestartDuringRolloutWatch restarts the API server while the
// run waits for the new pachd pod; the pod becomes Ready only after the
// restart, so the run can only see it through watches re-established with
// the new API server.
func TestAPIServerRestartDuringRolloutWatch(t *testing.T) {
	s := newFaultScenario(t)
	s.install("7.11.5", baseValues())
	done := s.runAsync(map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "3m", config.InputValues: neverReady})
	pod := s.waitForPod("2.11.6")
	testenv.RestartAPIServer(t)
	s.markReady(pod)
	rep := s.await(done)
	if rep.Result != report.ResultUpgraded {
		t.Fatalf("result = %s (%s), want upgraded", rep.Result, rep.Failure)
	}
	s.wantRelease(2, "deployed", "2.11.6")
	s.wantAllReady()
	s.wantPublished(rep)
}

// TestAPIServerRestartDuringRollback restarts the API server while the run
// waits for the rolled-back revision's pods: after a failed upgrade, the
// old revision must still come back.
func TestAPIServerRestartDuringRollback(t *testing.T) {
	s := newFaultScenario(t)
	s.install("7.11.5", baseValues())
	// Revision 1's pachd comes up only when the test says so, after the restart.
	s.breakRevision(1)
	done := s.runAsync(map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "2m", config.InputValues: crashLoop})
	pod := s.waitForPod("2.11.5")
	testenv.RestartAPIServer(t)
	s.markReady(pod)
	rep := s.await(done)
	if rep.Result != report.ResultRolledBack || !strings.Contains(rep.Failure, "CrashLoopBackOff") {
		t.Fatalf("result = %s (%s), want rolled-back after the crash loop", rep.Result, rep.Failure)
	}
	s.wantRelease(3, "deployed", "2.11.5")
	s.wantAllReady()
	s.wantPublished(rep)
}

// TestRollbackFailureGivesRecoveryCommands breaks the old revision so the
// rollback cannot bring it back: the run must fail saying so, with the
// commands to recover by hand, and those commands must work once the
// cause is gone.
func TestRollbackFailureGivesRecoveryCommands(t *testing.T) {
	t.Parallel()
	s := newFaultScenario(t)
	s.install("7.11.5", baseValues())
	restore := s.breakRevision(1)
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "10s", config.InputValues: crashLoop})
	if rep.Result != report.ResultFailed {
		t.Fatalf("result = %s (%s), want failed", rep.Result, rep.Failure)
	}
	if rep.RolledBack == nil || rep.RolledBack.Err == "" || !strings.Contains(rep.RolledBack.Err, "did not become Ready after the rollback") {
		t.Fatalf("rollback = %+v, want its failure", rep.RolledBack)
	}
	if len(rep.Pods) == 0 {
		t.Error("no pods table after the failed rollback, when it is needed most")
	}
	rollback := fmt.Sprintf("helm rollback %s 1 -n %s --wait --timeout 10m", releaseName, s.ns)
	for _, want := range []string{"The rollback failed", "To recover by hand", rollback, fmt.Sprintf("helm history %s -n %s", releaseName, s.ns)} {
		if !strings.Contains(s.lastOutput(), want) {
			t.Errorf("job summary does not say %q", want)
		}
		if !strings.Contains(s.comment(), want) {
			t.Errorf("PR comment does not say %q", want)
		}
	}
	s.wantPublished(rep)

	// The cause goes away; the printed command, run as printed with the
	// Helm 3 CLI, brings the release back.
	restore()
	args := append(strings.Fields(rollback)[1:], "--kubeconfig", testenv.Kubeconfig(t))
	out, err := exec.Command(testenv.Helm3(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", rollback, err, out)
	}
	s.wantRelease(4, "deployed", "2.11.5")
	s.wantAllReady()
}

// TestGitHubCallsPerRun counts the GitHub API calls of each kind a run
// makes, with Pachyderm's shape: a CHANGELOG that stops at 2.5.3 and
// release bodies with the notes after it. One list-releases call holds the
// notes and the pachctl digest; then the sticky comment. Never a call per
// version, never a second read of the release.
func TestGitHubCallsPerRun(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{Changelog: "# Changelog\n\n## 2.5.3\n* The last section.\n"})
	s.publish = true
	s.toolCache = t.TempDir()
	s.install("7.10.0", baseValues())
	gh := s.w.GitHub
	calls := func(target string) map[githubtest.Op]int {
		t.Helper()
		before := len(gh.Requests())
		rep := s.run(map[string]string{config.InputTargetVersion: target})
		if rep.Result != report.ResultUpgraded || len(rep.Warnings) != 0 {
			t.Fatalf("→ %s: result %s (%s), warnings %v", target, rep.Result, rep.Failure, rep.Warnings)
		}
		if len(rep.Notes) != 1 || rep.Notes[0].Origin != changelog.OriginRelease {
			t.Errorf("→ %s: notes = %+v, want the release body", target, rep.Notes)
		}
		n := map[githubtest.Op]int{}
		for _, r := range gh.Requests()[before:] {
			n[r.Op]++
		}
		return n
	}
	check := func(name string, got, want map[githubtest.Op]int) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: calls = %v, want %v", name, got, want)
		}
		t.Logf("%s: %v", name, got)
	}
	// First run: no comment yet, pachctl not cached (its download is from
	// the release page, not an API call).
	check("first run, pachctl downloaded", calls("2.11.5"), map[githubtest.Op]int{
		githubtest.OpListReleases: 1, githubtest.OpDownload: 1, githubtest.OpListComments: 1, githubtest.OpCreateComment: 1})
	// Once a comment carries the marker, whose it is is asked once: the
	// job's token is an App's, so one GraphQL call names its bot.
	check("pachctl downloaded", calls("2.11.6"), map[githubtest.Op]int{
		githubtest.OpListReleases: 1, githubtest.OpDownload: 1, githubtest.OpListComments: 1, githubtest.OpGraphQL: 1, githubtest.OpEditComment: 1})
	// Back to 2.11.5 by hand, and up again with pachctl 2.11.6 cached.
	if err := s.w.Helm.Rollback(context.Background(), releaseName, 2, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.kube.WaitReady(context.Background(), s.ns, cluster.Selection{Release: releaseName}, time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	check("pachctl cached", calls("2.11.6"), map[githubtest.Op]int{
		githubtest.OpListReleases: 1, githubtest.OpListComments: 1, githubtest.OpGraphQL: 1, githubtest.OpEditComment: 1})
}

// TestGitHubFaultsNeverFailAnUpgrade makes the GitHub API answer 500s and
// rate limits. The client retries within bounds; what still fails becomes
// a warning, and the upgrade's result stands.
func TestGitHubFaultsNeverFailAnUpgrade(t *testing.T) {
	t.Parallel()
	t.Run("server errors", func(t *testing.T) {
		t.Parallel()
		s := newFaultScenario(t)
		s.install("7.10.0", baseValues())
		gh := s.w.GitHub
		// Passing 5xx on every endpoint the run reads and writes: retried.
		// 2.11.5's release is bare (its notes are in the CHANGELOG), so the
		// run reads both the release list and the CHANGELOG; the pachctl
		// digest comes from the list, with no call of its own.
		gh.Fail(githubtest.OpListReleases, githubtest.Failure{Status: 502, Times: 1})
		gh.Fail(githubtest.OpGetContents, githubtest.Failure{Status: 500, Times: 1})
		gh.Fail(githubtest.OpListComments, githubtest.Failure{Status: 500, Times: 1})
		gh.Fail(githubtest.OpCreateComment, githubtest.Failure{Status: 503, Times: 1})
		rep := s.run(map[string]string{config.InputTargetVersion: "2.11.5"})
		if rep.Result != report.ResultUpgraded {
			t.Fatalf("result = %s (%s), want upgraded", rep.Result, rep.Failure)
		}
		if len(rep.Notes) == 0 || len(rep.Warnings) != 0 {
			t.Errorf("notes %d, warnings %v: want the notes and no warning after retries", len(rep.Notes), rep.Warnings)
		}
		if len(rep.Notes) != 1 || rep.Notes[0].Origin != changelog.OriginChangelog {
			t.Errorf("notes = %+v, want 2.11.5's CHANGELOG section (its release is bare)", rep.Notes)
		}
		for op, want := range map[githubtest.Op]int{githubtest.OpListReleases: 2, githubtest.OpGetContents: 2, githubtest.OpGetRelease: 0} {
			if n := gh.Count(op); n != want {
				t.Errorf("%s calls = %d, want %d", op, n, want)
			}
		}
		s.wantPublished(rep)

		// A 500 that does not pass: a warning after a bounded number of tries.
		gh.Fail(githubtest.OpListComments, githubtest.Failure{Status: 500})
		before := gh.Count(githubtest.OpListComments)
		rep = s.run(map[string]string{config.InputTargetVersion: "2.11.6"})
		if rep.Result != report.ResultUpgraded {
			t.Fatalf("result = %s (%s), want upgraded", rep.Result, rep.Failure)
		}
		if n := gh.Count(githubtest.OpListComments) - before; n != 3 {
			t.Errorf("list comments tried %d times, want 3", n)
		}
		s.wantWarning("PR comment not written", "HTTP 500", "gave up after 3 attempts")
		s.wantRelease(3, "deployed", "2.11.6")
	})
	t.Run("rate limits", func(t *testing.T) {
		t.Parallel()
		s := newFaultScenario(t)
		s.install("7.10.0", baseValues())
		gh := s.w.GitHub
		// A primary rate limit that resets in an hour is not waited for.
		gh.Fail(githubtest.OpCreateComment, githubtest.Failure{Status: 403, RateLimited: true})
		rep := s.run(map[string]string{config.InputTargetVersion: "2.11.5"})
		if rep.Result != report.ResultUpgraded {
			t.Fatalf("result = %s (%s), want upgraded", rep.Result, rep.Failure)
		}
		if n := gh.Count(githubtest.OpCreateComment); n != 1 {
			t.Errorf("create comment tried %d times under an hour-long rate limit, want 1", n)
		}
		s.wantWarning("PR comment not written", "API rate limit exceeded", "rate limited: GitHub accepts calls again in")
		if n := len(gh.Comments(world.Repo, 1)); n != 0 {
			t.Errorf("%d comments written", n)
		}

		// A primary limit (429) resetting in 2 s and a secondary one with
		// Retry-After: 1 are waited out, and the comment is written.
		gh.Fail(githubtest.OpCreateComment, githubtest.Failure{})
		gh.Fail(githubtest.OpListComments, githubtest.Failure{Status: 429, RateLimited: true, Reset: 2 * time.Second, Times: 1})
		gh.Fail(githubtest.OpCreateComment, githubtest.Failure{Status: 403, Secondary: true, RetryAfter: time.Second, Times: 1})
		rep = s.run(map[string]string{config.InputTargetVersion: "2.11.6"})
		if rep.Result != report.ResultUpgraded {
			t.Fatalf("result = %s (%s), want upgraded", rep.Result, rep.Failure)
		}
		s.wantPublished(rep)
		if strings.Contains(s.lastOutput(), "PR comment not written") {
			t.Error("the comment was given up although both limits ended within the cap")
		}
	})
}

// wantWarning checks that the last run warned with every one of parts.
func (s *scenario) wantWarning(parts ...string) {
	s.t.Helper()
	for _, line := range strings.Split(s.lastOutput(), "\n") {
		if !strings.HasPrefix(line, "warning: ") {
			continue
		}
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return
		}
	}
	s.t.Errorf("no warning of the run says all of %q:\n%s", parts, s.lastOutput())
}
