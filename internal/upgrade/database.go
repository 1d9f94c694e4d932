package upgrade

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/database"
	"github.com/pach-upgrade/pach-upgrade/internal/pachctl"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/values"
)

// Names of the chart's built-in PostgreSQL and of what a quiesce stops.
const (
	postgresPod = "postgres-0"
	// pachdSelector and workerSelector are the labels of pachd and of
	// Pachyderm's pipeline workers (its backup page scales both to zero).
	pachdSelector  = "app=pachd,suite=pachyderm"
	workerSelector = "suite=pachyderm,component=worker"
	// quiesceWait bounds the wait for the scaled-down pods to be gone.
	quiesceWait = 2 * time.Minute
)

// DatabaseBackup is what the snapshot records of the databases: the dumps
// (in Dir, relative to the snapshot's folder), pachd's migrations when they
// were taken, and who the dumps belong to.
type DatabaseBackup struct {
	Dir        string              `json:"dir"`
	User       string              `json:"user"`
	Dumps      []database.Dump     `json:"dumps"`
	Migrations database.Migrations `json:"migrations"`
}

// pgDatabases are the databases of the release: names and user from its
// values, as pachd and dex reach them.
type pgDatabases struct {
	Builtin    bool
	User       string
	Pachyderm  string
	Dex        string
	Host, Port string
}

func releaseDatabases(vals map[string]any) pgDatabases {
	str := func(path, def string) string {
		if v, ok := values.Lookup(vals, path); ok {
			if s := fmt.Sprint(v); v != nil && s != "" {
				return s
			}
		}
		return def
	}
	enabled := str("postgresql.enabled", "true")
	return pgDatabases{
		Builtin:   !strings.EqualFold(enabled, "false"),
		User:      str("global.postgresql.postgresqlUsername", "pachyderm"),
		Pachyderm: str("global.postgresql.postgresqlDatabase", "pachyderm"),
		Dex:       strings.ToLower(str("global.postgresql.identityDatabaseFullNameOverride", "dex")),
		Host:      str("global.postgresql.postgresqlHost", "postgres"),
		Port:      str("global.postgresql.postgresqlPort", "5432"),
	}
}

func (d pgDatabases) names() []string { return []string{d.Pachyderm, d.Dex} }

// databaseRunner is where the tools run: the built-in PostgreSQL's pod,
// in its PostgreSQL container.
func (r *runner) databaseRunner(ctx context.Context) (database.Runner, error) {
	pod, err := r.d.Cluster.Clientset().CoreV1().Pods(r.cfg.Namespace).Get(ctx, postgresPod, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("built-in PostgreSQL: read pod %s/%s: %w (set %s: false to upgrade without a database dump)",
			r.cfg.Namespace, postgresPod, err, "database-backup")
	}
	return database.Pod{Cluster: r.d.Cluster, Namespace: r.cfg.Namespace, Pod: pod.Name, Container: postgresContainer(pod)}, nil
}

// postgresContainer picks the PostgreSQL container of the pod, not a
// metrics sidecar.
func postgresContainer(p *corev1.Pod) string {
	for _, c := range p.Spec.Containers {
		if c.Name == "postgres" || c.Name == "postgresql" {
			return c.Name
		}
	}
	for _, c := range p.Spec.Containers {
		if strings.Contains(c.Image, "postgres") {
			return c.Name
		}
	}
	if len(p.Spec.Containers) > 0 {
		return p.Spec.Containers[0].Name
	}
	return ""
}

// dbState is what this run holds about the databases, for the recovery.
type dbState struct {
	dbs    pgDatabases
	runner database.Runner
	// dir is the dumps' folder; dumps the files, checked on restore.
	dir    string
	dumps  []database.Dump
	before *database.Migrations
	// read reads the migrations where there is no runner: an external
	// database, through pg-bouncer (external.go).
	read func(context.Context) (database.Migrations, error)
}

// backupDatabases dumps the built-in PostgreSQL's databases into a folder
// beside the snapshot (stem is the snapshot's name without extension),
// quiescing pachd and the pipeline workers around the dump. It returns
// what the snapshot records, nil when nothing was dumped, and a line for
// the step. Any failure aborts the upgrade before a change.
func (r *runner) backupDatabases(ctx context.Context, dir, stem string) (*DatabaseBackup, string, error) {
	dbs := releaseDatabases(r.release.Values)
	rd := r.dbReport()
	rd.Builtin = dbs.Builtin
	r.db = &dbState{dbs: dbs}
	if !dbs.Builtin {
		rd.Note = fmt.Sprintf("The release uses an external PostgreSQL (%s:%s): its databases %s and %s are backed up only by backup-command, "+
			"which gets them in PACH_UPGRADE_DATABASES", dbs.Host, dbs.Port, dbs.Pachyderm, dbs.Dex)
		return nil, "external PostgreSQL: not dumped, backed up only by backup-command" + r.externalBefore(ctx, dbs), nil
	}
	login := database.Login{User: dbs.User}
	if !r.cfg.Database.Backup {
		rd.Note = fmt.Sprintf("database-backup is false: databases %s and %s are not dumped, and are backed up only by backup-command", dbs.Pachyderm, dbs.Dex)
		rd.Recovery = planRecoveryNoDump
		// The migrations still tell whether a rollback can work.
		run, err := r.databaseRunner(ctx)
		if err == nil {
			var m database.Migrations
			if m, err = database.ReadMigrations(ctx, run, dbs.Pachyderm, login); err == nil {
				r.db.runner, r.db.before, rd.MigrationsBefore = run, &m, m.String()
			}
		}
		if err != nil {
			r.log.Warningf("Migrations not read", "%v", err)
		}
		return nil, "database-backup is false: databases not dumped", nil
	}
	run, err := r.databaseRunner(ctx)
	if err != nil {
		return nil, "", err
	}
	r.db.runner = run
	m, err := database.ReadMigrations(ctx, run, dbs.Pachyderm, login)
	if err != nil {
		return nil, "", err
	}
	r.db.before = &m
	rd.MigrationsBefore = m.String()
	rd.Recovery = planRecovery(true)

	sub := filepath.Join(dir, stem+"-databases")
	if err := r.d.Runner.MkdirAll(sub); err != nil {
		return nil, "", fmt.Errorf("create database backup folder %s: %w", sub, err)
	}
	format, err := database.ParseFormat(r.cfg.Database.DumpFormat)
	if err != nil {
		return nil, "", fmt.Errorf("input database-dump-format: %w", err)
	}
	dumps, quiet, err := r.quiesced(ctx, func(ctx context.Context) ([]database.Dump, error) {
		var out []database.Dump
		for _, name := range dbs.names() {
			d, err := database.DumpDatabase(ctx, run, database.DumpOptions{Database: name, Format: format, Dir: sub,
				Login: login, Place: r.d.Runner})
			if err != nil {
				return out, err
			}
			out = append(out, d)
			r.log.Infof("dumped database %s: %d bytes, sha256 %s", d.Database, d.Size, d.SHA256)
		}
		return out, nil
	})
	if err != nil {
		// No half backup: a folder without every dump is no backup.
		os.RemoveAll(sub)
		if errors.Is(err, syscall.ENOSPC) {
			return nil, "", fmt.Errorf("database backup failed (%w); nothing was changed and the partial dumps were removed. "+
				"Free space in %s, or set %s to a folder with room for both databases' dumps (or %s: false to upgrade without a dump)",
				err, dir, config.InputBackupDir, config.InputDatabaseBackup)
		}
		return nil, "", fmt.Errorf("database backup failed (%w); nothing was changed", err)
	}
	r.db.dir, r.db.dumps = sub, dumps
	host, _ := r.d.Runner.HostPath(sub)
	rd.Path = host
	for _, d := range dumps {
		rd.Dumps = append(rd.Dumps, report.Dump{Database: d.Database, File: d.File, SHA256: d.SHA256, Size: d.Size})
	}
	detail := fmt.Sprintf("dumped %s to %s (%s)", strings.Join(dbs.names(), " and "), host, m)
	switch {
	case quiet > 0 && rd.QuiesceMethod == report.QuiescePause:
		detail += fmt.Sprintf("; pachd paused (pachctl enterprise pause) %s", quiet.Round(time.Millisecond))
	case quiet > 0:
		detail += fmt.Sprintf("; pachd and pipelines down %s", quiet.Round(time.Millisecond))
	}
	return &DatabaseBackup{Dir: filepath.Base(sub), User: dbs.User, Dumps: dumps, Migrations: m}, detail, nil
}

// quiesced runs f with nothing writing to the databases, when the quiesce
// input asks for it: where enterprise is active, under `pachctl enterprise
// pause`; otherwise with pachd and the pipeline workers scaled to zero. The
// pause is undone and the replica counts given back on every path out:
// success, failure and cancel. It returns how long writes were stopped.
func (r *runner) quiesced(ctx context.Context, f func(context.Context) ([]database.Dump, error)) ([]database.Dump, time.Duration, error) {
	if !r.cfg.Database.Quiesce {
		out, err := f(ctx)
		return out, 0, err
	}
	if r.enterpriseActive() {
		return r.paused(ctx, f)
	}
	r.rep.Database.QuiesceMethod = report.QuiesceScale
	changed, start, err := r.quiesce(ctx)
	defer func() {
		// The replica counts come back even when the run is cancelled.
		r.rep.Database.QuiescedUntil = r.now()
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if berr := r.unquiesce(bctx, changed); berr != nil {
			r.log.Errorf("Replicas not restored", "%v", berr)
			r.rep.Warnings = append(r.rep.Warnings, "replicas not restored: "+berr.Error())
		}
		if len(changed) > 0 {
			r.rep.Database.Downtime += r.now().Sub(start)
		}
	}()
	if err != nil {
		return nil, 0, err
	}
	// From here on nothing writes: the pods are gone.
	r.rep.Database.QuiescedFrom = r.now()
	out, err := f(ctx)
	return out, r.now().Sub(start), err
}

// enterpriseActive says whether the health read before the upgrade found
// Pachyderm Enterprise active, so that `pachctl enterprise pause` can
// quiesce the cluster.
func (r *runner) enterpriseActive() bool {
	return r.health != nil && r.health.Enterprise == "ACTIVE" && r.pachctl.Path != ""
}

// paused runs f under `pachctl enterprise pause`, and unpauses on every
// path out, even when the pause itself failed half way.
func (r *runner) paused(ctx context.Context, f func(context.Context) ([]database.Dump, error)) ([]database.Dump, time.Duration, error) {
	rd := r.rep.Database
	rd.QuiesceMethod = report.QuiescePause
	start := r.now()
	pachctlAt := func(ctx context.Context, what string, do func(context.Context, pachctl.Conn) error) error {
		c, stop, err := r.pachdConn(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		defer stop()
		wctx, cancel := context.WithTimeout(ctx, quiesceWait)
		defer cancel()
		if err := do(wctx, c); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	// The pause is recorded on pachd before it is asked for, so that a run
	// killed while pachd is paused leaves the next run the word to unpause.
	marked, err := r.d.Cluster.Workloads(ctx, r.cfg.Namespace, pachdSelector)
	if err == nil {
		at := start.UTC().Format(time.RFC3339)
		err = r.d.Cluster.Annotate(ctx, r.cfg.Namespace, marked, cluster.AnnotationEnterprisePaused, &at)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("quiesce: record the pause on pachd: %w", err)
	}
	defer func() {
		rd.QuiescedUntil = r.now()
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := pachctlAt(bctx, "pachctl enterprise unpause", pachctl.Unpause); err != nil {
			r.log.Errorf("pachd not unpaused", "%v", err)
			r.rep.Warnings = append(r.rep.Warnings, fmt.Sprintf("pachd is still paused (%v): run `pachctl enterprise unpause`", err))
		} else if err := r.d.Cluster.Annotate(bctx, r.cfg.Namespace, marked, cluster.AnnotationEnterprisePaused, nil); err != nil {
			r.log.Warningf("Pause record not removed", "%v (the next run unpauses again, which does no harm)", err)
		}
		rd.Downtime += r.now().Sub(start)
	}()
	if err := pachctlAt(ctx, "quiesce with pachctl enterprise pause", pachctl.Pause); err != nil {
		return nil, 0, err
	}
	// From here on nothing writes: pause-status says paused.
	rd.QuiescedFrom = r.now()
	r.log.Infof("quiesced: pachctl enterprise pause")
	out, err := f(ctx)
	return out, r.now().Sub(start), err
}

// quiesce scales pachd, then the pipeline workers (which pachd would
// scale up again), to zero and waits for their pods to go.
func (r *runner) quiesce(ctx context.Context) ([]cluster.Scaled, time.Time, error) {
	start := r.now()
	var ws []cluster.Scaled
	for _, sel := range []string{pachdSelector, workerSelector} {
		w, err := r.d.Cluster.Workloads(ctx, r.cfg.Namespace, sel)
		if err != nil {
			return nil, start, fmt.Errorf("quiesce: %w", err)
		}
		ws = append(ws, w...)
	}
	changed, err := r.d.Cluster.ScaleDown(ctx, r.cfg.Namespace, ws, quiesceWait)
	var names []string
	for _, w := range changed {
		names = append(names, fmt.Sprintf("%s/%s: %d", w.Kind, w.Name, w.Replicas))
	}
	r.rep.Database.AddQuiesced(names...)
	if err != nil {
		return changed, start, fmt.Errorf("quiesce: %w", err)
	}
	r.log.Infof("quiesced: %s", strings.Join(names, ", "))
	return changed, start, nil
}

// unquiesce gives the counts back, workers first and pachd last.
func (r *runner) unquiesce(ctx context.Context, changed []cluster.Scaled) error {
	rev := make([]cluster.Scaled, len(changed))
	for i, w := range changed {
		rev[len(changed)-1-i] = w
	}
	return r.d.Cluster.ScaleBack(ctx, r.cfg.Namespace, rev)
}

// leftovers reads what an earlier, stopped run left quiesced: the
// workloads it scaled to zero, and (r.leftPaused) a pause of pachd.
func (r *runner) leftovers(ctx context.Context) ([]cluster.Scaled, error) {
	left, err := r.d.Cluster.Quiesced(ctx, r.cfg.Namespace)
	if err != nil {
		return nil, err
	}
	paused, err := r.d.Cluster.Annotated(ctx, r.cfg.Namespace, pachdSelector, cluster.AnnotationEnterprisePaused)
	r.leftPaused = len(paused) > 0
	return left, err
}

// resumeLeftovers gives back the replica counts an earlier run recorded on
// pachd and the workers before scaling them to zero and did not live to give
// back (SIGKILL, a lost runner): the first thing a run does, before it
// reads the release. A plan says what an apply would give back.
// left and err are what cluster.Quiesced found.
func (r *runner) resumeLeftovers(ctx context.Context, left []cluster.Scaled, err error) (string, error) {
	if err != nil {
		return "", warned{fmt.Sprintf("workloads left quiesced by an earlier run not read: %v", err)}
	}
	var names []string
	for _, w := range left {
		names = append(names, fmt.Sprintf("%s/%s: %d", w.Kind, w.Name, w.Replicas))
	}
	list := strings.Join(names, ", ")
	rd := r.dbReport()
	pause := ""
	if r.leftPaused {
		pause = "an earlier run was stopped while pachd was paused (pachctl enterprise pause): "
		if r.cfg.Mode != config.ModeApply {
			pause += "an apply run unpauses it as soon as pachctl is installed"
		} else {
			pause += "unpaused as soon as pachctl is installed"
		}
		if len(left) == 0 {
			return pause, nil
		}
		pause = "; " + pause
	}
	if r.cfg.Mode != config.ModeApply {
		rd.Resumed = names
		return fmt.Sprintf("an earlier run was stopped while these were scaled to zero; an apply run gives them back before anything else: %s", list) + pause, nil
	}
	// pachd last, as unquiesce does: workers first.
	sort.SliceStable(left, func(i, k int) bool {
		return left[i].Kind == "ReplicationController" && left[k].Kind != "ReplicationController"
	})
	if err := r.d.Cluster.ScaleBack(ctx, r.cfg.Namespace, left); err != nil {
		return "", fmt.Errorf("give back what an earlier run left at zero: %w", err)
	}
	rd.Resumed = names
	r.log.Infof("gave back the replicas an earlier, stopped run left at zero: %s", list)
	return "an earlier run was stopped while these were scaled to zero; given back: " + list + pause, nil
}

// unpauseLeftover unpauses pachd when an earlier run, killed while it had
// pachd paused for its dump, left the record on pachd. It runs as soon as
// pachctl is installed, before pachd's health is read.
func (r *runner) unpauseLeftover(ctx context.Context) (string, error) {
	marked, err := r.d.Cluster.Annotated(ctx, r.cfg.Namespace, pachdSelector, cluster.AnnotationEnterprisePaused)
	if err != nil {
		return "", warned{fmt.Sprintf("pause left by an earlier run not read: %v", err)}
	}
	if len(marked) == 0 {
		return "", skip("the pause left by an earlier run is gone")
	}
	if r.pachctl.Path == "" {
		return "", fmt.Errorf("an earlier run was stopped while pachd was paused, and pachctl is not installed to unpause it: run `pachctl enterprise unpause`")
	}
	c, stop, err := r.pachdConn(ctx)
	if err != nil {
		return "", fmt.Errorf("unpause pachd, left paused by an earlier run: %w", err)
	}
	defer stop()
	wctx, cancel := context.WithTimeout(ctx, quiesceWait)
	defer cancel()
	if err := pachctl.Unpause(wctx, c); err != nil {
		return "", fmt.Errorf("unpause pachd, left paused by an earlier run: %w; run `pachctl enterprise unpause`", err)
	}
	if err := r.d.Cluster.Annotate(ctx, r.cfg.Namespace, marked, cluster.AnnotationEnterprisePaused, nil); err != nil {
		r.log.Warningf("Pause record not removed", "%v", err)
	}
	r.dbReport().Resumed = append(r.dbReport().Resumed, "pachd unpaused (pachctl enterprise unpause)")
	return "an earlier run was stopped while pachd was paused for its dump: pachd unpaused", nil
}

// databaseEnv is what backup-command learns of the databases to cover.
func (d pgDatabases) env() []string {
	return []string{
		"PACH_UPGRADE_DATABASES=" + strings.Join(d.names(), " "),
		"PACH_UPGRADE_DATABASE_HOST=" + d.Host,
		"PACH_UPGRADE_DATABASE_PORT=" + d.Port,
		"PACH_UPGRADE_DATABASE_USER=" + d.User,
		fmt.Sprintf("PACH_UPGRADE_DATABASE_BUILTIN=%t", d.Builtin),
	}
}

// planDatabases says, in plan mode, what the apply would back up and which
// recovery a failure would take, reading the migrations but changing
// nothing.
func (r *runner) planDatabases(ctx context.Context) (string, error) {
	dbs := releaseDatabases(r.release.Values)
	rd := r.dbReport()
	rd.Builtin = dbs.Builtin
	dump := dbs.Builtin && r.cfg.Database.Backup
	rd.Recovery = planRecovery(dump)
	if dbs.Builtin && !dump {
		rd.Recovery = planRecoveryNoDump
	}
	switch {
	case !dbs.Builtin:
		rd.Note = fmt.Sprintf("The release uses an external PostgreSQL (%s:%s): its databases %s and %s are backed up only by backup-command, "+
			"which gets them in PACH_UPGRADE_DATABASES", dbs.Host, dbs.Port, dbs.Pachyderm, dbs.Dex)
		return "external PostgreSQL: backed up only by backup-command" + r.externalBefore(ctx, dbs), nil
	case !r.cfg.Database.Backup:
		rd.Note = fmt.Sprintf("database-backup is false: databases %s and %s would not be dumped", dbs.Pachyderm, dbs.Dex)
	}
	run, err := r.databaseRunner(ctx)
	if err != nil {
		return "", warned{err.Error()}
	}
	m, err := database.ReadMigrations(ctx, run, dbs.Pachyderm, database.Login{User: dbs.User})
	if err != nil {
		return "", warned{err.Error()}
	}
	rd.MigrationsBefore = m.String()
	if !r.cfg.Database.Backup {
		return fmt.Sprintf("databases not dumped (%s); %s", m, rd.Recovery), nil
	}
	how := "live"
	if r.cfg.Database.Quiesce {
		how = "with pachd and the pipeline workers scaled to zero (or under pachctl enterprise pause where enterprise is active)"
	}
	return fmt.Sprintf("would dump %s (%s, %s format) %s; %s", strings.Join(dbs.names(), " and "), m, r.cfg.Database.DumpFormat, how, rd.Recovery), nil
}
