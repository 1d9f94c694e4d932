// Command demo shows pach-upgrade end to end on this machine with nothing but Go: it boots the
// local Kubernetes control plane from test/cluster, installs an old Pachyderm-shaped chart,
// runs the pach-upgrade binary as a GitHub Actions step on a pull request, and prints the job
// summary and the PR comment the step wrote. A second part, when PostgreSQL 15 is installed,
// makes that database the chart's built-in one and runs a minor upgrade whose new pachd adds
// schema migrations and then fails: the step restores the dump and rolls the chart back, and
// the demo reads the release and the migrations table itself to show it.
//
//	go run ./test/demo
//
// Everything listens on 127.0.0.1 and stops when the demo ends. The chart repository, the GitHub
// API (CHANGELOG, releases, pachctl assets with digests) and pachd are local stand-ins; the
// Kubernetes API server, Helm and pach-upgrade itself are real.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/actionrun"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/chartrepo"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/postgres"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

const (
	release    = "pachd"
	repository = "example/pachyderm-platform"
	pr         = 42
)

// charts are the demo repository's chart versions; chart and Pachyderm versions differ on
// purpose, as they do in Pachyderm's own repository.
var charts = []chartrepo.Chart{
	{Version: "7.11.5", AppVersion: "2.11.5"},
	{Version: "7.11.6", AppVersion: "2.11.6"},
	{Version: "7.12.0", AppVersion: "2.12.0"},
}

const changelog = `# Changelog

## 2.12.0
* New minor release: pachd adds three schema migrations; not picked by latest-patch.

## 2.11.6
* Fix pg-bouncer readiness during rolling upgrades.
* pachctl: clearer error when the context has no pachd address.

## 2.11.5
* Older fix, already installed.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: go run ./test/demo\n\n"+
			"Boots a local cluster, installs Pachyderm-shaped chart 2.11.5 and upgrades it with pach-upgrade (target latest-patch),\n"+
			"then, on a real PostgreSQL 15 (skipped when none is installed), runs a minor upgrade to 2.12.0 that adds schema\n"+
			"migrations and fails its pipeline check, so pach-upgrade restores the database dump and rolls the chart back.\n"+
			"Each part prints the step log, outputs, job summary and PR comment.")
	}
	flag.Parse()
	res, err := run(ctx, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	if res.Upgrade != "upgraded" {
		fmt.Fprintf(os.Stderr, "demo: the patch upgrade's result is %q, not upgraded\n", res.Upgrade)
		os.Exit(1)
	}
}

// results is what the demo's two parts ended with.
type results struct {
	// Upgrade is the result output of part 1, the patch upgrade.
	Upgrade string
	// Recovery is part 2, the failed minor upgrade; nil when it was skipped (SkipReason).
	Recovery   *recovery
	SkipReason string
}

// recovery is what part 2 observed, outside the action: its result output, the steps it ran,
// and what the cluster and the database hold afterwards.
type recovery struct {
	Result string
	// Restored is true when the step's summary lists the restore step as done.
	Restored bool
	// MigrationsBefore is pachd's migrations count before the run, MigrationsPeak the most the
	// new pachd left (read by the start gate), MigrationsAfter the count after the run.
	MigrationsBefore, MigrationsAfter int
	// Revision, Status and AppVersion are the release's latest revision after the run.
	Revision   int
	Status     string
	AppVersion string
	// PachdReady is true when the release's pods, pachd included, are Ready after the run.
	PachdReady bool
}

// run performs the demo, writing the steps' logs, job summaries and PR comments to out and its
// own progress to progress.
func run(ctx context.Context, out, progress io.Writer) (res results, err error) {
	say := func(format string, a ...any) { fmt.Fprintf(progress, "==> "+format+"\n", a...) }

	say("Starting the local Kubernetes control plane (the first run builds it from the Go module proxy, about 10 minutes on 2 cores; later runs take seconds)")
	start := time.Now()
	kc, err := testenv.Use(ctx, progress)
	if err != nil {
		return res, err
	}
	defer func() {
		if stopErr := kc.Stop(context.WithoutCancel(ctx)); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	say("API server Ready after %v", time.Since(start).Round(time.Second))

	rc, err := clientcmd.BuildConfigFromFlags("", kc.Kubeconfig())
	if err != nil {
		return res, fmt.Errorf("load kubeconfig: %w", err)
	}
	kube, err := cluster.New(rc)
	if err != nil {
		return res, err
	}
	dir, err := os.MkdirTemp("", "pach-upgrade-demo-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)

	say("Building pach-upgrade")
	root, err := testenv.RepoRoot()
	if err != nil {
		return res, err
	}
	bin, err := actionrun.Build(ctx, root, dir)
	if err != nil {
		return res, err
	}
	d := &demo{out: out, say: say, rc: rc, kube: kube, kubeconfig: kc.Kubeconfig(), bin: bin}

	start = time.Now()
	if res.Upgrade, err = d.patchUpgrade(ctx, filepath.Join(dir, "part1")); err != nil {
		return res, err
	}
	say("Part 1 done in %v", time.Since(start).Round(100*time.Millisecond))

	// Part 2 needs a real PostgreSQL 15; a user without one still sees part 1.
	if _, err := postgres.BinDir(); err != nil {
		res.SkipReason = fmt.Sprintf("part 2 (a failed minor upgrade restored from the database dump) needs PostgreSQL 15: %v", err)
		say("Skipping %s", res.SkipReason)
		return res, nil
	}
	start = time.Now()
	if res.Recovery, err = d.failedMinorUpgrade(ctx, filepath.Join(dir, "part2")); err != nil {
		return res, err
	}
	say("Part 2 done in %v", time.Since(start).Round(100*time.Millisecond))
	return res, nil
}

// demo is what both parts share: the cluster and the built action.
type demo struct {
	out        io.Writer
	say        func(format string, a ...any)
	rc         *rest.Config
	kube       *cluster.Client
	kubeconfig string
	bin        string
}

// namespace creates a fresh namespace and returns it with its removal.
func (d *demo) namespace(ctx context.Context) (string, func(), error) {
	nsObj, err := d.kube.Clientset().CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "pachyderm-demo-"}}, metav1.CreateOptions{})
	if err != nil {
		return "", nil, fmt.Errorf("create namespace: %w", err)
	}
	ns := nsObj.Name
	return ns, func() {
		_ = d.kube.Clientset().CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), ns, metav1.DeleteOptions{})
	}, nil
}

// runner is the Actions runner stand-in for world w, writing into dir.
func (d *demo) runner(w *world.World, dir string) actionrun.Runner {
	return actionrun.Runner{
		Binary: d.bin, Dir: dir, Repository: repository, PullRequest: pr,
		APIURL: w.GitHub.APIURL, ServerURL: w.GitHub.ServerURL,
		Env: []string{"KUBECONFIG=" + d.kubeconfig},
	}
}

// patchUpgrade is part 1: a successful latest-patch upgrade of 2.11.5. It returns the action's
// result output.
func (d *demo) patchUpgrade(ctx context.Context, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	ns, remove, err := d.namespace(ctx)
	if err != nil {
		return "", err
	}
	defer remove()

	d.say("Part 1: serving a chart repository, a GitHub API and a pachd stand-in on 127.0.0.1")
	w, err := world.New(ctx, world.Options{RESTConfig: d.rc, Namespace: ns, Dir: dir, Charts: charts, Changelog: changelog})
	if err != nil {
		return "", err
	}
	defer w.Close()

	d.say("Installing the old release: chart 7.11.5 (Pachyderm 2.11.5) as %q in namespace %s", release, ns)
	if _, err := w.Install(ctx, release, "7.11.5", map[string]any{"deployTarget": "LOCAL"}); err != nil {
		return "", fmt.Errorf("install the old release: %w", err)
	}
	if err := d.kube.WaitReady(ctx, ns, cluster.Selection{Release: release}, 2*time.Minute, nil); err != nil {
		return "", fmt.Errorf("old release not Ready: %w", err)
	}

	inputs := w.Inputs()
	inputs[config.InputRelease] = release
	inputs[config.InputTargetVersion] = "latest-patch"
	inputs[config.InputAllowMinor] = "false"
	inputs[config.InputGitHubToken] = "demo-token"
	inputs[config.InputBackupDir] = dir
	inputs[config.InputBackupCommand] = `echo "backing up $PACH_UPGRADE_RELEASE in $PACH_UPGRADE_NAMESPACE before $PACH_UPGRADE_FROM_VERSION -> $PACH_UPGRADE_TO_VERSION"`
	d.say("Running pach-upgrade as a GitHub Actions step on pull request #%d (target-version: latest-patch)", pr)
	res, err := d.runner(w, dir).Run(ctx, inputs)
	if err != nil {
		return "", err
	}
	part(d.out, "Part 1: a patch upgrade (latest-patch, 2.11.5 → 2.11.6)")
	comments := d.show(w, res)
	if res.ExitCode != 0 {
		return res.Outputs["result"], fmt.Errorf("pach-upgrade exited with code %d", res.ExitCode)
	}
	if comments != 1 {
		return res.Outputs["result"], errors.New("the step did not leave exactly one PR comment")
	}
	return res.Outputs["result"], nil
}

// failedMinorUpgrade is part 2: on a real PostgreSQL, Pachyderm 2.11.6 is upgraded to 2.12.0,
// whose pachd applies its three new schema migrations (21 → 24) while its console crash-loops. The action must restore the dump it took, roll the chart back and see the old
// pachd Ready; the demo then checks the release and the database itself.
func (d *demo) failedMinorUpgrade(ctx context.Context, dir string) (_ *recovery, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	d.say("Part 2: starting PostgreSQL 15 as the release's built-in database")
	srv, err := postgres.New(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if stopErr := srv.Stop(); stopErr != nil && err == nil {
			err = fmt.Errorf("stop PostgreSQL: %w", stopErr)
		}
	}()
	ns, remove, err := d.namespace(ctx)
	if err != nil {
		return nil, err
	}
	defer remove()
	w, err := world.New(ctx, world.Options{RESTConfig: d.rc, Namespace: ns, Dir: dir, Charts: charts, Changelog: changelog,
		Database: srv, Migrations: pachstandin.DefaultMigrations})
	if err != nil {
		return nil, err
	}
	defer w.Close()
	d.say("Installing chart 7.11.6 (Pachyderm 2.11.6) as %q in namespace %s; its pachd applies 2.11's migrations", release, ns)
	vals := map[string]any{
		"deployTarget": "LOCAL",
		"pachd":        map[string]any{"podAnnotations": pachstandin.PodAnnotations()},
		"global":       map[string]any{"postgresql": map[string]any{"postgresqlPassword": srv.Password}},
	}
	if _, err := w.Install(ctx, release, "7.11.6", vals); err != nil {
		return nil, fmt.Errorf("install the old release: %w", err)
	}
	if err := d.kube.WaitReady(ctx, ns, cluster.Selection{Release: release}, 2*time.Minute, nil); err != nil {
		return nil, fmt.Errorf("old release not Ready: %w", err)
	}
	db, err := sql.Open("postgres", srv.DSN(postgres.DBPachyderm))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rec := &recovery{}
	if rec.MigrationsBefore, err = migrations(ctx, db); err != nil {
		return nil, err
	}

	inputs := w.Inputs()
	inputs[config.InputRelease] = release
	inputs[config.InputTargetVersion] = minorTarget
	inputs[config.InputAllowMinor] = "true"
	inputs[config.InputDatabaseBackup] = "true"
	inputs[config.InputTimeout] = "60s"
	// The new revision's console crash-loops (the local cluster's kwok turns this annotation into
	// CrashLoopBackOff), after the new pachd has migrated the database.
	inputs[config.InputValues] = "console:\n  podAnnotations:\n    " + testenv.AnnotationCrashLoop + ": \"true\"\n"
	inputs[config.InputGitHubToken] = "demo-token"
	inputs[config.InputBackupDir] = dir
	d.say("Running pach-upgrade as a GitHub Actions step on pull request #%d (target-version: %s, database-backup: true)", pr, minorTarget)
	res, err := d.runner(w, dir).Run(ctx, inputs)
	if err != nil {
		return nil, err
	}
	part(d.out, "Part 2: a failed minor upgrade (2.11.6 → 2.12.0) recovered from the database dump")
	d.show(w, res)
	rec.Result = res.Outputs["result"]
	rec.Restored = restoredInSummary(res.Summary)

	// What the cluster and the database hold now, read by the demo, not the action.
	if rec.MigrationsAfter, err = migrations(ctx, db); err != nil {
		return nil, err
	}
	rel, err := w.Helm.Get(ctx, release)
	if err != nil {
		return nil, err
	}
	rec.Revision, rec.Status, rec.AppVersion = rel.Revision, rel.Status, rel.AppVersion
	rec.PachdReady = d.kube.WaitReady(ctx, ns, cluster.Selection{Release: release}, 30*time.Second, nil) == nil
	section(d.out, "After the run (read by the demo from Helm, the cluster and PostgreSQL)")
	fmt.Fprintf(d.out, "release %s: revision %d %s, Pachyderm %s\n", release, rec.Revision, rec.Status, rec.AppVersion)
	fmt.Fprintf(d.out, "pods Ready (pachd included): %t\n", rec.PachdReady)
	fmt.Fprintf(d.out, "pachd schema migrations: %d before the run, %d after\n", rec.MigrationsBefore, rec.MigrationsAfter)
	if rec.Result != "rolled-back" || !rec.Restored || rec.MigrationsAfter != rec.MigrationsBefore || !rec.PachdReady {
		return rec, fmt.Errorf("part 2 did not recover: result %q, restore step done %t, migrations %d → %d, pods Ready %t",
			rec.Result, rec.Restored, rec.MigrationsBefore, rec.MigrationsAfter, rec.PachdReady)
	}
	return rec, nil
}

// minorTarget is part 2's target: a minor release whose pachd knows more migrations.
const minorTarget = "2.12.0"

// migrations counts pachd's schema migrations in database pachyderm.
func migrations(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM migrations").Scan(&n); err != nil {
		return 0, fmt.Errorf("count pachd's migrations: %w", err)
	}
	return n, nil
}

// restoredInSummary reports whether the job summary's step table has the restore step done.
func restoredInSummary(summary string) bool {
	for _, line := range strings.Split(summary, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) > 3 && strings.TrimSpace(cells[1]) == "Restore the databases" && strings.HasSuffix(strings.TrimSpace(cells[2]), " ok") {
			return true
		}
	}
	return false
}

// show prints a step's log, outputs, job summary and PR comments, and returns the number of
// comments.
func (d *demo) show(w *world.World, res *actionrun.Result) int {
	section(d.out, "Step log (as the Actions runner shows it)")
	fmt.Fprint(d.out, asRunnerShows(res.Log))
	section(d.out, "Outputs")
	for _, o := range config.Outputs() {
		fmt.Fprintf(d.out, "%s=%s\n", o.Name, res.Outputs[o.Name])
	}
	section(d.out, "Job summary ($GITHUB_STEP_SUMMARY)")
	fmt.Fprint(d.out, res.Summary)
	comments := w.GitHub.Comments(repository, pr)
	section(d.out, fmt.Sprintf("PR #%d comments (%d)", pr, len(comments)))
	for _, c := range comments {
		fmt.Fprintf(d.out, "--- comment %d by %s ---\n%s\n", c.ID, c.User, c.Body)
	}
	return len(comments)
}

// asRunnerShows renders a step's raw output as the Actions runner displays it: the runner
// consumes ::add-mask:: commands (which carry the secret itself) and prints *** wherever a
// masked value appears.
func asRunnerShows(log string) string {
	var masks []string
	var kept []string
	for _, line := range strings.SplitAfter(log, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "::add-mask::"); ok {
			if v != "" {
				masks = append(masks, v)
			}
			continue
		}
		kept = append(kept, line)
	}
	shown := strings.Join(kept, "")
	for _, m := range masks {
		shown = strings.ReplaceAll(shown, m, "***")
	}
	return shown
}

// part heads one part of the demo.
func part(w io.Writer, title string) {
	fmt.Fprintf(w, "\n%s\n%s\n%s\n", strings.Repeat("#", len(title)), title, strings.Repeat("#", len(title)))
}

func section(w io.Writer, title string) {
	fmt.Fprintf(w, "\n%s\n%s\n", title, strings.Repeat("=", len(title)))
}
