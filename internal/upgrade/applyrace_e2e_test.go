package upgrade

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	helmrel "helm.sh/helm/v4/pkg/release/v1"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

// Issue 20, inside the apply: the run's Kubernetes clients reach the API server through a
// testenv.SlowAPI that holds the writes of the new revision's objects open, so that the
// apply lasts long enough for the run's timeout, or another client, to land inside it.

// The test chart labels every object with its chart version (helm.sh/chart), so a write's
// body tells whose manifest it applies: the upgrade's (7.11.6) or the rollback's (7.11.5).
const (
	newChartLabel = "pachyderm-7.11.6"
	oldChartLabel = "pachyderm-7.11.5"
)

// applies reports whether w applies an object of the manifest labelled label (a dry run, as
// the run's conflict check sends, changes nothing).
func applies(w testenv.Write, label string) bool {
	return !w.DryRun() && bytes.Contains(w.Body, []byte(label))
}

// writesOf returns the applies since since of the manifest labelled label.
func writesOf(api *testenv.SlowAPI, since time.Time, label string) []testenv.Write {
	var out []testenv.Write
	for _, w := range api.Writes() {
		if !w.Arrived.Before(since) && applies(w, label) {
			out = append(out, w)
		}
	}
	return out
}

// Item 9: the run's timeout ends inside Helm's apply. Helm, its context ended, would record
// the revision failed and return while its apply went on in the background, racing the
// rollback that follows. The rollback must start only after the apply has returned: no
// object of the new revision is written after the rollback's first write, and the release
// ends at the old version, Ready, the rollback verified and reported.
func TestTimeoutInsideTheApplyRollsBackAfterIt(t *testing.T) {
	t.Parallel()
	api := testenv.NewSlowAPI(t, testenv.RESTConfig(t))
	s := newScenario(t, api.Config(), world.Options{})
	s.install("7.11.5", baseValues())

	// Each write of the new revision's objects (over a dozen, one after another) is held
	// 1.5 s: the apply takes some 15–20 s, longer than the run's timeout, which starts just
	// before it.
	const hold, timeout = 1500 * time.Millisecond, 10 * time.Second
	api.Delay(func(ctx context.Context, w testenv.Write) {
		if applies(w, newChartLabel) {
			select {
			case <-time.After(hold):
			case <-ctx.Done():
			}
		}
	})
	start := time.Now()
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: timeout.String()})

	applied := writesOf(api, start, newChartLabel)
	rolledBack := writesOf(api, start, oldChartLabel)
	if len(applied) == 0 || len(rolledBack) == 0 {
		t.Fatalf("%d writes of the new revision's objects and %d of the rollback's, want both (result %s: %s)",
			len(applied), len(rolledBack), rep.Result, rep.Failure)
	}
	rollbackBegan := rolledBack[0].Arrived
	at := func(t time.Time) string { return "+" + t.Sub(start).Round(time.Millisecond).String() }
	for _, w := range applied {
		switch {
		case w.Answered.IsZero():
			t.Errorf("%s %s of the new revision still in flight after the run ended; the rollback's first write came at %s: the apply raced the rollback",
				w.Method, w.Path, at(rollbackBegan))
		case !w.Answered.Before(rollbackBegan):
			t.Errorf("%s %s of the new revision answered at %s, after the rollback's first write at %s: the apply raced the rollback",
				w.Method, w.Path, at(w.Answered), at(rollbackBegan))
		}
	}
	// The timeout starts just before the apply: an apply longer than it outlived it.
	if last := applied[len(applied)-1].Answered; !last.IsZero() && last.Sub(applied[0].Arrived) < timeout {
		t.Errorf("the apply took %s, not more than the %s timeout: the timeout did not end inside it", last.Sub(applied[0].Arrived), timeout)
	}

	if rep.Result != report.ResultRolledBack || rep.RolledBack == nil || rep.RolledBack.Revision != 1 || rep.RolledBack.Err != "" {
		t.Fatalf("result = %s (%s), rollback %+v: want rolled back to revision 1", rep.Result, rep.Failure, rep.RolledBack)
	}
	if !strings.Contains(rep.Failure, "revision 2 applied") {
		t.Errorf("failure %q does not say revision 2 was applied before the timeout stopped the run", rep.Failure)
	}
	s.wantRelease(3, "deployed", "2.11.5")
	if rel := s.latest(); !rel.Verified() {
		t.Errorf("rollback revision 3 (%q) not marked verified", rel.Description)
	}
	ri, err := s.store().Get(releaseName, 2)
	if err != nil {
		t.Fatal(err)
	}
	// A background apply that outlived the rollback would mark its revision deployed again.
	if st := ri.(*helmrel.Release).Info.Status; st != "superseded" {
		t.Errorf("revision 2 is %s after the rollback, want superseded", st)
	}
	s.wantPachd(1, "2.11.5")
	s.wantAllReady()
}

// Two writers at the apply: a person runs `helm upgrade` (the Helm 3 CLI, or the Helm 4 CLI
// built with the cluster) while this run's apply is in flight. Helm refuses it ("another
// operation is in progress": our revision is pending-upgrade) and our run goes on, upgraded
// and verified. Should the CLI ever win, our run must not overwrite its revision nor report
// "upgraded" or "rolled back".
func TestHelmCLIDuringOurApply(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		helm func(t *testing.T) string
	}{
		{"Helm 3 CLI", func(t *testing.T) string { return testenv.Helm3(t) }},
		{"Helm 4 CLI", func(*testing.T) string { return os.Getenv(testenv.EnvHelm4) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			helm := tc.helm(t)
			if helm == "" {
				t.Skip("no Helm 4 CLI built with the cluster")
			}
			s, done, release := runHeldInApply(t)
			inApply := s.latest()
			out, cliErr := s.helmCLITry(helm)
			release()
			rep := s.await(done)

			if inApply.Revision != 2 || inApply.Status != "pending-upgrade" {
				t.Errorf("during our apply the latest revision was %d %s, want our revision 2 pending-upgrade", inApply.Revision, inApply.Status)
			}
			if cliErr != nil {
				// The CLI was refused: it wrote nothing, and our run upgraded and verified.
				if !strings.Contains(string(out), "another operation (install/upgrade/rollback) is in progress") {
					t.Fatalf("%s failed for another reason than our operation in progress: %v\n%s", filepath.Base(helm), cliErr, out)
				}
				if rep.Result != report.ResultUpgraded {
					t.Fatalf("result = %s (%s), want upgraded: the CLI was refused", rep.Result, rep.Failure)
				}
				s.wantRelease(2, "deployed", "2.11.6")
				if !s.latest().Verified() {
					t.Error("revision 2 not marked verified")
				}
				s.wantPachd(1, "2.11.6")
				s.wantAllReady()
				return
			}
			// The CLI won: its revision stands, and our run says it did not upgrade.
			t.Logf("%s upgraded during our apply:\n%s", filepath.Base(helm), out)
			if rep.Result == report.ResultUpgraded || rep.Result == report.ResultRolledBack || rep.RolledBack != nil {
				t.Fatalf("result = %s (%s), rollback %+v, after another client's upgrade won: want failed, nothing rolled back",
					rep.Result, rep.Failure, rep.RolledBack)
			}
			if rel := s.latest(); writtenByUs(rel) || rel.Status != "deployed" {
				t.Errorf("latest revision %d %s (%q), want the CLI's revision deployed, untouched", rel.Revision, rel.Status, rel.Description)
			}
		})
	}
}

// runHeldInApply installs the old chart and starts an upgrade to 2.11.6 through a SlowAPI that
// holds its apply's first write of the new revision: it returns once the apply is in flight,
// with the run's result to await and release, which lets the held write go on (and runs at
// the test's end, if not called before).
func runHeldInApply(t *testing.T) (s *scenario, done <-chan *report.Report, release func()) {
	t.Helper()
	api := testenv.NewSlowAPI(t, testenv.RESTConfig(t))
	s = newScenario(t, api.Config(), world.Options{})
	s.install("7.11.5", baseValues())
	inFlight, held := make(chan struct{}), make(chan struct{})
	signal, release := sync.OnceFunc(func() { close(inFlight) }), sync.OnceFunc(func() { close(held) })
	t.Cleanup(release)
	api.Delay(func(ctx context.Context, w testenv.Write) {
		if !applies(w, newChartLabel) {
			return
		}
		signal()
		select {
		case <-held:
		case <-ctx.Done():
		}
	})
	done = s.runAsync(map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "90s"})
	select {
	case <-inFlight:
	case rep := <-done:
		t.Fatalf("the run ended before its apply: %s (%s)", rep.Result, rep.Failure)
	case <-time.After(2 * time.Minute):
		t.Fatal("the run's apply never started")
	}
	return s, done, release
}

// helmCLITry upgrades the release with a Helm CLI straight to the API server (not through
// the run's proxy), keeping its values, as a person would, and returns what it printed.
func (s *scenario) helmCLITry(helm string) ([]byte, error) {
	s.t.Helper()
	args := []string{"upgrade", releaseName, "pachyderm", "--repo", s.w.Charts.URL, "--version", "7.11.6", "--reuse-values",
		"--kubeconfig", testenv.Kubeconfig(s.t), "--namespace", s.ns}
	out, err := execCommand(s.t, helm, args...).CombinedOutput()
	if err != nil {
		err = fmt.Errorf("%s %s: %w", filepath.Base(helm), strings.Join(args, " "), err)
	}
	return out, err
}

// Two writers at the apply, the CLI winning: Helm's rollback does not refuse a pending
// release, so a person's `helm rollback` during our apply succeeds. Our apply, already under
// way, cannot be taken back; the run must then not report "upgraded" (the latest revision is
// the person's, not the one it verified) nor roll anything back, and must say what happened.
func TestHelmCLIRollbackDuringOurApply(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		helm func(t *testing.T) string
	}{
		{"Helm 3 CLI", func(t *testing.T) string { return testenv.Helm3(t) }},
		{"Helm 4 CLI", func(*testing.T) string { return os.Getenv(testenv.EnvHelm4) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			helm := tc.helm(t)
			if helm == "" {
				t.Skip("no Helm 4 CLI built with the cluster")
			}
			s, done, release := runHeldInApply(t)
			args := []string{"rollback", releaseName, "1", "--kubeconfig", testenv.Kubeconfig(t), "--namespace", s.ns}
			out, cliErr := execCommand(t, helm, args...).CombinedOutput()
			release()
			rep := s.await(done)
			if cliErr != nil {
				// Should Helm ever refuse a rollback of a pending release, ours goes on.
				t.Logf("%s %s refused: %v\n%s", filepath.Base(helm), strings.Join(args, " "), cliErr, out)
				if rep.Result != report.ResultUpgraded {
					t.Fatalf("result = %s (%s), want upgraded: the CLI was refused", rep.Result, rep.Failure)
				}
				s.wantRelease(2, "deployed", "2.11.6")
				return
			}
			if rep.Result != report.ResultFailed || rep.RolledBack != nil || hasStep(rep, "Roll back", report.OutcomeOK) || hasStep(rep, "Roll back", report.OutcomeFailed) {
				t.Fatalf("result = %s (%s), rollback %+v, after another client's rollback during our apply: want failed, nothing rolled back",
					rep.Result, rep.Failure, rep.RolledBack)
			}
			for _, want := range []string{"during this run's apply", "revision 3 (deployed, \"Rollback to 1\")", "another client", "revision 2 not watched, not verified"} {
				if !strings.Contains(rep.Failure, want) {
					t.Errorf("failure %q does not say %q", rep.Failure, want)
				}
			}
			if !strings.Contains(strings.Join(rep.Warnings, "\n"), "Not rolled back") {
				t.Errorf("warnings %q do not say the run rolled nothing back", rep.Warnings)
			}
			h, err := s.w.Helm.History(context.Background(), releaseName)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range h {
				if r.Verified() {
					t.Errorf("revision %d %s (%q) marked verified: no run verified the release after both writes", r.Revision, r.Status, r.Description)
				}
			}
			if rel := s.latest(); rel.Revision != 3 || rel.Status != "deployed" || rel.Description != "Rollback to 1" {
				t.Errorf("latest revision %d %s (%q), want the CLI's rollback revision 3, untouched", rel.Revision, rel.Status, rel.Description)
			}
		})
	}
}
