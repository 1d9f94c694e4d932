package upgrade

import (
	"context"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/actionrun"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

// binary builds the pach-upgrade binary once per test process.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "pach-upgrade-bin-")
	if err != nil {
		return "", err
	}
	return actionrun.Build(context.Background(), "../..", dir)
})

// TestSignalToTheBinaryMidUpgrade runs the real binary as an Actions step
// and cancels it in the middle of the Helm upgrade: with SIGTERM alone, and
// with the runner's whole sequence (SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5
// s after that). Either way the process must publish its cancelled report —
// outputs, job summary and PR comment — and exit non-zero by itself within
// 5 s, before any kill; the next run, with recover-pending, recovers.
func TestSignalToTheBinaryMidUpgrade(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		cancel []actionrun.Signal
		first  os.Signal
	}{
		{"SIGTERM", []actionrun.Signal{{Signal: syscall.SIGTERM}}, syscall.SIGTERM},
		{"runner sequence", actionrun.RunnerCancel, os.Interrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bin, err := binary()
			if err != nil {
				t.Fatal(err)
			}
			s := newScenario(t, nil, world.Options{})
			s.install("7.11.5", baseValues())
			const repo, pr = "acme/platform", 7
			runner := actionrun.Runner{
				Binary: bin, Dir: t.TempDir(), Repository: repo, PullRequest: pr,
				APIURL: s.w.GitHub.APIURL, ServerURL: s.w.GitHub.ServerURL,
				Env:    []string{"KUBECONFIG=" + testenv.Kubeconfig(t)},
				Cancel: tc.cancel,
			}
			inputs := s.w.Inputs()
			inputs[config.InputRelease] = releaseName
			inputs[config.InputGitHubToken] = "test-token"
			inputs[config.InputTargetVersion] = "2.11.6"
			inputs[config.InputTimeout] = "5m"
			inputs[config.InputValues] = "pachd:\n  podAnnotations:\n    " + testenv.AnnotationNeverReady + ": \"true\"\n"

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			signalled := make(chan time.Time, 1)
			go func() {
				s.waitForRevision(2, 2*time.Minute)
				time.Sleep(time.Second)
				signalled <- time.Now()
				cancel()
			}()
			res, err := runner.Run(ctx, inputs)
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(<-signalled)
			t.Logf("%s to exit, report and comment published: %s", tc.first, took)
			if testing.Verbose() {
				t.Logf("step log:\n%s", res.Log)
			}
			if len(res.Signals) != 1 || res.Signals[0] != tc.first {
				t.Errorf("signals sent = %v, want only %v: the run did not end before the next one", res.Signals, tc.first)
			}
			if res.ExitCode != 1 {
				t.Errorf("exit code = %d, want 1 (a process killed by a signal reports -1)", res.ExitCode)
			}
			if took > 5*time.Second {
				t.Errorf("exited %s after the signal, want under 5s", took)
			}
			if got := res.Outputs["result"]; got != "cancelled" {
				t.Errorf("result output = %q, want cancelled; log:\n%s", got, res.Log)
			}
			for _, want := range []string{"Cancelled", "Helm upgrade", "revision 2 pending-upgrade", "`recover-pending: true`"} {
				if !strings.Contains(res.Summary, want) {
					t.Errorf("job summary lacks %q:\n%s", want, res.Summary)
				}
			}
			comments := s.w.GitHub.Comments(repo, pr)
			if len(comments) != 1 || !strings.Contains(comments[0].Body, "Cancelled") || !strings.Contains(comments[0].Body, "recover-pending") {
				t.Fatalf("PR comments = %+v, want one cancelled report", comments)
			}
			s.wantRelease(2, "pending-upgrade", "2.11.6")
			if _, err := s.w.Kube.CoordinationV1().Leases(s.ns).Get(context.Background(), cluster.LeaseName(releaseName), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("Lease after the cancelled run: %v, want it released", err)
			}

			delete(inputs, config.InputValues)
			inputs[config.InputRecoverPending] = "true"
			inputs[config.InputTimeout] = "2m"
			res, err = runner.Run(context.Background(), inputs)
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != 0 || res.Outputs["result"] != "upgraded" {
				t.Fatalf("next run with recover-pending: exit %d, result %q; log:\n%s", res.ExitCode, res.Outputs["result"], res.Log)
			}
			s.wantRelease(4, "deployed", "2.11.6")
		})
	}
}
