// Package container_test is the container contract test: it builds the image
// from the project's Dockerfile and runs it as the GitHub Actions runner runs
// a container action (see internal/testenv/containertest), against the local
// control plane and the GitHub stand-in.
package container_test

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/chartrepo"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/containertest"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	repository = "example/platform"
	pr         = 7
	release    = "pachd"
)

var charts = []chartrepo.Chart{
	{Version: "7.11.5", AppVersion: "2.11.5"},
	{Version: "7.11.6", AppVersion: "2.11.6"},
}

const changelog = `# Changelog

## 2.11.6
* Fix pg-bouncer readiness.

## 2.11.5
* Older fix.
`

// logStep sends the step's output to the test log, line by line.
type logStep struct{ t *testing.T }

func (w logStep) Write(p []byte) (int, error) {
	w.t.Logf("step: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestBadInput: a bad input exits 2 naming the inputs, with result=failed
// set for later steps and no summary.
func TestBadInput(t *testing.T) {
	img := containertest.Image(t)
	step := containertest.NewStep(t, img, containertest.StepOptions{Repository: repository, Log: logStep{t}})
	res, err := step.Run(t.Context(), map[string]string{
		config.InputTargetVersion: "3.0", config.InputNamespace: "Bad_NS",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("podman run to the first log line: %v; whole step %v", res.FirstOutput, res.Elapsed)
	if res.ExitCode != 2 {
		t.Errorf("exit code = %d, want 2; log:\n%s", res.ExitCode, res.Log)
	}
	for _, in := range []string{`"target-version"`, `"namespace"`} {
		if !strings.Contains(res.Log, in) {
			t.Errorf("log does not name input %s:\n%s", in, res.Log)
		}
	}
	if res.Outputs["result"] != "failed" {
		t.Errorf("outputs = %v, want result=failed", res.Outputs)
	}
	if res.Summary != "" {
		t.Errorf("bad input wrote a summary:\n%s", res.Summary)
	}
}

// TestKubeconfigNotVisible: KUBECONFIG set by an earlier step to a file in
// the runner's home (aws eks update-kubeconfig) is not in the container;
// the error names the variable, the path, why and the fix.
func TestKubeconfigNotVisible(t *testing.T) {
	img := containertest.Image(t)
	step := containertest.NewStep(t, img, containertest.StepOptions{Repository: repository, Log: logStep{t}})
	kc := filepath.Join(step.Root, "runner", ".kube", "config")
	if err := os.MkdirAll(filepath.Dir(kc), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	step = step.WithEnv(map[string]string{"KUBECONFIG": kc})
	res, err := step.Run(t.Context(), map[string]string{config.InputTargetVersion: "2.11.6"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 1 || res.Outputs["result"] != "failed" {
		t.Errorf("exit code %d, outputs %v; want 1 and result=failed; log:\n%s", res.ExitCode, res.Outputs, res.Log)
	}
	for _, s := range []string{"KUBECONFIG names " + kc, "Docker container", "`kubeconfig` input", "github.workspace"} {
		if !strings.Contains(res.Log, s) {
			t.Errorf("log lacks %q:\n%s", s, res.Log)
		}
	}
}

// TestLoopbackServerUnreachable: a kubeconfig for a cluster on the runner's
// loopback (kind, k3d) names the container's own loopback; the error says so.
func TestLoopbackServerUnreachable(t *testing.T) {
	img := containertest.Image(t)
	step := containertest.NewStep(t, img, containertest.StepOptions{Repository: repository, Log: logStep{t}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close() // nothing listens there now
	kubeconfig := `apiVersion: v1
kind: Config
clusters: [{name: kind, cluster: {server: "https://127.0.0.1:` + port + `", insecure-skip-tls-verify: true}}]
users: [{name: kind, user: {token: not-a-secret}}]
contexts: [{name: kind, context: {cluster: kind, user: kind}}]
current-context: kind
`
	res, err := step.Run(t.Context(), map[string]string{config.InputTargetVersion: "2.11.6", config.InputKubeconfig: kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 1 || res.Outputs["result"] != "failed" {
		t.Errorf("exit code %d, outputs %v; want 1 and result=failed; log:\n%s", res.ExitCode, res.Outputs, res.Log)
	}
	for _, s := range []string{"127.0.0.1:" + port, "loopback", "not the runner's", "docker run --network host"} {
		if !strings.Contains(res.Log, s) {
			t.Errorf("log lacks %q:\n%s", s, res.Log)
		}
	}
}

// TestUpgradeInContainer: a plan run, then a real upgrade of the test chart,
// from the image as the runner runs it: every output, the job summary, the
// sticky PR comment, and the backup at the backup-path output, on the
// runner's side, readable by the runner's user and no one else. Nothing is
// left behind that the runner's user does not own, and nothing is put on the
// job's PATH.
func TestUpgradeInContainer(t *testing.T) {
	img := containertest.Image(t)
	ctx := t.Context()
	w := installed(t, true)

	step := containertest.NewStep(t, img, containertest.StepOptions{
		Repository: repository, PullRequest: pr, APIURL: w.GitHub.APIURL, ServerURL: w.GitHub.ServerURL,
		Log: logStep{t},
	})
	// An earlier step wrote the kubeconfig into the workspace: the runner
	// rewrites KUBECONFIG to the container path.
	kubeconfig, err := os.ReadFile(testenv.Kubeconfig(t))
	if err != nil {
		t.Fatal(err)
	}
	kcPath := filepath.Join(step.Workspace, "kubeconfig")
	if err := os.WriteFile(kcPath, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(kcPath, containertest.RunnerUID, containertest.RunnerUID); err != nil {
		t.Fatal(err)
	}
	step = step.WithEnv(map[string]string{"KUBECONFIG": kcPath})

	inputs := w.Inputs()
	inputs[config.InputRelease] = release
	inputs[config.InputTargetVersion] = "latest-patch"
	inputs[config.InputGitHubToken] = "test-token"

	// Plan first, as a PR workflow does on open.
	inputs[config.InputMode] = "plan"
	res, err := step.Run(ctx, inputs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plan: podman run to the first log line %v, whole step %v", res.FirstOutput, res.Elapsed)
	if res.ExitCode != 0 || res.Outputs["result"] != "planned" {
		t.Fatalf("plan: exit code %d, outputs %v; log:\n%s", res.ExitCode, res.Outputs, res.Log)
	}
	if !strings.Contains(res.Summary, "2.11.6") {
		t.Errorf("plan summary does not name the target 2.11.6:\n%s", res.Summary)
	}
	if rel, err := w.Helm.Get(ctx, release); err != nil || rel.ChartVersion != "7.11.5" {
		t.Fatalf("after the plan the release is %+v (%v), want chart 7.11.5 untouched", rel, err)
	}

	inputs[config.InputMode] = "apply"
	res, err = step.Run(ctx, inputs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("apply: podman run to the first log line %v, whole step %v", res.FirstOutput, res.Elapsed)
	if res.ExitCode != 0 {
		t.Fatalf("apply: exit code %d; log:\n%s", res.ExitCode, res.Log)
	}
	want := map[string]string{"result": "upgraded", "previous-version": "2.11.5", "target-version": "2.11.6", "chart-version": "7.11.6"}
	for k, v := range want {
		if res.Outputs[k] != v {
			t.Errorf("output %s = %q, want %q", k, res.Outputs[k], v)
		}
	}
	if rel, err := w.Helm.Get(ctx, release); err != nil || rel.ChartVersion != "7.11.6" {
		t.Errorf("release after the upgrade: %+v (%v), want chart 7.11.6", rel, err)
	}

	// The backup: at the runner-side path the output gives, the runner's
	// user's alone.
	backup := res.Outputs["backup-path"]
	if filepath.Dir(backup) != step.Temp {
		t.Errorf("backup-path = %s, want a file in the runner's RUNNER_TEMP %s", backup, step.Temp)
	}
	data, err := containertest.ReadAsRunner(ctx, backup)
	if err != nil {
		t.Fatalf("the runner's user cannot read the backup: %v", err)
	}
	var snap struct {
		Release, ChartVersion string
	}
	if err := json.Unmarshal(data, &snap); err != nil || snap.Release != release || snap.ChartVersion != "7.11.5" {
		t.Errorf("backup = %+v (%v), want the snapshot of %s at chart 7.11.5", snap, err, release)
	}
	if _, err := containertest.ReadAs(ctx, containertest.RunnerUID+1, backup); err == nil {
		t.Errorf("another user can read the backup %s", backup)
	}

	if !strings.Contains(res.Summary, "2.11.5") || !strings.Contains(res.Summary, "2.11.6") || !strings.Contains(res.Summary, "Fix pg-bouncer readiness") {
		t.Errorf("job summary lacks the versions or the release notes:\n%s", res.Summary)
	}
	comments := w.GitHub.Comments(repository, pr)
	if len(comments) != 1 {
		t.Fatalf("PR comments = %d, want one sticky comment updated in place", len(comments))
	}
	if body := comments[0].Body; !strings.Contains(body, "2.11.6") || !strings.Contains(strings.ToLower(body), "upgraded") {
		t.Errorf("PR comment does not report the upgrade:\n%s", body)
	}

	// pachctl lives in the container only: no PATH entry, no cache claim.
	if len(res.Paths) != 0 {
		t.Errorf("GITHUB_PATH entries %v name folders of the container", res.Paths)
	}
	if strings.Contains(res.Log, "from the tool cache") {
		t.Errorf("log claims a tool cache hit in a container:\n%s", res.Log)
	}
	if !strings.Contains(res.Log, "not put on the job's PATH") {
		t.Errorf("log does not say pachctl stays in the container:\n%s", res.Log)
	}
	if others, err := step.NotRunners(); err != nil || len(others) > 0 {
		t.Errorf("left in the runner's folders, not owned by the runner's user (%v):\n%s", err, strings.Join(others, "\n"))
	}
}

// TestBackupOnOlderRunner: a runner before 2.331 mounts no RUNNER_TEMP; the
// snapshot goes to the mounted home, which is in the runner's temporary
// folder too, and backup-path is its runner-side path.
func TestBackupOnOlderRunner(t *testing.T) {
	img := containertest.Image(t)
	ctx := t.Context()
	w := installed(t, false)
	kubeconfig, err := os.ReadFile(testenv.Kubeconfig(t))
	if err != nil {
		t.Fatal(err)
	}
	step := containertest.NewStep(t, img, containertest.StepOptions{Repository: repository, NoRunnerTemp: true,
		APIURL: w.GitHub.APIURL, ServerURL: w.GitHub.ServerURL})
	inputs := w.Inputs()
	inputs[config.InputRelease] = release
	inputs[config.InputTargetVersion] = "2.11.6"
	inputs[config.InputKubeconfig] = string(kubeconfig)
	inputs[config.InputPachctlVersionCheck] = "false"
	res, err := step.Run(ctx, inputs)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || res.Outputs["result"] != "upgraded" {
		t.Fatalf("exit code %d, outputs %v; log:\n%s", res.ExitCode, res.Outputs, res.Log)
	}
	backup := res.Outputs["backup-path"]
	if filepath.Dir(backup) != step.Home {
		t.Errorf("backup-path = %s, want a file in the runner's %s", backup, step.Home)
	}
	if _, err := containertest.ReadAsRunner(ctx, backup); err != nil {
		t.Errorf("the runner's user cannot read the backup: %v", err)
	}
}

// TestImageSize: what a runner pulls (the image's layers, gzip-compressed)
// stays under 25 MB.
func TestImageSize(t *testing.T) {
	img := containertest.Image(t)
	compressed, err := containertest.CompressedSize(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s: %.1f MiB on disk, %.1f MiB compressed (layers as pulled); built in %v",
		img.Name, float64(img.Size)/(1<<20), float64(compressed)/(1<<20), img.BuildTime.Round(time.Second))
	if compressed >= 25e6 {
		t.Errorf("compressed layers = %d bytes, want under 25 MB", compressed)
	}
}

// TestCancelInContainer cancels the step as the runner does — SIGINT, then
// SIGTERM 7.5 s later, then a kill 2.5 s after that — in the middle of the
// Helm upgrade (revision 2's pachd never becomes Ready). The step must
// publish its report (outputs, summary, PR comment) with result cancelled
// and exit by itself well before the kill; the next run, with
// recover-pending, brings the release back and upgrades.
func TestCancelInContainer(t *testing.T) {
	img := containertest.Image(t)
	ctx := t.Context()
	w := installed(t, true)
	kubeconfig, err := os.ReadFile(testenv.Kubeconfig(t))
	if err != nil {
		t.Fatal(err)
	}
	step := containertest.NewStep(t, img, containertest.StepOptions{
		Repository: repository, PullRequest: pr, APIURL: w.GitHub.APIURL, ServerURL: w.GitHub.ServerURL,
		Log: logStep{t},
	})
	inputs := w.Inputs()
	inputs[config.InputRelease] = release
	inputs[config.InputTargetVersion] = "2.11.6"
	inputs[config.InputGitHubToken] = "test-token"
	inputs[config.InputKubeconfig] = string(kubeconfig)
	inputs[config.InputTimeout] = "5m"
	inputs[config.InputValues] = "pachd:\n  podAnnotations:\n    " + testenv.AnnotationNeverReady + ": \"true\"\n"

	running, err := step.Start(ctx, inputs)
	if err != nil {
		t.Fatal(err)
	}
	// Mid-upgrade: revision 2 exists and its rollout is being watched.
	for end := time.Now().Add(3 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if rel, err := w.Helm.Get(ctx, release); err == nil && rel.Revision >= 2 {
			break
		}
		if time.Now().After(end) {
			_ = running.Kill()
			t.Fatalf("revision 2 never appeared; log:\n%s", running.Log())
		}
	}
	time.Sleep(time.Second)

	// The runner's cancel sequence.
	signalled := time.Now()
	var sent []string
	for _, s := range []struct {
		name  string
		after time.Duration
		do    func() error
	}{
		{"SIGINT", 0, func() error { return running.Signal(os.Interrupt) }},
		{"SIGTERM", 7500 * time.Millisecond, func() error { return running.Signal(syscall.SIGTERM) }},
		{"kill", 2500 * time.Millisecond, running.Kill},
	} {
		select {
		case <-running.Done():
		case <-time.After(s.after):
			sent = append(sent, s.name)
			if err := s.do(); err != nil {
				t.Logf("%s: %v", s.name, err)
			}
			continue
		}
		break
	}
	res, err := running.Wait()
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(signalled)
	t.Logf("runner's cancel in the container: %v sent; SIGINT to podman's exit %v", sent, took)
	if len(sent) != 1 {
		t.Errorf("sent %v: the step did not end after SIGINT alone", sent)
	}
	if took > 5*time.Second {
		t.Errorf("the step ended %v after SIGINT, want under 5s", took)
	}
	if res.ExitCode != 1 || res.Outputs["result"] != "cancelled" {
		t.Errorf("exit code %d, outputs %v; want 1 and result=cancelled; log:\n%s", res.ExitCode, res.Outputs, res.Log)
	}
	for _, want := range []string{"Cancelled", "Helm upgrade", "revision 2 pending-upgrade", "`recover-pending: true`"} {
		if !strings.Contains(res.Summary, want) {
			t.Errorf("job summary lacks %q:\n%s", want, res.Summary)
		}
	}
	comments := w.GitHub.Comments(repository, pr)
	if len(comments) != 1 || !strings.Contains(comments[0].Body, "Cancelled") || !strings.Contains(comments[0].Body, "recover-pending") {
		t.Fatalf("PR comments = %+v, want one cancelled report", comments)
	}
	if rel, err := w.Helm.Get(ctx, release); err != nil || rel.Revision != 2 || rel.Status != "pending-upgrade" {
		t.Errorf("release after the cancel: %+v (%v), want revision 2 pending-upgrade", rel, err)
	}

	delete(inputs, config.InputValues)
	inputs[config.InputRecoverPending] = "true"
	inputs[config.InputTimeout] = "2m"
	res, err = step.Run(ctx, inputs)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || res.Outputs["result"] != "upgraded" {
		t.Fatalf("next run with recover-pending: exit %d, outputs %v; log:\n%s", res.ExitCode, res.Outputs, res.Log)
	}
	if rel, err := w.Helm.Get(ctx, release); err != nil || rel.Revision != 4 || rel.Status != "deployed" || rel.ChartVersion != "7.11.6" {
		t.Errorf("release after recovering: %+v (%v), want revision 4 deployed at chart 7.11.6", rel, err)
	}
}

// installed installs chart 7.11.5 of the test chart in a new namespace, with
// the world around it (chart repository, GitHub stand-in); with ready set it
// also waits until every workload and pod of the release is Ready.
func installed(t *testing.T, ready bool) *world.World {
	t.Helper()
	ctx := t.Context()
	ns := testenv.Namespace(t)
	rc := testenv.RESTConfig(t)
	w, err := world.New(ctx, world.Options{RESTConfig: rc, Namespace: ns, Dir: t.TempDir(), Charts: charts, Changelog: changelog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if _, err := w.Install(ctx, release, "7.11.5", map[string]any{"deployTarget": "LOCAL"}); err != nil {
		t.Fatal(err)
	}
	if !ready {
		return w
	}
	kube, err := cluster.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	if err := kube.WaitReady(ctx, ns, cluster.Selection{Release: release}, 2*time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	return w
}
