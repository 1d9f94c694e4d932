package upgrade

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/pach-upgrade/pach-upgrade/internal/changelog"
	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/github"
	"github.com/pach-upgrade/pach-upgrade/internal/helmrelease"
	"github.com/pach-upgrade/pach-upgrade/internal/pachctl"
	"github.com/pach-upgrade/pach-upgrade/internal/redact"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/runnerenv"
	"github.com/pach-upgrade/pach-upgrade/internal/values"
	"github.com/pach-upgrade/pach-upgrade/internal/version"
)

// Deps connect a run to the outside world.
type Deps struct {
	Log     report.Logger
	Cluster *cluster.Client
	Helm    *helmrelease.Client
	// GitHub fetches release notes and pachctl digests; nil leaves both
	// out (notes become a warning, pachctl needs pachctl-sha256).
	GitHub *github.Client
	// HTTP fetches the chart repository and pachctl; nil means a default.
	HTTP *http.Client
	// Holder identifies this run in the upgrade Lease.
	Holder string
	// ToolCache is where pachctl is installed; empty means the default.
	ToolCache string
	// TempDir is the default backup dir (RUNNER_TEMP in Actions).
	TempDir string
	// Runner says where the run executes: on the runner (the zero value) or
	// in a container action, whose files go to the runner's user, whose
	// paths the outputs give as the runner sees them, and whose folders
	// outside the runner's mounts vanish with the step.
	Runner runnerenv.Env
	// Repository (GITHUB_REPOSITORY) holds version-file: propose opens its
	// pull requests there, and from-file reads the pin from it at Ref
	// (GITHUB_SHA; empty means the default branch). Outside Actions it is
	// empty and from-file reads the file from the working directory.
	Repository string
	Ref        string
	Now        func() time.Time
}

// pachdPort is pachd's gRPC port on the pachd Service.
const pachdPort = 30650

// leaseTTL is how long a crashed run keeps others out: long enough to
// survive clock skew between runners, short enough not to block the next
// scheduled run for long.
const leaseTTL = 2 * time.Minute

// runner carries one run's state from step to step.
type runner struct {
	cfg *config.Config
	d   Deps
	log report.Logger
	rep *report.Report
	now func() time.Time

	// release is the revision the run starts from (policy.go's decision.Base): its values
	// are carried, its version is the current one, a failed upgrade rolls back to it.
	release *helmrelease.Release
	// latest is the latest revision as the release check read it; start is the policy's
	// decision about it.
	latest *helmrelease.Release
	start  decision
	// applied is the revision this run's upgrade wrote (0: none); rollbackTo the revision a
	// rollback in progress returns to.
	applied    int
	rollbackTo int
	from       *semver.Version
	index      *version.Index
	target     version.Chart
	chart      *helmrelease.Chart
	values     *values.Result
	carry      *helmrelease.Carry
	pachctl    pachctl.Result
	// db is what the run knows of the databases (database.go).
	db *dbState
	// health is pachd's health before the upgrade (health.go).
	health *pachctl.Health
	// auth is pachd's root token where auth is active (roottoken.go).
	auth rootTokenState
	// leftPaused is set when an earlier run, stopped while pachd was
	// paused for its dump, left the record on pachd: unpaused once
	// pachctl is installed.
	leftPaused bool
	// afterRollback, when set, runs right after the chart rollback
	// (recovery.go: pachd's replicas, held at zero since the restore).
	afterRollback func(context.Context)

	// runCtx is Run's context: its end is a cancel (a signal), which is
	// reported as such and never as a failure or a timeout.
	runCtx context.Context
	// running is the step in progress, for a cancel's report.
	running string
	phase   phase
	// Propose mode: the version-file's content and pin on the base branch;
	// notes then start at the pin rather than the cluster's version.
	base      string
	pinFile   []byte
	pinned    *semver.Version
	notesFrom *semver.Version
	// declined is set when a person closed this version's bump PR.
	declined bool
	// net holds the network steps running beside the cluster-side ones.
	net *network
}

// Run carries out the upgrade that cfg describes and returns its report.
// It never returns a nil report: failures are in the report's Result and
// Failure, so the caller can always publish it.
func Run(ctx context.Context, cfg *config.Config, d Deps) *report.Report {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.HTTP == nil {
		d.HTTP = &http.Client{Timeout: 2 * time.Minute}
	}
	r := &runner{
		cfg: cfg, d: d, log: d.Log, now: d.Now, runCtx: ctx,
		rep: &report.Report{Release: cfg.Release, Namespace: cfg.Namespace, Mode: string(cfg.Mode)},
	}
	for _, s := range cfg.SecretValues() {
		r.log.AddMask(s)
	}
	r.rep.Result = r.run(ctx)
	return r.rep
}

func (r *runner) run(ctx context.Context) report.Result {
	if r.cfg.Mode == config.ModePropose {
		return r.runPropose(ctx)
	}
	if r.cfg.Mode == config.ModeApply {
		lock, err := r.lock(ctx)
		if err != nil {
			return r.fail(err)
		}
		// Released on every exit path, even when ctx is already cancelled.
		defer func() {
			rctx, cancel := r.cleanupContext(30 * time.Second)
			defer cancel()
			if err := lock.Release(rctx); err != nil {
				r.log.Warningf("Lease not released", "%v", err)
			}
		}()
		ctx = lock.Context()
	}

	// Before anything else: what a killed run left at zero comes back. The
	// step shows only when there is something to give back.
	if left, lerr := r.leftovers(ctx); lerr != nil || len(left) > 0 || r.leftPaused {
		if err := r.step(ctx, "Give back quiesced workloads", func(ctx context.Context) (string, error) {
			return r.resumeLeftovers(ctx, left, lerr)
		}); err != nil {
			return r.fail(err)
		}
	}
	if err := r.step(ctx, "Check the release", r.checkRelease); err != nil {
		return r.fail(err)
	}
	if err := r.checkExpected(ctx); err != nil {
		return r.fail(err)
	}
	if err := r.step(ctx, "Resolve the target version", r.resolveTarget); err != nil {
		return r.fail(err)
	}
	switch decideTarget(r.start, r.target.AppVersion.Equal(r.from)) {
	case ActNoOp:
		// Verified before: check the versions again for verified-version.
		r.verifyNoOp(ctx)
		return report.ResultNoOp
	case ActVerify:
		return r.verifyCurrent(ctx)
	}
	// The network steps run beside the cluster-side ones from here on. The
	// chart is downloaded and its digest checked before anything changes:
	// a broken repository must not cost a backup, nor trigger a rollback of
	// an upgrade that never started. The notes, which only the report
	// needs, are joined on the way out and never hold up the upgrade.
	r.startNetwork(ctx)
	defer r.finishNetwork()

	if r.cfg.Mode == config.ModePlan {
		for _, s := range []struct {
			name string
			f    stepFunc
		}{
			{"Helm values", r.prepareValues},
			{"Fetch the chart", nil},
			{"Generated values", r.carryGenerated},
			{"Plan the upgrade", r.plan},
		} {
			if err := r.stepOrJoin(ctx, s.name, s.f); err != nil {
				return r.fail(err)
			}
		}
		if r.cfg.PachctlVersionCheck && authActive(r.release.Values) {
			if err := r.step(ctx, "pachd's root token", r.planRootToken); err != nil {
				return r.fail(err)
			}
		}
		_ = r.step(ctx, "Check field ownership", r.checkConflicts)
		_ = r.step(ctx, "Plan the database backup", r.planDatabases)
		return report.ResultPlanned
	}

	// The values steps only read: they run first so that what they find
	// to keep is masked in the backup too, and a run that cannot keep a
	// generated value stops before the backup command. pachctl is joined
	// before the upgrade: a pachctl that cannot be installed and verified
	// stops the run before any change.
	type namedStep struct {
		name string
		f    stepFunc
	}
	steps := []namedStep{
		{"Helm values", r.prepareValues},
		{"Fetch the chart", nil},
		{"Generated values", r.carryGenerated},
		// pachctl reads the health, so it comes after pachctl's join; the
		// backup comes after both, as it pauses pachd with pachctl where
		// the health found enterprise active.
		{"Install pachctl", nil},
	}
	if r.leftPaused {
		steps = append(steps, namedStep{"Unpause pachd", r.unpauseLeftover})
	}
	for _, s := range steps {
		if err := r.stepOrJoin(ctx, s.name, s.f); err != nil {
			return r.fail(err)
		}
	}
	if err := r.backupAndCheckOwnership(ctx); err != nil {
		return r.fail(err)
	}

	// Everything from here on changes the cluster: the timeout bounds it,
	// and a failure rolls back.
	uctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	err := r.step(uctx, "Helm upgrade", r.upgrade)
	if err == nil {
		// Both only read the new pachd, every pod Ready: the health check
		// runs beside the version check and is joined after it. A version
		// failure comes first, as when they ran in turn, and drops it.
		health := r.startBeside(uctx, "Check pachd's health", r.checkHealth)
		if err = r.step(uctx, "Verify versions", r.verify); err != nil {
			health.drop()
		} else {
			err = health.join(r)
		}
	}
	if err != nil {
		if r.cancelled() {
			return r.cancel()
		}
		return r.recover(ctx, err, r.release, r.from.String())
	}
	_ = r.step(ctx, "Record verification", r.recordVerified)
	r.recordPods(ctx)
	return report.ResultUpgraded
}

// verifyCurrent is the policy's verify action: the release runs the target, but no run
// verified the revision (an earlier run was killed or failed during its watch, or another
// client wrote it). It is watched to Ready and its versions checked before the run may
// report it current; a revision of this tool's that fails is rolled back like a failed
// upgrade.
func (r *runner) verifyCurrent(ctx context.Context) report.Result {
	rel := r.release
	if r.cfg.Mode != config.ModeApply {
		msg := fmt.Sprintf("revision %d (Pachyderm %s) runs the target but was never verified Ready by pach-upgrade (%q): "+
			"an apply run verifies it", rel.Revision, rel.AppVersion, rel.Description)
		r.log.Warningf("Release not verified", "%s", msg)
		r.rep.Warnings = append(r.rep.Warnings, msg)
		return report.ResultPlanned
	}
	if err := r.step(ctx, "Install pachctl", r.installPachctl); err != nil {
		return r.fail(err)
	}
	// The version check signs in with the root token where auth is
	// active: a token that cannot be read refuses the run here, before a
	// failed check could roll the revision back.
	if r.cfg.PachctlVersionCheck {
		if _, err := r.rootToken(ctx); err != nil {
			return r.fail(err)
		}
	}
	uctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	err := r.step(uctx, "Verify the release", func(ctx context.Context) (string, error) {
		if err := r.waitReady(ctx); err != nil {
			return "", fmt.Errorf("revision %d, never verified, did not become Ready: %w", rel.Revision, err)
		}
		return fmt.Sprintf("revision %d (%q) was not verified: every workload and pod Ready now", rel.Revision, rel.Description), nil
	})
	if err == nil {
		err = r.step(uctx, "Verify versions", r.verify)
	}
	if err != nil {
		if r.cancelled() {
			return r.cancel()
		}
		if !writtenByUs(rel) {
			r.fail(err)
			msg := fmt.Sprintf("revision %d was written by another client (%q), not by pach-upgrade: not rolled back; "+
				"fix it, or roll it back by hand (`helm history %s -n %s`)", rel.Revision, rel.Description, r.cfg.Release, r.cfg.Namespace)
			r.log.Warningf("Not rolled back", "%s", msg)
			r.rep.Warnings = append(r.rep.Warnings, "Not rolled back: "+msg)
			r.recordPods(ctx)
			return report.ResultFailed
		}
		var base *helmrelease.Release
		r.applied = rel.Revision
		if h, herr := r.d.Helm.History(ctx, r.cfg.Release); herr == nil {
			base = revision(h, helmrelease.RecoveryTarget(h, rel.Revision))
		}
		version := ""
		if base != nil {
			version = base.AppVersion
		}
		return r.recover(ctx, err, base, version)
	}
	r.applied = rel.Revision
	_ = r.step(ctx, "Record verification", r.recordVerified)
	r.recordPods(ctx)
	return report.ResultNoOp
}

// recordVerified marks the revision this run verified, on the release, so that later runs
// and `helm history` know it. Not marking it is only a warning: the next run verifies again.
func (r *runner) recordVerified(ctx context.Context) (string, error) {
	what := "(every pod Ready"
	if r.cfg.PachctlVersionCheck {
		what += fmt.Sprintf(", pachctl and pachd at %s", r.target.AppVersion)
	}
	what += ", " + r.now().UTC().Format(time.RFC3339) + ")"
	if err := r.d.Helm.MarkVerified(ctx, r.cfg.Release, r.applied, what); err != nil {
		return "", warned{fmt.Sprintf("revision %d verified but not marked so on the release (the next run verifies it again): %v", r.applied, err)}
	}
	return fmt.Sprintf("revision %d marked %q on the release (helm history shows it)", r.applied, helmrelease.VerifiedMark), nil
}

// fail records err as the run's failure, or ends a cancelled run.
func (r *runner) fail(err error) report.Result {
	if r.cancelled() {
		return r.cancel()
	}
	r.rep.Failure = r.log.Redact(err.Error())
	return report.ResultFailed
}

func (r *runner) lock(ctx context.Context) (*cluster.Lock, error) {
	var lock *cluster.Lock
	err := r.step(ctx, "Lock the release", func(ctx context.Context) (string, error) {
		name := cluster.LeaseName(r.cfg.Release)
		var err error
		lock, err = r.d.Cluster.Acquire(ctx, r.cfg.Namespace, name, r.d.Holder, leaseTTL, r.cfg.Timeout)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("holding Lease %s/%s as %s", r.cfg.Namespace, name, r.d.Holder), nil
	})
	return lock, err
}

// checkRelease reads the release and lets the policy (decideStart) say what to start from:
// a pending release is refused or recovered, a failed one is never taken as current.
func (r *runner) checkRelease(ctx context.Context) (string, error) {
	detail := ""
	var rel *helmrelease.Release
	for rel == nil {
		latest, err := r.d.Helm.Get(ctx, r.cfg.Release)
		if err != nil {
			return "", err
		}
		var history []*helmrelease.Release
		if latest.Status != "deployed" {
			if history, err = r.d.Helm.History(ctx, r.cfg.Release); err != nil {
				return "", err
			}
		}
		d := decideStart(observed{Latest: latest, History: history}, r.cfg.RecoverPending && r.cfg.Mode == config.ModeApply)
		switch d.Action {
		case ActRefuse:
			if perr := latest.Pending(); perr != nil && !r.cfg.RecoverPending {
				return "", perr
			}
			return "", errors.New(d.Reason)
		case ActRecover:
			if detail != "" {
				return "", fmt.Errorf("release %s/%s is still %s at revision %d after a recovery", r.cfg.Namespace, r.cfg.Release, latest.Status, latest.Revision)
			}
			r.latest, r.phase = latest, phaseRecovering
			if err := r.d.Helm.RecoverPendingTo(ctx, r.cfg.Release, latest.Revision, d.To, r.cfg.Timeout); err != nil {
				return "", err
			}
			r.phase = phaseUnchanged
			detail = fmt.Sprintf("recovered from %s by rolling back to revision %d; ", latest.Status, d.To)
		case ActProceed:
			r.latest, r.start, rel = latest, d, d.Base
			if d.Reason != "" {
				detail += d.Reason + "; "
			}
		}
	}
	r.release = rel
	tag, err := r.d.Cluster.DeploymentImageTag(ctx, r.cfg.Namespace, "pachd", "pachd")
	if err != nil {
		r.log.Warningf("pachd image not read", "%v", err)
	}
	cur, err := version.CurrentVersion(rel.AppVersion, tag)
	if err != nil {
		return "", err
	}
	if cur.Warning != "" {
		r.rep.Warnings = append(r.rep.Warnings, cur.Warning)
		r.log.Warningf("Version disagreement", "%s", cur.Warning)
	}
	r.from = cur.Version
	r.rep.FromVersion, r.rep.FromChart = cur.Version.String(), rel.ChartVersion
	return detail + fmt.Sprintf("release %s/%s revision %d (%s): chart %s, Pachyderm %s",
		r.cfg.Namespace, r.cfg.Release, rel.Revision, rel.Status, rel.ChartVersion, cur.Version), nil
}

// resolveTarget maps the target input to a chart release of the repository
// and applies the version policy, before anything changes.
func (r *runner) resolveTarget(ctx context.Context) (string, error) {
	chartName := r.cfg.Chart
	var raw []byte
	var err error
	if helmrelease.IsLocalChart(chartName) {
		// A local chart is a repository of one version: its own.
		raw, chartName, err = helmrelease.LocalChartIndex(chartName)
	} else if raw, err = helmrelease.FetchIndex(ctx, r.cfg.ChartRepo, helmrelease.PullOptions{HTTPClient: r.d.HTTP}); err != nil {
		err = fmt.Errorf("%s %s: %w", config.InputChartRepo, redact.URL(r.cfg.ChartRepo), err)
	}
	if err != nil {
		return "", err
	}
	ix, err := version.ParseIndex(raw, chartName)
	if err != nil {
		return "", fmt.Errorf("%s %s: %s: %w", config.InputChartRepo, redact.URL(r.cfg.ChartRepo), helmrelease.IndexURL(r.cfg.ChartRepo), err)
	}
	r.index = ix
	req := version.Request{Selector: version.Selector(r.cfg.Target.Kind), Version: r.cfg.Target.Version}
	exact := r.cfg.Target.Kind == config.TargetExact
	pinDetail := ""
	if r.cfg.Target.Kind == config.TargetFromFile {
		v, detail, err := r.pinnedTarget(ctx)
		if err != nil {
			return "", err
		}
		req, exact, pinDetail = version.Request{Selector: version.Exact, Version: v}, true, detail+"; "
	}
	if r.cfg.ChartVersion != nil {
		req.ChartVersion = r.cfg.ChartVersion.Original()
	}
	target, err := ix.Resolve(r.from, req)
	if err != nil {
		return "", err
	}
	policy := version.Policy{
		AllowMinor:      r.cfg.AllowMinor,
		AllowPrerelease: r.cfg.AllowPrerelease && exact,
	}
	decision, err := policy.Check(r.from, target.AppVersion)
	if err != nil {
		return "", err
	}
	r.target = target
	r.rep.ToVersion, r.rep.ToChart = target.AppVersion.String(), target.ChartVersion
	if decision.Kind == version.NoOp && r.start.Reapply {
		return pinDetail + fmt.Sprintf("at %s, but the latest revision %d is %s: applying chart %s again", r.from,
			r.latest.Revision, r.latest.Status, target.ChartVersion), nil
	}
	if decision.Kind == version.NoOp {
		r.rep.ToChart = r.release.ChartVersion
		return pinDetail + fmt.Sprintf("already at %s: nothing to do", r.from), nil
	}
	return pinDetail + fmt.Sprintf("%s upgrade %s → %s (chart %s → %s)", decision.Kind, r.from, target.AppVersion,
		r.release.ChartVersion, target.ChartVersion), nil
}

func (r *runner) backup(ctx context.Context) (string, error) {
	dir, warning, err := snapshotDir(r.cfg.BackupDir, r.d.TempDir, r.d.Runner)
	if err != nil {
		return "", err
	}
	if warning != "" {
		r.log.Warningf("Backup not kept", "%s", warning)
	}
	manifest, err := helmrelease.RedactManifest(r.release.Manifest)
	if err != nil {
		return "", fmt.Errorf("redact the release manifest for the snapshot: %w", err)
	}
	taken := r.now().UTC()
	dbs, dbDetail, err := r.backupDatabases(ctx, dir, snapshotStem(r.cfg.Namespace, r.cfg.Release, r.release.Revision, taken))
	if err != nil {
		return "", err
	}
	// Generated values (a host path, a deployment ID) are not under keys
	// that look like credentials: the log's masks cover them.
	path, err := writeSnapshot(dir, Snapshot{Databases: dbs,
		Release: r.cfg.Release, Namespace: r.cfg.Namespace, Revision: r.release.Revision,
		Status: r.release.Status, Chart: r.release.ChartName, ChartVersion: r.release.ChartVersion,
		AppVersion: r.release.AppVersion, Values: redactStrings(values.Redact(r.release.Values), r.log.Redact),
		Manifest: r.log.Redact(manifest), TakenAt: taken,
	}, r.d.Runner)
	if err != nil {
		return "", err
	}
	// The output is for later steps, which run on the runner: give the path
	// they can open.
	host, ok := r.d.Runner.HostPath(path)
	r.rep.BackupPath = host
	detail := dbDetail + "; release snapshot at " + host
	if host != path {
		detail += " (" + path + " in this container)"
	} else if !ok && r.d.Runner.Visible(path) {
		r.log.Warningf("Backup path", "the runner-side path of %s cannot be told (RUNNER_WORKSPACE is not set, or the Actions client mounts its folders elsewhere than GitHub's runner): "+
			"backup-path gives the path in this action's container", path)
	}
	if r.cfg.BackupCommand == "" {
		return detail + "; no backup-command given", nil
	}
	env := BackupEnv{Release: r.cfg.Release, Namespace: r.cfg.Namespace,
		FromVersion: r.from.String(), ToVersion: r.target.AppVersion.String(), SnapshotPath: path,
		Databases: r.db.dbs.env()}
	if err := runBackupCommand(ctx, r.cfg.BackupCommand, env, logWriter{r.log}); err != nil {
		return "", err
	}
	return detail + "; backup-command succeeded", nil
}

func (r *runner) prepareValues(ctx context.Context) (string, error) {
	res, err := values.Prepare(ctx, r.d.Cluster, values.Input{
		Namespace:           r.cfg.Namespace,
		ReleaseValues:       r.release.Values,
		ValuesFile:          r.cfg.ValuesFromFile,
		Inline:              r.cfg.Values,
		SecretNames:         r.cfg.SecretNames,
		PostgresqlSecretKey: r.cfg.PostgresqlSecretKey,
		Builtin:             values.BuiltinMode(r.cfg.BuiltinPostgreSQL),
	})
	if err != nil {
		return "", err
	}
	for _, s := range res.Secrets {
		r.log.AddMask(s)
	}
	r.values = res
	detail := fmt.Sprintf("%d secret setting(s) checked", len(res.Applied))
	if res.BuiltinPostgreSQL {
		detail += "; built-in PostgreSQL password carried over from Secret postgres"
	} else if res.BuiltinReason != "" {
		detail += "; " + res.BuiltinReason
	}
	return detail, nil
}

func (r *runner) installPachctl(ctx context.Context) (string, error) {
	return r.inline(ctx, r.getPachctl(nil))
}

// getPachctl installs pachctl at the target version, logging to log; its
// apply records the result. The digest lookup waits for digestReady (the
// notes' release list, which holds the digest) when it is not nil; the
// archive downloads meanwhile, unread until the digest has come.
func (r *runner) getPachctl(digestReady <-chan struct{}) backgroundFunc {
	return func(ctx context.Context, log report.Logger) (string, func(), error) {
		if !r.cfg.PachctlVersionCheck {
			return "", nil, skip("pachctl-version-check is false")
		}
		opts := pachctl.Options{
			Version:         r.target.AppVersion.String(),
			URLTemplate:     r.cfg.PachctlDownloadURL,
			SHA256:          r.cfg.PachctlSHA256,
			AllowUnverified: r.cfg.AllowUnverifiedPachctl,
			CacheDir:        r.d.ToolCache,
			HTTPClient:      r.d.HTTP,
			Logf:            log.Infof,
			Warnf:           func(f string, a ...any) { log.Warningf("pachctl", f, a...) },
		}
		if r.d.GitHub != nil {
			repo := r.cfg.ChangelogRepo
			opts.Digest = func(ctx context.Context, v, asset string) (string, error) {
				if digestReady != nil {
					// The notes' list nearly always comes first and holds the
					// digest; a list that hangs must not hold pachctl up.
					t := time.NewTimer(digestListWait)
					select {
					case <-digestReady:
					case <-t.C:
					case <-ctx.Done():
						t.Stop()
						return "", context.Cause(ctx)
					}
					t.Stop()
				}
				return r.d.GitHub.ReleaseAssetDigest(ctx, repo, "v"+v, asset)
			}
		}
		res, err := pachctl.Install(ctx, opts)
		if err != nil {
			return "", nil, err
		}
		how := "downloaded, verified against " + string(res.Verified)
		if res.CacheHit {
			how = "from the tool cache"
		}
		detail := fmt.Sprintf("pachctl %s at %s (%s)", res.Version, res.Path, how)
		if r.d.Runner.InContainer() {
			// The folder exists only in this container: a PATH entry would name
			// nothing on the runner, and no later run finds the download.
			detail += "; in this action's container only: not put on the job's PATH, not cached for later runs"
			return detail, func() { r.pachctl = res }, nil
		}
		return detail, func() { r.pachctl = res; r.log.AddPath(res.Dir) }, nil
	}
}

// fetchChart downloads the target chart and checks it against the index's
// digest.
func (r *runner) fetchChart(ctx context.Context) (string, error) {
	return r.inline(ctx, r.pullChart)
}

// pullChart is fetchChart's work; its apply records the chart.
func (r *runner) pullChart(ctx context.Context, _ report.Logger) (string, func(), error) {
	ch, err := helmrelease.PullChart(ctx, r.cfg.ChartRepo, r.cfg.Chart, r.target.ChartVersion, helmrelease.PullOptions{HTTPClient: r.d.HTTP})
	if err != nil {
		return "", nil, fmt.Errorf("%s %s: %w", config.InputChartRepo, redact.URL(r.cfg.ChartRepo), err)
	}
	apply := func() { r.chart = ch }
	if ch.Digest != "" {
		return fmt.Sprintf("chart %s %s from %s, digest sha256:%s verified", ch.Name(), ch.Version(), ch.Source, ch.Digest), apply, nil
	}
	return fmt.Sprintf("chart %s %s from %s", ch.Name(), ch.Version(), ch.Source), apply, nil
}

func (r *runner) plan(ctx context.Context) (string, error) {
	p, err := r.d.Helm.Plan(ctx, r.cfg.Release, r.chart, r.upgradeValues(), helmrelease.PlanOptions{PostRenderer: r.carry.PostRenderer()})
	if err != nil {
		return "", err
	}
	r.rep.Plan = &report.Plan{ValuesDiff: r.log.Redact(p.ValuesDiff), ManifestDiff: r.log.Redact(p.ManifestDiff)}
	return fmt.Sprintf("rendered chart %s against the cluster; nothing changed", r.target.ChartVersion), nil
}

func (r *runner) upgrade(ctx context.Context) (string, error) {
	if err := r.checkUnchanged(ctx); err != nil {
		return "", err
	}
	rel, err := r.helmUpgrade(ctx, r.chart)
	if rel != nil && rel.Revision > r.latest.Revision {
		r.applied = rel.Revision
	}
	if err != nil {
		return "", conflictHint(err)
	}
	if err := r.checkApplied(ctx, rel); err != nil {
		return "", err
	}
	if ctx.Err() != nil {
		// Never start a wait that a cancel or the timeout has already ended.
		return "", fmt.Errorf("revision %d applied, its rollout not watched: %w", rel.Revision, context.Cause(ctx))
	}
	if err := r.waitReady(ctx); err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return "", fmt.Errorf("revision %d applied, its rollout watch stopped: %w", rel.Revision, err)
		}
		return "", fmt.Errorf("revision %d did not become Ready: %w", rel.Revision, err)
	}
	return fmt.Sprintf("revision %d deployed; every workload and pod Ready", rel.Revision), nil
}

// checkUnchanged is the policy's look before the apply (decideApply): the upgrade is built
// from what the release check read, so a revision another client wrote since (Flux, the
// Helm CLI, during a long backup) would be overwritten.
func (r *runner) checkUnchanged(ctx context.Context) error {
	latest, err := r.d.Helm.Get(ctx, r.cfg.Release)
	if err != nil {
		return err
	}
	if d := decideApply(r.latest, latest); d.Action == ActRefuse {
		return errors.New(d.Reason)
	}
	return nil
}

// checkApplied is the policy's look after the apply (decideApplied): another client that
// wrote during it made this run's revision no longer the release's.
func (r *runner) checkApplied(ctx context.Context, applied *helmrelease.Release) error {
	// Its own time: the apply may have outlived the run's timeout, and the answer decides
	// whether the rollback that follows undoes another client's work.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	// The latest record alone: Helm just wrote, and Get would decode every revision.
	latest, err := r.d.Helm.Latest(cctx, r.cfg.Release)
	if err != nil {
		return fmt.Errorf("revision %d applied, the release not read after it: %w", applied.Revision, err)
	}
	if d := decideApplied(applied, latest); d.Action == ActRefuse {
		return errors.New(d.Reason)
	}
	return nil
}

func (r *runner) verify(ctx context.Context) (string, error) {
	if !r.cfg.PachctlVersionCheck {
		return "", skip("pachctl-version-check is false")
	}
	c, stop, err := r.pachdConn(ctx)
	if err != nil {
		return "", err
	}
	defer stop()
	want := r.target.AppVersion.String()
	v, err := pachctl.Verify(ctx, c, want, r.remaining(ctx))
	r.rep.Versions = append(r.rep.Versions,
		report.ComponentVersion{Component: "pachctl", Version: v.Pachctl, Want: want},
		report.ComponentVersion{Component: "pachd", Version: v.Pachd, Want: want})
	if err != nil {
		return "", err
	}
	r.rep.VerifiedVersion = want
	return fmt.Sprintf("pachctl %s and pachd %s", v.Pachctl, v.Pachd), nil
}

// checkConflicts finds, before anything changes, the fields of the
// release's objects that another field manager took over (`kubectl scale`,
// an autoscaler): Helm would otherwise apply the objects before the
// conflicting one and stop there, half upgraded. In plan mode a conflict
// is a warning: the plan stands, the apply would stop.
func (r *runner) checkConflicts(ctx context.Context) (string, error) {
	if r.cfg.Mode == config.ModeApply {
		if err := r.checkUnchanged(ctx); err != nil {
			return "", err
		}
	}
	if r.cfg.ForceConflicts {
		return "", skip("%s is true: fields owned by other managers are taken over", config.InputForceConflicts)
	}
	err := r.d.Helm.CheckConflicts(ctx, r.cfg.Release, r.chart, r.upgradeValues(), helmrelease.UpgradeOptions{PostRenderer: r.carry.PostRenderer()})
	if err != nil {
		err = conflictHint(err)
		if r.cfg.Mode == config.ModePlan && asError(err, new(*helmrelease.ConflictError)) {
			return "", warned{err.Error()}
		}
		return "", err
	}
	return "no field of the release is owned by another manager", nil
}

// backupAndCheckOwnership reads pachd's health, backs up and checks field
// ownership. The ownership check must see the objects as the upgrade will
// find them, so it follows a backup that may change them: quiescing scales
// or pauses pachd, and a backup command may do anything. A backup that
// only reads (the snapshot, a live dump) changes nothing the check reads,
// so the check's dry run then runs beside the health read and the backup,
// and is joined after them; its row keeps its place after the backup's.
func (r *runner) backupAndCheckOwnership(ctx context.Context) error {
	quiesces := r.cfg.Database.Backup && r.cfg.Database.Quiesce
	if quiesces || r.cfg.BackupCommand != "" {
		if err := r.step(ctx, "Read pachd's health", r.recordHealth); err != nil {
			return err
		}
		if err := r.step(ctx, "Back up", r.backup); err != nil {
			return err
		}
		return r.step(ctx, "Check field ownership", r.checkConflicts)
	}
	own := r.startBeside(ctx, "Check field ownership", func(ctx context.Context, _ report.Logger) (string, func(), error) {
		detail, err := r.checkConflicts(ctx)
		return detail, nil, err
	})
	err := r.step(ctx, "Read pachd's health", r.recordHealth)
	if err == nil {
		err = r.step(ctx, "Back up", r.backup)
	}
	if err != nil {
		own.drop()
		return err
	}
	return own.join(r)
}

// conflictHint adds to a server-side apply conflict what the user can do.
func conflictHint(err error) error {
	var ce *helmrelease.ConflictError
	if !errors.As(err, &ce) {
		return err
	}
	return fmt.Errorf("%w; set %s: true to take these fields over (as helm upgrade --force-conflicts does), "+
		"or undo the change outside Helm and run again", err, config.InputForceConflicts)
}

// waitReady watches every workload and pod of the release to Ready within
// what is left of ctx's time.
func (r *runner) waitReady(ctx context.Context) error {
	return r.d.Cluster.WaitReady(ctx, r.cfg.Namespace, cluster.Selection{Release: r.cfg.Release}, r.remaining(ctx),
		func(line string) { r.log.Infof("%s", line) })
}

// remaining is the time left before ctx's deadline.
func (r *runner) remaining(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return r.cfg.Timeout
}

// recover handles a failed upgrade or verification: the policy (decideFailure) says whether
// to roll back to base (whose version is baseVersion), so nothing is left half-upgraded, or
// to leave the release as it is and say why.
func (r *runner) recover(ctx context.Context, cause error, base *helmrelease.Release, baseVersion string) report.Result {
	r.fail(cause)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Timeout)
	defer cancel()
	// The latest record alone: the rollback reads the history itself.
	latest, err := r.d.Helm.Latest(rctx, r.cfg.Release)
	if err != nil {
		r.log.Warningf("Release not read after the failure", "%v", err)
		latest = nil
	}
	if r.applied == 0 && latest != nil && r.latest != nil && latest.Revision > r.latest.Revision && latest.Description == r.upgradeDescription() {
		// Helm wrote the revision but returned before saying so (a timeout mid-apply).
		r.applied = latest.Revision
	}
	d := decideFailure(failure{Base: base, Applied: r.applied, Latest: latest, RollbackAllowed: r.cfg.RollbackOnFailure})
	if d.Action != ActRollBack {
		if d.Action == ActRefuse || r.cfg.RollbackOnFailure {
			r.log.Warningf("Not rolled back", "%s", d.Reason)
			r.rep.Warnings = append(r.rep.Warnings, "Not rolled back: "+d.Reason)
		}
		r.recordPods(ctx)
		return report.ResultFailed
	}
	// The database decides whether the chart rollback alone can bring the old pachd back
	// (recoveryMethod): beforeRollback restores the dump first, or leaves the revision.
	if ok, err := r.beforeRollback(rctx); !ok {
		if err != nil && r.cancelled() {
			return r.cancel()
		}
		r.recordPods(ctx)
		return report.ResultFailed
	}
	to := d.To
	r.rollbackTo = to
	// The rollback must run even when the upgrade timed out; its wait for
	// Ready stops on a cancel (the runner's kill would cut it anyway).
	rb := &report.Rollback{Revision: to, Version: baseVersion}
	err = r.step(rctx, "Roll back", func(ctx context.Context) (string, error) {
		r.phase = phaseRollingBack
		err := r.d.Helm.Rollback(ctx, r.cfg.Release, to, r.remaining(ctx))
		if r.afterRollback != nil {
			r.afterRollback(ctx)
		}
		if err != nil {
			return "", err
		}
		wctx, stop := r.stopOnCancel(ctx)
		defer stop()
		if wctx.Err() != nil {
			return "", fmt.Errorf("rolled back to revision %d, its rollout not watched: %w", to, context.Cause(wctx))
		}
		if err := r.waitReady(wctx); err != nil {
			return "", fmt.Errorf("revision %d did not become Ready after the rollback: %w", to, err)
		}
		return fmt.Sprintf("rolled back to revision %d (Pachyderm %s); every pod Ready", to, baseVersion), nil
	})
	if err != nil && r.cancelled() {
		return r.cancel()
	}
	r.recordPods(rctx)
	if err != nil {
		rb.Err = r.log.Redact(err.Error())
		r.rep.RolledBack = rb
		r.log.Errorf("Rollback failed: recover by hand", "%s", strings.Join(report.RecoverySteps(r.rep), "\n"))
		return report.ResultFailed
	}
	r.rep.RolledBack = rb
	r.markRollbackVerified(rctx, to)
	return report.ResultRolledBack
}

// markRollbackVerified marks the rollback's revision, watched to Ready, verified on the
// release, saying that only readiness was checked (pachctl is the target's, not the old
// version's): a later run at that version then knows it runs.
func (r *runner) markRollbackVerified(ctx context.Context, to int) {
	_, err := r.d.Helm.MarkRollbackVerified(ctx, r.cfg.Release, to,
		fmt.Sprintf("(every pod Ready after the rollback to revision %d, %s)", to, r.now().UTC().Format(time.RFC3339)))
	if err != nil {
		r.log.Warningf("Rollback not marked verified", "the next run checks it again: %v", err)
	}
}

// upgradeDescription is the description this run's upgrade gives its revision.
func (r *runner) upgradeDescription() string {
	if r.from == nil || r.target.AppVersion == nil {
		return ""
	}
	return upgradeDescription(r.from, r.target.AppVersion)
}

// recordPods fills the report's pods table and the image tags of the
// workloads; a failure to read them is only a warning.
func (r *runner) recordPods(ctx context.Context) {
	// Its own time: the pods table matters most after a timeout, when the
	// run's own context has nothing left.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	pods, err := r.d.Cluster.ReleasePodTable(ctx, r.cfg.Namespace, r.cfg.Release)
	if err != nil {
		r.log.Warningf("Pods not listed", "%v", err)
		return
	}
	for _, p := range pods {
		r.rep.Pods = append(r.rep.Pods, report.Pod{Name: p.Name, Ready: p.Ready, Status: p.Status,
			Restarts: p.Restarts, ImageTag: strings.Join(p.Images, ", "), Age: p.Age})
	}
}

// logWriter sends a command's output to the log line by line, through the
// logger so that masked values stay masked.
type logWriter struct{ log report.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Infof("%s", string(p))
	return len(p), nil
}

func asError[T error](err error, target *T) bool { return errors.As(err, target) }

// releaseNotes collects the notes of every version in (current, target].
// Missing notes never stop an upgrade: they become a warning.
func (r *runner) releaseNotes(ctx context.Context) (string, error) {
	return r.inline(ctx, r.collectNotes(nil))
}

// collectNotes is releaseNotes' work, reading from src (nil: GitHub); its
// apply puts the notes, and why they are incomplete, in the report.
func (r *runner) collectNotes(src changelog.Source) backgroundFunc {
	return func(ctx context.Context, _ report.Logger) (string, func(), error) {
		if r.d.GitHub == nil {
			return "", nil, warned{"no GitHub API client: release notes left out"}
		}
		if src == nil {
			src = NotesSource(r.d.GitHub)
		}
		from := r.from
		if r.notesFrom != nil {
			from = r.notesFrom
		}
		notes, err := changelog.Collect(ctx, src, changelog.Request{
			From: from, To: r.target.AppVersion,
			Released:  r.index.AppVersionsBetween(from, r.target.AppVersion),
			Repo:      r.cfg.ChangelogRepo,
			Path:      r.cfg.ChangelogPath,
			ServerURL: r.d.GitHub.ServerURL(),
		})
		if err != nil {
			return "", func() { r.rep.Notes, r.rep.NotesWarning = notes, err.Error() },
				warned{fmt.Sprintf("release notes incomplete: %v", err)}
		}
		return fmt.Sprintf("notes of %d version(s) from %s", len(notes), r.cfg.ChangelogRepo), func() { r.rep.Notes = notes }, nil
	}
}
