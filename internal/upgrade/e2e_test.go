package upgrade

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	helmrel "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/github"
	"github.com/pach-upgrade/pach-upgrade/internal/helmrelease"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/chartrepo"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The test repository's charts: chart versions deliberately differ from
// the Pachyderm versions they install.
var testCharts = []chartrepo.Chart{
	{Version: "7.10.0", AppVersion: "2.10.7"},
	{Version: "7.11.5", AppVersion: "2.11.5"},
	{Version: "7.11.6", AppVersion: "2.11.6"},
	{Version: "8.0.0", AppVersion: "3.0.0"},
}

const testChangelog = `# Changelog

## 2.11.6
* Fix pg-bouncer readiness.

## v2.11.5
* Older fix.
`

const releaseName = "pachd"

// runSeq makes each run's Lease holder identity unique, as main does per process.
var runSeq atomic.Int64

// scenario is one cluster namespace with a release, the world around it,
// and the runs made against it.
type scenario struct {
	t    *testing.T
	ns   string
	rc   *rest.Config
	w    *world.World
	kube *cluster.Client
	out  bytes.Buffer // everything the runs logged and printed
	last string       // what the last run logged and printed
	// publish makes every run publish as main does, the PR comment
	// included (a write to the GitHub stand-in).
	publish bool
	mu      sync.Mutex
	files   []string // files the runs wrote (backups)

	// repository and ref are the workflow's GITHUB_REPOSITORY and
	// GITHUB_SHA, for runs that use version-file.
	repository, ref string
	// toolCache is the runs' tool cache; empty means the one all tests
	// share.
	toolCache string
	// githubHTTP is the runs' HTTP client to the GitHub API; nil means the
	// stand-in's.
	githubHTTP *http.Client
}

func newScenario(t *testing.T, rc *rest.Config, opts world.Options) *scenario {
	t.Helper()
	ns := testenv.Namespace(t)
	if rc == nil {
		rc = testenv.RESTConfig(t)
	}
	opts.RESTConfig, opts.Namespace, opts.Dir = rc, ns, t.TempDir()
	if opts.ChartDir == "" && opts.Charts == nil {
		opts.Charts = testCharts
	}
	if opts.Changelog == "" {
		opts.Changelog = testChangelog
	}
	w, err := world.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	kube, err := cluster.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	return &scenario{t: t, ns: ns, rc: rc, w: w, kube: kube}
}

// install installs chartVersion and waits until it is Ready, as a user's
// running cluster would be.
func (s *scenario) install(chartVersion string, values map[string]any) {
	s.t.Helper()
	ctx := context.Background()
	if _, err := s.w.Install(ctx, releaseName, chartVersion, values); err != nil {
		s.t.Fatalf("install %s: %v", chartVersion, err)
	}
	if err := s.kube.WaitReady(ctx, s.ns, cluster.Selection{Release: releaseName}, time.Minute, nil); err != nil {
		s.t.Fatalf("installed release not Ready: %v", err)
	}
}

// run runs the upgrade in-process with the world's inputs plus inputs.
func (s *scenario) run(inputs map[string]string) *report.Report {
	s.t.Helper()
	return s.runCtx(context.Background(), inputs, nil)
}

// runCtx runs the upgrade with ctx, and when publish is set, publishes its
// report as main does: through report.PublishContext, with the sticky
// comment on pull request 1 of the GitHub stand-in.
func (s *scenario) runCtx(ctx context.Context, inputs map[string]string, publish func(*report.Report, report.Logger, report.CommentTarget)) *report.Report {
	s.t.Helper()
	raw := s.w.Inputs()
	raw[config.InputRelease] = releaseName
	backups := s.t.TempDir()
	raw[config.InputBackupDir] = backups
	for k, v := range inputs {
		raw[k] = v
	}
	cfg, err := config.Parse(raw)
	if err != nil {
		s.t.Fatalf("inputs: %v", err)
	}
	var out bytes.Buffer
	log := report.NewCLILogger(&out, &out)
	// A token as main passes one (action.yml defaults it to the job's
	// GITHUB_TOKEN, an App installation token, hence `ghs_`): the stand-in,
	// like GitHub, tells whose PRs and comments are ours by the identity
	// the token belongs to.
	token := cfg.GitHubToken
	if token == "" {
		token = "ghs_jobtoken0000000000000000000000000000"
	}
	gh, err := github.NewClient(github.Options{Token: token, APIURL: s.w.GitHub.APIURL, ServerURL: s.w.GitHub.ServerURL, HTTPClient: s.githubHTTP})
	if err != nil {
		s.t.Fatal(err)
	}
	helm, err := helmrelease.New(s.rc, s.ns)
	if err != nil {
		s.t.Fatal(err)
	}
	toolCache := s.toolCache
	if toolCache == "" {
		toolCache = filepath.Join(os.TempDir(), "pach-upgrade-test-tools")
	}
	rep := Run(ctx, cfg, Deps{
		Log: log, Cluster: s.kube, Helm: helm, GitHub: gh,
		Holder: fmt.Sprintf("%s run %d", s.t.Name(), runSeq.Add(1)), ToolCache: toolCache, TempDir: backups,
		Repository: s.repository, Ref: s.ref,
	})
	target := report.CommentTarget{Client: gh, Repo: world.Repo, PR: 1}
	switch {
	case publish != nil:
		publish(rep, log, target)
	case s.publish:
		// As main does: outputs, job summary, and the sticky comment on
		// pull request 1 of the stand-in GitHub.
		report.Publish(context.Background(), log, rep, target)
	default:
		log.AddSummary(report.Summary(rep))
		log.AddSummary(report.Comment(rep))
	}
	s.mu.Lock()
	s.out.Write(out.Bytes())
	s.last = out.String()
	s.files = append(s.files, rep.BackupPath)
	s.mu.Unlock()
	if testing.Verbose() {
		s.t.Logf("run output:\n%s", out.String())
	}
	return rep
}

func (s *scenario) latest() *helmrelease.Release {
	s.t.Helper()
	h, err := helmrelease.New(s.rc, s.ns)
	if err != nil {
		s.t.Fatal(err)
	}
	rel, err := h.Get(context.Background(), releaseName)
	if err != nil {
		s.t.Fatal(err)
	}
	return rel
}

// wantRelease checks the release's latest revision.
func (s *scenario) wantRelease(revision int, status, app string) {
	s.t.Helper()
	rel := s.latest()
	if rel.Revision != revision || rel.Status != status || rel.AppVersion != app {
		s.t.Errorf("release is revision %d %s (app %s), want revision %d %s (app %s)",
			rel.Revision, rel.Status, rel.AppVersion, revision, status, app)
	}
}

// setPostgresPassword changes the built-in PostgreSQL password the way the
// seed describes it: generated at install, living only in Secret postgres.
func (s *scenario) setPostgresPassword(pw string) {
	s.t.Helper()
	ctx := context.Background()
	secrets := s.w.Kube.CoreV1().Secrets(s.ns)
	sec, err := secrets.Get(ctx, "postgres", metav1.GetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	sec.Data["postgresql-password"] = []byte(pw)
	if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		s.t.Fatal(err)
	}
}

func (s *scenario) postgresPassword() string {
	s.t.Helper()
	sec, err := s.w.Kube.CoreV1().Secrets(s.ns).Get(context.Background(), "postgres", metav1.GetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return string(sec.Data["postgresql-password"])
}

// assertNeverLeaked scans everything the runs printed, reported and wrote
// for secret, in plain and base64 form.
func (s *scenario) assertNeverLeaked(secret string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	texts := map[string]string{"output": s.out.String()}
	for _, f := range s.files {
		if f == "" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			s.t.Fatal(err)
		}
		texts[f] = string(b)
	}
	for _, c := range s.w.GitHub.Comments(world.Repo, 1) {
		texts["comment"] += c.Body
	}
	for name, text := range texts {
		for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret))} {
			if strings.Contains(text, form) {
				s.t.Errorf("%s leaks the secret %q", name, form)
			}
		}
	}
}

func baseValues() map[string]any {
	return map[string]any{"deployTarget": "LOCAL"}
}

func TestPatchUpgradeCarriesPasswordAndVerifies(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	const password = "generated-Pw-7f3a9c"
	s.setPostgresPassword(password)

	rep := s.run(map[string]string{config.InputTargetVersion: "latest-patch", config.InputAllowMinor: "false"})
	if rep.Result != report.ResultUpgraded {
		t.Fatalf("result = %s (%s), want upgraded", rep.Result, rep.Failure)
	}
	if rep.FromVersion != "2.11.5" || rep.ToVersion != "2.11.6" || rep.FromChart != "7.11.5" || rep.ToChart != "7.11.6" {
		t.Errorf("report versions: %s (%s) → %s (%s)", rep.FromVersion, rep.FromChart, rep.ToVersion, rep.ToChart)
	}
	s.wantRelease(2, "deployed", "2.11.6")
	if got := s.postgresPassword(); got != password {
		t.Errorf("postgres password after upgrade = %q, want the generated one carried over", got)
	}
	versions := map[string]string{}
	for _, v := range rep.Versions {
		versions[v.Component] = v.Version
	}
	if versions["pachctl"] != "2.11.6" || versions["pachd"] != "2.11.6" {
		t.Errorf("versions table = %v, want pachctl and pachd 2.11.6", rep.Versions)
	}
	var pachd bool
	for _, p := range rep.Pods {
		if p.Status == "Terminating" {
			continue // an old pod on its way out: the rollout is done once it is terminating
		}
		if p.Ready == "" || strings.HasPrefix(p.Ready, "0/") {
			t.Errorf("pod %s not Ready in the report: %+v", p.Name, p)
		}
		if strings.HasPrefix(p.Name, "pachd-") {
			pachd = true
			if p.ImageTag != "2.11.6" {
				t.Errorf("pachd pod %s runs %s", p.Name, p.ImageTag)
			}
		}
	}
	if !pachd {
		t.Errorf("pods table has no pachd pod: %+v", rep.Pods)
	}
	if len(rep.Notes) != 1 || rep.Notes[0].Version.String() != "2.11.6" || !strings.Contains(rep.Notes[0].Body, "pg-bouncer") {
		t.Errorf("notes = %+v, want the CHANGELOG section of 2.11.6 only", rep.Notes)
	}
	if _, err := os.Stat(rep.BackupPath); err != nil {
		t.Errorf("backup snapshot: %v", err)
	}
	wantHealthBeside(t, rep, s.last)
	wantOwnershipBeside(t, rep, true)
	s.assertNeverLeaked(password)
}

// wantOwnershipBeside checks where the field-ownership check ran: beside
// the health read and the backup when the backup only reads, after the
// backup when it quiesces (which changes the objects the check reads). In
// both, its row follows the backup's and precedes the upgrade's.
func wantOwnershipBeside(t *testing.T, rep *report.Report, beside bool) {
	t.Helper()
	var names []string
	for _, st := range rep.Steps {
		names = append(names, st.Name)
		if st.Name == "Check field ownership" && (st.Background != beside || st.Outcome != report.OutcomeOK) {
			t.Errorf("ownership row = %+v, want ok, in the background: %t", st, beside)
		}
	}
	if all := strings.Join(names, " | "); !strings.Contains(all, "Back up | Check field ownership | Helm upgrade") {
		t.Errorf("steps = %s, want the ownership check between the backup and the upgrade", all)
	}
}

// wantHealthBeside checks that pachd's health was checked beside the
// version check: its row, marked background, follows the versions' and
// precedes the record, and its log group follows the versions' whole.
func wantHealthBeside(t *testing.T, rep *report.Report, log string) {
	t.Helper()
	var names []string
	for _, st := range rep.Steps {
		names = append(names, st.Name)
		if st.Name == "Check pachd's health" && (!st.Background || st.Outcome != report.OutcomeOK) {
			t.Errorf("health row = %+v, want ok, run in the background", st)
		}
	}
	all := strings.Join(names, " | ")
	if !strings.Contains(all, "Helm upgrade | Verify versions | Check pachd's health | Record verification") {
		t.Errorf("steps = %s, want the health check right after the version check", all)
	}
	v, h, rec := strings.Index(log, "▶ Verify versions"), strings.Index(log, "▶ Check pachd's health"), strings.Index(log, "▶ Record verification")
	if v < 0 || h < v || rec < h || !strings.Contains(log[v:h], "Verify versions: pachctl") {
		t.Errorf("log groups out of order (versions %d, health %d, record %d):\n%s", v, h, rec, log)
	}
}

func TestSameVersionIsNoOp(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.6", baseValues())
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6"})
	if rep.Result != report.ResultNoOp {
		t.Fatalf("result = %s (%s), want no-op", rep.Result, rep.Failure)
	}
	s.wantRelease(1, "deployed", "2.11.6")
}

func TestPolicyRefusesBeforeAnyChange(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	cases := []struct {
		inputs map[string]string
		want   string
	}{
		{map[string]string{config.InputTargetVersion: "3.0.0"}, "major"},
		{map[string]string{config.InputTargetVersion: "latest-minor", config.InputChartVersion: "8.0.0"}, "major"},
		{map[string]string{config.InputTargetVersion: "2.10.7"}, "downgrade"},
		{map[string]string{config.InputTargetVersion: "2.11.6", config.InputChartVersion: "7.10.0"}, "2.10.7"},
	}
	for _, c := range cases {
		rep := s.run(c.inputs)
		if rep.Result != report.ResultFailed || !strings.Contains(rep.Failure, c.want) {
			t.Errorf("%v: result %s, failure %q; want failed mentioning %q", c.inputs, rep.Result, rep.Failure, c.want)
		}
		if rep.BackupPath != "" {
			t.Errorf("%v: a refused upgrade took a backup", c.inputs)
		}
	}
	s.wantRelease(1, "deployed", "2.11.5")
}

func TestMinorUpgradeNeedsAllowMinor(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.10.0", baseValues())
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputAllowMinor: "false"})
	if rep.Result != report.ResultFailed || !strings.Contains(rep.Failure, "minor") {
		t.Fatalf("result %s (%s), want refused minor upgrade", rep.Result, rep.Failure)
	}
	s.wantRelease(1, "deployed", "2.10.7")
	rep = s.run(map[string]string{config.InputTargetVersion: "latest-minor"})
	if rep.Result != report.ResultUpgraded || rep.ToVersion != "2.11.6" {
		t.Fatalf("latest-minor: result %s to %s (%s)", rep.Result, rep.ToVersion, rep.Failure)
	}
	s.wantRelease(2, "deployed", "2.11.6")
}

func TestPodNeverReadyRollsBack(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	rep := s.run(map[string]string{
		config.InputTargetVersion: "2.11.6",
		config.InputTimeout:       "15s",
		config.InputValues:        "pachd:\n  podAnnotations:\n    " + testenv.AnnotationNeverReady + ": \"true\"\n",
	})
	if rep.Result != report.ResultRolledBack {
		t.Fatalf("result = %s (%s), want rolled-back", rep.Result, rep.Failure)
	}
	if !strings.Contains(rep.Failure, "pachd") {
		t.Errorf("failure %q does not name the pod that never became Ready", rep.Failure)
	}
	if rep.RolledBack == nil || rep.RolledBack.Revision != 1 || rep.RolledBack.Err != "" {
		t.Errorf("rollback = %+v, want back to revision 1", rep.RolledBack)
	}
	s.wantRelease(3, "deployed", "2.11.5")
	if err := s.kube.WaitReady(context.Background(), s.ns, cluster.Selection{Release: releaseName}, 30*time.Second, nil); err != nil {
		t.Errorf("rolled-back release is not Ready: %v", err)
	}
}

func TestCrashLoopFailsFastAndRollsBack(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	start := time.Now()
	rep := s.run(map[string]string{
		config.InputTargetVersion: "2.11.6",
		config.InputTimeout:       "90s",
		config.InputValues:        "pachd:\n  podAnnotations:\n    " + testenv.AnnotationCrashLoop + ": \"true\"\n",
	})
	if rep.Result != report.ResultRolledBack || !strings.Contains(rep.Failure, "CrashLoopBackOff") {
		t.Fatalf("result = %s (%s), want rolled-back naming CrashLoopBackOff", rep.Result, rep.Failure)
	}
	if time.Since(start) > 80*time.Second {
		t.Errorf("a crash loop was not detected before the timeout")
	}
	s.wantRelease(3, "deployed", "2.11.5")
}

func TestPachdOnOldVersionFailsVerificationAndRollsBack(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	// The chart upgrades, but pachd stays pinned to the old image: the
	// rollout succeeds and only the version check can catch it.
	rep := s.run(map[string]string{
		config.InputTargetVersion: "2.11.6",
		config.InputTimeout:       "20s",
		config.InputValues:        "pachd:\n  image:\n    tag: \"2.11.5\"\n",
	})
	if rep.Result != report.ResultRolledBack {
		t.Fatalf("result = %s (%s), want rolled-back", rep.Result, rep.Failure)
	}
	if !strings.Contains(rep.Failure, "2.11.5") || !strings.Contains(rep.Failure, "2.11.6") {
		t.Errorf("failure %q should name both versions", rep.Failure)
	}
	// The health check started beside the version check is dropped with
	// it: no row, no lines, as when the checks ran in turn.
	for _, st := range rep.Steps {
		if st.Name == "Check pachd's health" {
			t.Errorf("health row after a version failure: %+v", st)
		}
	}
	if strings.Contains(s.last, "Check pachd's health") {
		t.Errorf("health check logged after a version failure:\n%s", s.last)
	}
	s.wantRelease(3, "deployed", "2.11.5")
}

func TestNoRollbackWhenDisabled(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	rep := s.run(map[string]string{
		config.InputTargetVersion:     "2.11.6",
		config.InputTimeout:           "10s",
		config.InputRollbackOnFailure: "false",
		config.InputValues:            "pachd:\n  podAnnotations:\n    " + testenv.AnnotationNeverReady + ": \"true\"\n",
	})
	if rep.Result != report.ResultFailed || rep.RolledBack != nil {
		t.Fatalf("result = %s, rollback %+v; want failed without rollback", rep.Result, rep.RolledBack)
	}
	s.wantRelease(2, "deployed", "2.11.6")
}

func TestPlanChangesNothing(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	const password = "plan-Pw-91b2"
	s.setPostgresPassword(password)
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputMode: "plan"})
	if rep.Result != report.ResultPlanned {
		t.Fatalf("result = %s (%s), want planned", rep.Result, rep.Failure)
	}
	if rep.Plan == nil || !strings.Contains(rep.Plan.ManifestDiff, "pachyderm/pachd:2.11.6") {
		t.Errorf("plan diff does not show the pachd image change:\n%v", rep.Plan)
	}
	s.wantRelease(1, "deployed", "2.11.5")
	if got := s.postgresPassword(); got != password {
		t.Errorf("plan changed the postgres password")
	}
	s.assertNeverLeaked(password)
}

func TestMissingPostgresSecret(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	if err := s.w.Kube.CoreV1().Secrets(s.ns).Delete(context.Background(), "postgres", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6"})
	if rep.Result != report.ResultFailed || !strings.Contains(rep.Failure, "postgres") || !strings.Contains(rep.Failure, "postgresql-password") {
		t.Fatalf("result = %s (%s), want failed naming secret postgres and key postgresql-password", rep.Result, rep.Failure)
	}
	s.wantRelease(1, "deployed", "2.11.5")
}

func TestMissingUserSecret(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputRootTokenSecret: "my-root-token"})
	if rep.Result != report.ResultFailed || !strings.Contains(rep.Failure, "my-root-token") || !strings.Contains(rep.Failure, config.InputRootTokenSecret) {
		t.Fatalf("result = %s (%s), want failed naming the input and the Secret", rep.Result, rep.Failure)
	}
	s.wantRelease(1, "deployed", "2.11.5")
}

func TestBackupCommandFailureAborts(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6",
		config.InputBackupCommand: `test "$PACH_UPGRADE_TO_VERSION" = 2.11.6 && echo "backing up $PACH_UPGRADE_RELEASE" && exit 4`})
	if rep.Result != report.ResultFailed || !strings.Contains(rep.Failure, "exit status 4") {
		t.Fatalf("result = %s (%s), want failed by the backup command", rep.Result, rep.Failure)
	}
	if !strings.Contains(s.out.String(), "backing up pachd") {
		t.Errorf("backup command output not in the log")
	}
	s.wantRelease(1, "deployed", "2.11.5")
}

func TestPendingUpgradeRefusedThenRecovered(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	s.makePending()
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6"})
	if rep.Result != report.ResultFailed || !strings.Contains(rep.Failure, "pending-upgrade") {
		t.Fatalf("result = %s (%s), want refused naming pending-upgrade", rep.Result, rep.Failure)
	}
	s.wantRelease(2, "pending-upgrade", "2.11.5")

	rep = s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputRecoverPending: "true"})
	if rep.Result != report.ResultUpgraded {
		t.Fatalf("with recover-pending: result = %s (%s)", rep.Result, rep.Failure)
	}
	s.wantRelease(4, "deployed", "2.11.6")
}

// makePending stores a copy of the latest revision as a pending-upgrade
// one, as an upgrade killed mid-way leaves it.
func (s *scenario) makePending() {
	s.t.Helper()
	store := storage.Init(driver.NewSecrets(s.w.Kube.CoreV1().Secrets(s.ns)))
	last, err := store.Last(releaseName)
	if err != nil {
		s.t.Fatal(err)
	}
	rel := *last.(*helmrel.Release)
	info := *rel.Info
	info.Status = rcommon.StatusPendingUpgrade
	rel.Info = &info
	rel.Version++
	if err := store.Create(&rel); err != nil {
		s.t.Fatal(err)
	}
}

func TestConcurrentRunIsRefusedNamingTheHolder(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	lock, err := s.kube.Acquire(context.Background(), s.ns, cluster.LeaseName(releaseName), "other run 17", time.Minute, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "3s"})
	if rep.Result != report.ResultFailed || !strings.Contains(rep.Failure, "other run 17") {
		t.Fatalf("result = %s (%s), want failed naming the holder", rep.Result, rep.Failure)
	}
	s.wantRelease(1, "deployed", "2.11.5")
	if err := lock.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6"}); rep.Result != report.ResultUpgraded {
		t.Fatalf("after the holder released: %s (%s)", rep.Result, rep.Failure)
	}
}

func TestTwoRunsAtOnceUpgradeOnce(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	var wg sync.WaitGroup
	reps := make([]*report.Report, 2)
	for i := range reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i] = s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "90s"})
		}()
	}
	wg.Wait()
	got := map[report.Result]int{}
	for _, r := range reps {
		got[r.Result]++
	}
	// One run upgrades; the other waits for the Lease, then finds the
	// release already at the target.
	if got[report.ResultUpgraded] != 1 || got[report.ResultNoOp] != 1 {
		t.Fatalf("results = %v, want one upgraded and one no-op", got)
	}
	s.wantRelease(2, "deployed", "2.11.6")
}

// TestUpgradeAsLeastPrivilegeServiceAccount runs the whole upgrade, and a rollback, with only
// the permissions deploy/rbac.yaml grants in the namespace.
func TestUpgradeAsLeastPrivilegeServiceAccount(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	sa := testenv.ApplyRBAC(t, filepath.Join("..", "..", "deploy", "rbac.yaml"), s.ns)
	kube, err := cluster.New(sa)
	if err != nil {
		t.Fatal(err)
	}
	s.rc, s.kube = sa, kube

	rep := s.run(map[string]string{
		config.InputTargetVersion: "2.11.6", config.InputTimeout: "15s",
		config.InputValues: "pachd:\n  podAnnotations:\n    " + testenv.AnnotationNeverReady + ": \"true\"\n",
	})
	if rep.Result != report.ResultRolledBack {
		t.Fatalf("failed upgrade as the ServiceAccount: %s (%s), want rolled-back", rep.Result, rep.Failure)
	}
	s.wantRelease(3, "deployed", "2.11.5")

	rep = s.run(map[string]string{config.InputTargetVersion: "2.11.6"})
	if rep.Result != report.ResultUpgraded {
		t.Fatalf("upgrade as the ServiceAccount: %s (%s)", rep.Result, rep.Failure)
	}
	s.wantRelease(4, "deployed", "2.11.6")
}

func TestRealPachydermChart(t *testing.T) {
	t.Parallel()
	fixtures := testenv.SharedFixtures(t)
	for _, tc := range []struct {
		from, to, kind string
		auth           bool
	}{
		{"2.11.5", "2.11.6", "patch", false},
		{"2.10.7", "2.11.6", "minor", false},
		{"2.11.5", "2.11.6", "patch-auth", true},
		{"2.10.7", "2.11.6", "minor-auth", true},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			t.Parallel()
			s := newScenario(t, nil, world.Options{ChartDir: fixtures})
			pachd := map[string]any{"lokiDeploy": false}
			if tc.auth {
				// A license key turns enterprise on; with the chart's default
				// activateAuth it renders pachyderm-auth and pachyderm-enterprise.
				pachd["enterpriseLicenseKey"] = "test-license-key"
			}
			values := map[string]any{"deployTarget": "LOCAL", "pachd": pachd}
			if _, err := s.w.Install(context.Background(), releaseName, tc.from, values); err != nil {
				t.Fatal(err)
			}
			if err := s.kube.WaitReady(context.Background(), s.ns, cluster.Selection{Release: releaseName}, 2*time.Minute, nil); err != nil {
				t.Fatalf("real chart %s not Ready: %v", tc.from, err)
			}
			const password = "real-chart-Pw-55e1"
			s.setPostgresPassword(password)
			before := s.realGenerated(tc.auth)

			start := time.Now()
			plan := s.run(map[string]string{config.InputTargetVersion: tc.to, config.InputMode: "plan"})
			t.Logf("plan run took %s", time.Since(start).Round(time.Millisecond))
			if plan.Result != report.ResultPlanned {
				t.Fatalf("plan: %s (%s)", plan.Result, plan.Failure)
			}
			s.wantCarried(plan, tc.auth)

			start = time.Now()
			rep := s.run(map[string]string{config.InputTargetVersion: tc.to})
			t.Logf("upgrade run took %s", time.Since(start).Round(time.Millisecond))
			if rep.Result != report.ResultUpgraded {
				t.Fatalf("result = %s (%s)", rep.Result, rep.Failure)
			}
			s.wantRelease(2, "deployed", tc.to)
			s.wantCarried(rep, tc.auth)
			if got := s.postgresPassword(); got != password {
				t.Errorf("postgres password after the upgrade = %q, want it carried over", got)
			}
			after := s.realGenerated(tc.auth)
			for k, v := range before {
				if after[k] != v {
					t.Errorf("%s changed in the upgrade", k)
				}
			}
			s.assertNeverLeaked(password)
			for _, v := range before {
				s.assertNeverLeaked(v)
			}
			if testing.Verbose() {
				fmt.Println(report.Summary(rep))
			}
		})
	}
}

// realGenerated reads every value the real chart generates that an upgrade
// must keep, from the cluster.
func (s *scenario) realGenerated(auth bool) map[string]string {
	s.t.Helper()
	out := map[string]string{
		"CLUSTER_DEPLOYMENT_ID": s.secretValue("pachyderm-deployment-id-secret", "CLUSTER_DEPLOYMENT_ID"),
		"OAUTH_CLIENT_SECRET":   s.secretValue("pachyderm-console-secret", "OAUTH_CLIENT_SECRET"),
	}
	if auth {
		out["root-token"] = s.secretValue("pachyderm-auth", "root-token")
		out["pachd-oauth-client-secret"] = s.secretValue("pachyderm-auth", "pachd-oauth-client-secret")
		out["enterprise-secret"] = s.secretValue("pachyderm-enterprise", "enterprise-secret")
	}
	for _, d := range []string{"pachd", "pachw"} {
		dep, err := s.w.Kube.AppsV1().Deployments(s.ns).Get(context.Background(), d, metav1.GetOptions{})
		if err != nil {
			s.t.Fatal(err)
		}
		out[d+" STORAGE_HOST_PATH"] = s.envValue(d, "STORAGE_HOST_PATH")
		for _, v := range dep.Spec.Template.Spec.Volumes {
			if v.HostPath != nil {
				out[d+" volume "+v.Name] = v.HostPath.Path
			}
		}
		if out[d+" STORAGE_HOST_PATH"] == "" {
			s.t.Fatalf("Deployment %s has no STORAGE_HOST_PATH", d)
		}
	}
	return out
}

// wantCarried checks that the report lists every generated field of the
// real chart as carried, with the values key that pins it.
func (s *scenario) wantCarried(rep *report.Report, auth bool) {
	s.t.Helper()
	want := map[string]string{
		"Secret/pachyderm-deployment-id-secret/data.CLUSTER_DEPLOYMENT_ID": "pachd.clusterDeploymentID",
		"Secret/pachyderm-console-secret/data.OAUTH_CLIENT_SECRET":         "console.config.oauthClientSecret",
		"Secret/postgres/data.postgresql-password":                         "global.postgresql.postgresqlPassword",
	}
	if auth {
		want["Secret/pachyderm-auth/stringData.root-token"] = "pachd.rootToken"
		want["Secret/pachyderm-auth/stringData.pachd-oauth-client-secret"] = "pachd.oauthClientSecret"
		want["Secret/pachyderm-enterprise/stringData.enterprise-secret"] = "pachd.enterpriseSecret"
	}
	g := generated(rep)
	for id, key := range want {
		if f := g[id]; !f.Carried || f.How != "values" || f.ValuesKey != key {
			s.t.Errorf("%s: %+v, want carried by values key %s", id, f, key)
		}
	}
	var paths int
	for id, f := range g {
		if strings.Contains(id, "STORAGE_HOST_PATH") || strings.HasSuffix(id, "hostPath.path") {
			paths++
			if !f.Carried || f.How != "post-renderer" {
				s.t.Errorf("%s: %+v, want carried by the post-renderer", id, f)
			}
		}
	}
	if paths != 4 {
		s.t.Errorf("%d host-path fields carried, want 4 (env and volume of pachd and pachw): %+v", paths, rep.Generated)
	}
	if len(g) != len(want)+paths {
		s.t.Errorf("report lists %d generated fields, want %d: %+v", len(g), len(want)+paths, rep.Generated)
	}
}

// TestCancelMidUpgradeReportsThenNextRunRecovers cancels a run, as the
// runner's SIGINT does, while it watches a never-ready revision 2 roll out.
// The run must not report a timeout or roll back (a wait the runner's kill
// would cut): it publishes a cancelled report naming the step, the release
// left pending-upgrade and the recovery, releases the Lease, and all of it
// well within the 7.5 s before the runner's SIGTERM. The next run, with
// recover-pending, brings the release back and upgrades.
func TestCancelMidUpgradeReportsThenNextRunRecovers(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	s.install("7.11.5", baseValues())
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	signalled := make(chan time.Time, 1)
	go func() {
		// Revision 2 exists and its pachd pod never becomes Ready: the run
		// is in the middle of the Helm upgrade step's rollout watch.
		s.waitForRevision(2, time.Minute)
		time.Sleep(time.Second)
		signalled <- time.Now()
		cancel(errors.New("interrupt signal received"))
	}()
	var published time.Time
	rep := s.runCtx(ctx, map[string]string{
		config.InputTargetVersion: "2.11.6",
		config.InputTimeout:       "5m",
		config.InputValues:        "pachd:\n  podAnnotations:\n    " + testenv.AnnotationNeverReady + ": \"true\"\n",
	}, func(rep *report.Report, log report.Logger, target report.CommentTarget) {
		pctx, done := report.PublishContext(ctx, 2*time.Second, time.Minute)
		defer done()
		report.Publish(pctx, log, rep, target)
		published = time.Now()
	})
	took := published.Sub(<-signalled)
	t.Logf("signal to published report and comment: %s", took)
	if took > 5*time.Second {
		t.Errorf("report published %s after the cancel, want under 5s", took)
	}
	if rep.Result != report.ResultCancelled || rep.Cancelled == nil {
		t.Fatalf("result = %s (%s), want cancelled", rep.Result, rep.Failure)
	}
	if rep.RolledBack != nil || strings.Contains(rep.Failure, "not ready after") {
		t.Errorf("a cancel was handled as a failure: rollback %+v, failure %q", rep.RolledBack, rep.Failure)
	}
	c := rep.Cancelled
	if c.Step != "Helm upgrade" || !strings.Contains(c.Cause, "interrupt") {
		t.Errorf("cancellation = %+v, want the Helm upgrade step and the signal", c)
	}
	if !strings.Contains(c.State, "revision 2 pending-upgrade") || !strings.Contains(c.Recovery, "`recover-pending: true`") ||
		!strings.Contains(c.Recovery, "revision 1") {
		t.Errorf("cancellation = %+v, want revision 2 pending-upgrade, recovered with recover-pending to revision 1", c)
	}
	s.wantRelease(2, "pending-upgrade", "2.11.6")
	if _, err := s.w.Kube.CoordinationV1().Leases(s.ns).Get(context.Background(), cluster.LeaseName(releaseName), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Lease after the cancelled run: %v, want it released (deleted)", err)
	}
	comments := s.w.GitHub.Comments(world.Repo, 1)
	if len(comments) != 1 || !strings.Contains(comments[0].Body, "Cancelled") || !strings.Contains(comments[0].Body, "recover-pending") ||
		!strings.Contains(comments[0].Body, "pending-upgrade") {
		t.Fatalf("PR comments after the cancel = %+v, want one saying cancelled, pending-upgrade and recover-pending", comments)
	}

	rep = s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputRecoverPending: "true"})
	if rep.Result != report.ResultUpgraded {
		t.Fatalf("next run with recover-pending: result = %s (%s)", rep.Result, rep.Failure)
	}
	s.wantRelease(4, "deployed", "2.11.6")
}

// waitForRevision waits until the release has the given revision.
func (s *scenario) waitForRevision(revision int, timeout time.Duration) {
	h, err := helmrelease.New(s.rc, s.ns)
	if err != nil {
		s.t.Error(err)
		return
	}
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if rel, err := h.Get(context.Background(), releaseName); err == nil && rel.Revision >= revision {
			return
		}
	}
	s.t.Errorf("release never reached revision %d", revision)
}

// TestCancelDuringRollbackStopsItsWait: the upgrade times out and rolls
// back, and the run is cancelled while the rollback waits for Ready (here
// the old revision never becomes Ready either). The run stops waiting at
// once and reports the rollback applied but unchecked — it does not mark
// the rollback pending, which recover-pending would undo.
func TestCancelDuringRollbackStopsItsWait(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil, world.Options{})
	neverReady := map[string]any{"deployTarget": "LOCAL",
		"pachd": map[string]any{"podAnnotations": map[string]any{testenv.AnnotationNeverReady: "true"}}}
	if _, err := s.w.Install(context.Background(), releaseName, "7.11.5", neverReady); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	signalled := make(chan time.Time, 1)
	go func() {
		s.waitForRevision(3, 2*time.Minute) // revision 3 is the rollback
		time.Sleep(time.Second)
		signalled <- time.Now()
		cancel(errors.New("terminated signal received"))
	}()
	rep := s.runCtx(ctx, map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "30s"}, nil)
	took := time.Since(<-signalled)
	t.Logf("signal to the run's end, mid-rollback: %s", took)
	if took > 3*time.Second {
		t.Errorf("the run ended %s after the cancel: the rollback's wait went on", took)
	}
	if rep.Result != report.ResultCancelled || rep.Cancelled == nil {
		t.Fatalf("result = %s (%s), want cancelled", rep.Result, rep.Failure)
	}
	if c := rep.Cancelled; c.Step != "Roll back" || !strings.Contains(c.State, "rollback to revision 1") || strings.Contains(c.Recovery, "recover-pending") {
		t.Errorf("cancellation = %+v, want the Roll back step, the rollback applied, no recover-pending", c)
	}
	if rep.Failure == "" || strings.Contains(rep.Failure, "signal") {
		t.Errorf("failure %q should still say why the upgrade was rolled back (the timeout, not the cancel)", rep.Failure)
	}
	s.wantRelease(3, "deployed", "2.11.5")
}
