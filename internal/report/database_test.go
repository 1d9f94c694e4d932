package report

import (
	"strings"
	"testing"
	"time"
)

func TestSummaryShowsTheDatabases(t *testing.T) {
	r := &Report{Release: "pach", Namespace: "prod", Result: ResultRolledBack, Database: &Database{
		Builtin: true, Path: "/runner/_temp/prod-pach-r3-db",
		Dumps:    []Dump{{Database: "pachyderm", File: "pachyderm.dump", SHA256: "ab12", Size: 2048}},
		Quiesced: []string{"Deployment/pachd: 1"}, Downtime: 4200 * time.Millisecond,
		MigrationsBefore: "12 migrations", MigrationsAfter: "15 migrations",
		Recovery: "restore the dump, then roll back",
	}}
	s := Summary(r)
	for _, want := range []string{"### Databases", "| pachyderm | `pachyderm.dump` | 2048 | `ab12` |",
		"Quiesced for 4.2s", "before the upgrade: 12 migrations; after the failure: 15 migrations",
		"Recovery on failure: restore the dump, then roll back"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	if r.DatabaseBackupPath() != "/runner/_temp/prod-pach-r3-db" || (&Report{}).DatabaseBackupPath() != "" {
		t.Error("database-backup-path output is not the dumps' folder")
	}
}

// A run that quiesced for its dump and again for the restore lists each
// workload once.
func TestSummaryListsEachQuiescedWorkloadOnce(t *testing.T) {
	d := &Database{Builtin: true, Downtime: time.Second}
	d.AddQuiesced("Deployment/pachd: 1", "ReplicationController/pipeline-edges-v1: 2")
	d.AddQuiesced("Deployment/pachd: 1")
	if got := strings.Join(d.Quiesced, ", "); got != "Deployment/pachd: 1, ReplicationController/pipeline-edges-v1: 2" {
		t.Errorf("Quiesced = %s", got)
	}
	// A report written before AddQuiesced (or by hand) renders once too.
	d.Quiesced = append(d.Quiesced, "Deployment/pachd: 1")
	s := Summary(&Report{Release: "pach", Namespace: "prod", Result: ResultRolledBack, Database: d})
	if n := strings.Count(s, "Deployment/pachd: 1"); n != 1 || !strings.Contains(s,
		"(pachd and pipelines down): Deployment/pachd: 1, ReplicationController/pipeline-edges-v1: 2\n") {
		t.Errorf("summary lists pachd %d times:\n%s", n, s)
	}
}
