package bench

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/actionrun"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/postgres"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

// dumpInputs are BenchmarkUpgradeDumpQuiesce's runs of the action, by name: their inputs
// database-backup and quiesce.
var dumpInputs = map[string]struct{ backup, quiesce string }{
	// Helm's work: what BenchmarkUpgradeVsHelm's action variant measures.
	"off": {"false", "false"},
	// pg_dump of pachyderm and dex while pachd runs (a live dump).
	"dump": {"true", "false"},
	// The action's defaults: pachd and the pipeline workers scaled to zero (enterprise is
	// not active here) while both databases are dumped, then given back.
	"dump-quiesce": {"true", "true"},
}

// BenchmarkUpgradeDumpQuiesce is issue 23's healthy upgrade of the real chart (2.11.5 →
// 2.11.6), run by the action with the database dump and quiescing off, with the dump alone and
// with both (the defaults), interleaved with Helm 4's `upgrade --reuse-values --wait` in each
// iteration so that the shared machine's load falls on all alike. The release's postgres-0
// execs into a real PostgreSQL 15 (as the upgrade package's database tests wire it) whose
// database pachyderm holds PACH_UPGRADE_BENCH_DB_MIB MiB (default 16). The three action runs
// upgrade one release in turn, each rolled back untimed afterwards; Helm upgrades its own.
//
// It reports each variant's median, what the dump costs (dump − off), what quiescing adds
// (dump-quiesce − dump), both (dump-quiesce − off), and logs the step tables of the last runs.
func BenchmarkUpgradeDumpQuiesce(b *testing.B) {
	// Skip before a cluster boots when a part is missing.
	postgres.Require(b)
	testenv.SharedFixtures(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, rc, kube, bin := versusHelm(ctx, b)
	srv := postgres.Start(b)
	dbSize := fill(b, srv, dbSizeMiB(b, 16))

	cc := withDatabase(realChart(), srv)
	vs, w := installVariants(ctx, b, kube, rc, cc, []string{"action", "helm"}, b.TempDir())
	defer w.Close()
	helmHome := b.TempDir()
	runner, inputs := prRun(b, c, w, bin, cc)
	inputs[config.InputNamespace] = vs["action"].ns
	inputs[config.InputPachdAddress] = vs["action"].pachd.Address

	s := samples{}
	lastSummary := map[string]string{}
	var dumpBytes int64
	runAction := func(backup, quiesce string) (time.Duration, *actionrun.Result, error) {
		in := maps.Clone(inputs)
		in[config.InputDatabaseBackup], in[config.InputQuiesce] = backup, quiesce
		in[config.InputBackupDir] = b.TempDir()
		res, err := runner.Run(ctx, in)
		if err != nil {
			return 0, nil, err
		}
		if res.ExitCode != 0 || res.Outputs["result"] != "upgraded" {
			return 0, nil, fmt.Errorf("exit %d, result %q:\n%s", res.ExitCode, res.Outputs["result"], res.Log)
		}
		dumped := res.Outputs[config.OutputDatabaseBackupPath]
		if (backup == "true") != (dumped != "") {
			return 0, nil, fmt.Errorf("database-backup %s, yet the backup path output is %q:\n%s", backup, dumped, res.Log)
		}
		if dumped != "" {
			if dumpBytes, err = dirSize(dumped); err != nil {
				return 0, nil, err
			}
		}
		return res.Wall, res, nil
	}
	round := func(record bool) {
		for _, name := range []string{"off", "dump", "dump-quiesce", "helm"} {
			v := vs["action"]
			if name == "helm" {
				v = vs["helm"]
			}
			before, err := v.helm.Get(ctx, cc.releaseName)
			if err != nil {
				b.Fatal(err)
			}
			var d time.Duration
			if name == "helm" {
				start := time.Now()
				if out, err := helmUpgrade(ctx, c, helmHome, w.Charts.URL, cc, v.ns, true).CombinedOutput(); err != nil {
					b.Fatalf("helm upgrade --wait: %v\n%s", err, out)
				}
				d = time.Since(start)
			} else {
				dv := dumpInputs[name]
				var res *actionrun.Result
				if d, res, err = runAction(dv.backup, dv.quiesce); err != nil {
					b.Fatalf("%s: %v", name, err)
				}
				lastSummary[name] = res.Summary
			}
			if record {
				s.add(name, seconds(d))
				if name != "helm" {
					// The step that dumps and quiesces, apart from the whole run's noise.
					s.add(name+"-backup-step", seconds(stepDuration(b, lastSummary[name], "Back up")))
				}
				if name == "dump-quiesce" {
					s.add("downtime", seconds(quiescedFor(b, lastSummary[name])))
				}
			}
			if err := rollBack(ctx, kube, v, cc, before.Revision); err != nil {
				b.Fatalf("%s: %v", name, err)
			}
		}
	}
	// Warm-up: the tool cache's pachctl, the page cache, Helm's repository cache.
	round(false)
	for b.Loop() {
		round(true)
	}
	for _, name := range []string{"off", "dump", "dump-quiesce", "helm", "off-backup-step", "dump-backup-step",
		"dump-quiesce-backup-step", "downtime"} {
		s.log(b, name, "s")
	}
	for _, name := range []string{"off", "dump", "dump-quiesce"} {
		b.Logf("steps of the last %s run:\n%s", name, stepTable(lastSummary[name]))
	}
	b.Logf("databases of the last dump-quiesce run:\n%s", section(lastSummary["dump-quiesce"], "### Databases"))
	b.ReportMetric(s.median("off"), "off-s")
	b.ReportMetric(s.median("dump"), "dump-s")
	b.ReportMetric(s.median("dump-quiesce"), "dump-quiesce-s")
	b.ReportMetric(s.median("helm"), "helm-wait-s")
	b.ReportMetric(s.median("dump")-s.median("off"), "dump-cost-s")
	b.ReportMetric(s.median("dump-quiesce")-s.median("dump"), "quiesce-cost-s")
	b.ReportMetric(s.median("dump-quiesce")-s.median("off"), "dump+quiesce-cost-s")
	for _, name := range []string{"off", "dump", "dump-quiesce"} {
		b.ReportMetric(s.median(name+"-backup-step"), name+"-backup-step-s")
	}
	b.ReportMetric(s.median("downtime"), "quiesce-downtime-s")
	b.ReportMetric(s.median("off")/s.median("helm"), "off/helm")
	b.ReportMetric(s.median("dump-quiesce")/s.median("helm"), "dump-quiesce/helm")
	b.ReportMetric(float64(dbSize)/(1<<20), "db-MiB")
	b.ReportMetric(float64(dumpBytes)/(1<<20), "dumps-MiB")
}

// withDatabase is cc with srv as its releases' built-in PostgreSQL: the world wires srv behind
// postgres-0 of the action's namespace, and the chart's postgres Secret holds srv's password.
// pachd's pods are not gated on the database (no start annotations), so that they start as in
// BenchmarkUpgradeVsHelm and Helm's release, which has no database, starts alike.
func withDatabase(cc chartCase, srv *postgres.Server) chartCase {
	opts := cc.worldOptions
	cc.worldOptions = func(b *testing.B, o world.Options) world.Options {
		o = opts(b, o)
		o.Database = srv
		return o
	}
	cc.values = maps.Clone(cc.values)
	cc.values["global"] = map[string]any{"postgresql": map[string]any{"postgresqlPassword": srv.Password}}
	return cc
}

// dirSize sums the sizes of the files in dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += fi.Size()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("size of the dumps in %s: %w", dir, err)
	}
	return n, nil
}

// section is the part of a job summary from heading to the next heading of its level.
func section(summary, heading string) string {
	_, rest, ok := strings.Cut(summary, heading+"\n")
	if !ok {
		return "(no " + heading + " section)"
	}
	if i := strings.Index(rest, "\n"+strings.Fields(heading)[0]+" "); i >= 0 {
		rest = rest[:i]
	}
	return strings.TrimSpace(rest)
}

// stepDuration is the duration of step in a job summary's step table.
func stepDuration(b *testing.B, summary, step string) time.Duration {
	b.Helper()
	for _, row := range strings.Split(stepTable(summary), "\n") {
		cells := strings.Split(row, " | ")
		if len(cells) < 3 || strings.TrimPrefix(cells[0], "| ") != step {
			continue
		}
		d, err := time.ParseDuration(strings.Fields(cells[2] + " ")[0])
		if err != nil {
			b.Fatalf("step %q: duration %q: %v", step, cells[2], err)
		}
		return d
	}
	b.Fatalf("no step %q in the summary:\n%s", step, summary)
	return 0
}

// quiescedFor is the downtime a job summary reports ("Quiesced for 1.2s (pachd and pipelines
// down)" or "Quiesced with `pachctl enterprise pause` for 1.2s").
func quiescedFor(b *testing.B, summary string) time.Duration {
	b.Helper()
	for _, line := range strings.Split(summary, "\n") {
		if !strings.HasPrefix(line, "Quiesced ") {
			continue
		}
		_, rest, _ := strings.Cut(line, " for ")
		d, err := time.ParseDuration(strings.Fields(rest + " ")[0])
		if err != nil {
			b.Fatalf("quiesce downtime in %q: %v", line, err)
		}
		return d
	}
	b.Fatalf("the summary reports no quiesce:\n%s", summary)
	return 0
}
