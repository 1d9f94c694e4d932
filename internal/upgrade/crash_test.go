package upgrade

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	helmrel "helm.sh/helm/v4/pkg/release/v1"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/helmrelease"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/actionrun"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

// killPoint is where a crash-consistency run SIGKILLs the binary: delay after the first line
// of its step log that contains after.
type killPoint struct {
	run   string // "upgrade", "rollback" (a failing upgrade), "recovery" (a recover-pending run)
	after string
	delay time.Duration
}

func (k killPoint) String() string {
	return fmt.Sprintf("%s/%s+%s", k.run, strings.TrimPrefix(k.after, "::group::"), k.delay)
}

// killPoints are chosen from the runs' own step logs: each step's group line, then delays
// that land inside the Helm apply, the rollout watch, the version check, the verification's
// record, the rollback and its watch, and a recover-pending run's recovery.
func killPoints() []killPoint {
	var ps []killPoint
	add := func(run, after string, delays ...time.Duration) {
		for _, d := range delays {
			ps = append(ps, killPoint{run, after, d})
		}
	}
	ms := time.Millisecond
	add("upgrade", "::group::Back up", 0)
	add("upgrade", "::group::Check field ownership", 0, 30*ms)
	add("upgrade", "::group::Helm upgrade", 0, 20*ms, 50*ms, 100*ms, 150*ms, 250*ms, 400*ms, 600*ms, 900*ms, 1300*ms, 1800*ms)
	add("upgrade", "::group::Verify versions", 0, 100*ms, 300*ms, 600*ms)
	add("upgrade", "::group::Record verification", 0, 10*ms)
	add("rollback", "::group::Helm upgrade", 1500*ms, 3*time.Second)
	add("rollback", "::group::Roll back", 0, 20*ms, 50*ms, 100*ms, 200*ms, 400*ms, 800*ms, 1200*ms)
	add("recovery", "::group::Check the release", 0, 20*ms, 50*ms, 100*ms, 200*ms, 400*ms, 700*ms, 1*time.Second)
	add("recovery", "::group::Helm upgrade", 0, 200*ms, 500*ms)
	return ps
}

// TestCrashConsistencyUnderSIGKILL kills the real binary with SIGKILL at every kill point
// of a real-chart upgrade from 2.11.5 to 2.11.6. After each kill a run with recover-pending
// must end with the release at 2.11.5 or 2.11.6, deployed, Ready and verified, and its
// report must be true: no no-op for a revision nobody verified, no rollback when it applied
// nothing. Issue 20; the counts are in bench/RESULTS.md.
func TestCrashConsistencyUnderSIGKILL(t *testing.T) {
	t.Parallel()
	fixtures := testenv.SharedFixtures(t)
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	points := killPoints()
	var killed, falseReports atomic.Int64
	t.Cleanup(func() {
		t.Logf("crash consistency: %d kill points, %d killed mid-run, %d false reports", len(points), killed.Load(), falseReports.Load())
	})
	for _, kp := range points {
		t.Run(kp.String(), func(t *testing.T) {
			t.Parallel()
			s := newScenario(t, nil, world.Options{ChartDir: fixtures})
			values := map[string]any{"deployTarget": "LOCAL", "pachd": map[string]any{"lokiDeploy": false}}
			if _, err := s.w.Install(context.Background(), releaseName, "2.11.5", values); err != nil {
				t.Fatal(err)
			}
			if err := s.kube.WaitReady(context.Background(), s.ns, cluster.Selection{Release: releaseName}, 2*time.Minute, nil); err != nil {
				t.Fatalf("real chart 2.11.5 not Ready: %v", err)
			}
			inputs := s.w.Inputs()
			inputs[config.InputRelease] = releaseName
			inputs[config.InputGitHubToken] = "test-token"
			inputs[config.InputTargetVersion] = "2.11.6"
			inputs[config.InputTimeout] = "2m"
			inputs[config.InputComment] = "false"
			switch kp.run {
			case "rollback":
				// pachd stays on the old image: the rollout is Ready, the version check fails,
				// and the run rolls back.
				inputs[config.InputTimeout] = "20s"
				inputs[config.InputValues] = "pachd:\n  image:\n    tag: \"2.11.5\"\n"
			case "recovery":
				// An interrupted upgrade, as a SIGTERM or a kill of Helm's CLI leaves it: the
				// run to kill recovers it first.
				s.upgradeWithHelm("2.11.6", values)
				s.rewrite(2, func(r *helmrel.Release) { r.SetStatus(rcommon.StatusPendingUpgrade, "interrupted") })
				inputs[config.InputRecoverPending] = "true"
			}
			if s.killAt(bin, inputs, kp) {
				killed.Add(1)
			}
			// The killed run's Lease outlives it by its TTL; a person (or the next scheduled
			// run, later) would find it expired. Waiting it out would only cost time.
			err := s.w.Kube.CoordinationV1().Leases(s.ns).Delete(context.Background(), cluster.LeaseName(releaseName), metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
			before := s.latest()
			revsBefore := before.Revision
			rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputRecoverPending: "true", config.InputTimeout: "2m"})
			if problems := s.truthOf(rep, before, revsBefore); len(problems) > 0 {
				falseReports.Add(1)
				t.Errorf("after a kill at %s (release was revision %d %s %q): result %s (%s):\n%s", kp, before.Revision, before.Status,
					before.Description, rep.Result, rep.Failure, strings.Join(problems, "\n"))
			}
		})
	}
}

// killAt runs the binary and SIGKILLs it at kp; it reports whether the kill came before
// the run ended by itself.
func (s *scenario) killAt(bin string, inputs map[string]string, kp killPoint) bool {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &armedWriter{after: kp.after, fire: func() { time.AfterFunc(kp.delay, cancel) }}
	runner := actionrun.Runner{Binary: bin, Dir: s.t.TempDir(), Repository: "acme/platform",
		APIURL: s.w.GitHub.APIURL, ServerURL: s.w.GitHub.ServerURL,
		Env:    []string{"KUBECONFIG=" + testenv.Kubeconfig(s.t)},
		Cancel: []actionrun.Signal{{Signal: os.Kill}}, Output: out}
	res, err := runner.Run(ctx, inputs)
	if err != nil {
		s.t.Fatal(err)
	}
	if !out.fired() {
		s.t.Fatalf("the step log never said %q:\n%s", kp.after, res.Log)
	}
	return len(res.Signals) > 0
}

// truthOf lists what is false in the report of the run after a kill, or wrong with the
// release it left.
func (s *scenario) truthOf(rep *report.Report, before *helmrelease.Release, revsBefore int) []string {
	var problems []string
	after := s.latest()
	switch rep.Result {
	case report.ResultUpgraded:
	case report.ResultNoOp:
		if !before.Verified() && !hasStep(rep, "Verify the release", report.OutcomeOK) {
			problems = append(problems, fmt.Sprintf("no-op for revision %d, which nobody verified", before.Revision))
		}
	case report.ResultRolledBack:
		// Rolled back is true when the run applied the revision it undid, or when it undid
		// an earlier run's revision that failed its verification now.
		if after.Revision < revsBefore+2 && !(writtenByUs(before) && !before.Verified()) {
			problems = append(problems, "rolled back although nothing unverified was applied")
		}
	default:
		problems = append(problems, fmt.Sprintf("the run did not end at a verified version: %s", rep.Result))
	}
	if after.Status != "deployed" || (after.AppVersion != "2.11.5" && after.AppVersion != "2.11.6") || !after.Verified() {
		problems = append(problems, fmt.Sprintf("release left at revision %d %s (Pachyderm %s, %q), want deployed at 2.11.5 or 2.11.6 and verified",
			after.Revision, after.Status, after.AppVersion, after.Description))
	}
	if err := s.kube.WaitReady(context.Background(), s.ns, cluster.Selection{Release: releaseName}, 20*time.Second, nil); err != nil {
		problems = append(problems, fmt.Sprintf("release not Ready: %v", err))
	}
	return problems
}

// armedWriter calls fire once, when a written line contains after.
type armedWriter struct {
	after string
	fire  func()
	mu    sync.Mutex
	buf   bytes.Buffer
	done  bool
}

func (w *armedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.buf.Write(p)
		if strings.Contains(w.buf.String(), w.after) {
			w.done = true
			w.fire()
		}
	}
	return len(p), nil
}

func (w *armedWriter) fired() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done
}
