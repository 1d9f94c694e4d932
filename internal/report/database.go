package report

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Database is what the run knows and did about Pachyderm's PostgreSQL
// databases: their dumps, the quiesce around them, pachd's schema
// migrations and the recovery a failure calls for.
type Database struct {
	// Builtin is true when the release uses the chart's own PostgreSQL,
	// which the run dumps; false for an external database.
	Builtin bool
	// Note says plainly what is and is not backed up (an external
	// database, a backup turned off).
	Note string
	// Path is the folder of the dumps, as the runner sees it.
	Path  string
	Dumps []Dump
	// Quiesced lists the workloads scaled to zero ("Deployment/pachd: 1").
	Quiesced []string
	// QuiesceMethod is how the dump was quiesced: "pachctl enterprise
	// pause" where enterprise is active, else "scaled to zero"; empty for a
	// live dump.
	QuiesceMethod string
	// QuiescedFrom and QuiescedUntil bound the dump's quiesce.
	QuiescedFrom, QuiescedUntil time.Time `json:",omitzero"`
	// Resumed lists what an earlier, killed run left quiesced and this run
	// gave back before anything else ("Deployment/pachd: 1").
	Resumed  []string
	Downtime time.Duration
	// MigrationsBefore and MigrationsAfter are pachd's migrations table
	// before the upgrade and after a failure.
	MigrationsBefore, MigrationsAfter string
	// Recovery is the recovery path that applies to a failure, and why.
	Recovery string
	// RecoverySteps, set when the run left the new revision because a
	// rollback alone cannot bring the old pachd back, are the exact steps
	// for a person: restore the databases, then helm rollback.
	RecoverySteps []string
	// Pipelines lists the pipeline states before and after the upgrade.
	PipelinesBefore, PipelinesAfter []string
}

// AddQuiesced records workloads scaled to zero; one the run quiesced
// before (for the dump, then for the restore) is listed once.
func (d *Database) AddQuiesced(ws ...string) {
	for _, w := range ws {
		if !slices.Contains(d.Quiesced, w) {
			d.Quiesced = append(d.Quiesced, w)
		}
	}
}

// QuiescedWorkloads is Quiesced with each workload once, in order.
func (d *Database) QuiescedWorkloads() []string {
	var out []string
	for _, w := range d.Quiesced {
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// The quiesce methods of Database.QuiesceMethod.
const (
	QuiescePause = "pachctl enterprise pause"
	QuiesceScale = "scaled to zero"
)

// Dump is one database dump file.
type Dump struct {
	Database, File, SHA256 string
	Size                   int64
}

// DatabaseBackupPath is the database-backup-path output.
func (r *Report) DatabaseBackupPath() string {
	if r.Database == nil {
		return ""
	}
	return r.Database.Path
}

func database(b *strings.Builder, d *Database) {
	if d == nil {
		return
	}
	b.WriteString("### Databases\n\n")
	if d.Note != "" {
		fmt.Fprintf(b, "**%s**\n\n", inline(d.Note))
	}
	if len(d.Dumps) > 0 {
		fmt.Fprintf(b, "Dumps in `%s`:\n\n", strings.ReplaceAll(d.Path, "`", "'"))
		b.WriteString("| Database | File | Size | SHA-256 |\n|---|---|---:|---|\n")
		for _, x := range d.Dumps {
			fmt.Fprintf(b, "| %s | `%s` | %d | `%s` |\n", cell(x.Database), cell(x.File), x.Size, cell(x.SHA256))
		}
		b.WriteString("\n")
	}
	if len(d.Resumed) > 0 {
		fmt.Fprintf(b, "An earlier run was stopped while these were scaled to zero; given back first: %s\n\n", inline(strings.Join(d.Resumed, ", ")))
	}
	if d.QuiesceMethod == QuiescePause {
		fmt.Fprintf(b, "Quiesced with `pachctl enterprise pause` for %s (pachd paused, no writes)\n\n", duration(d.Downtime))
	}
	if q := d.QuiescedWorkloads(); len(q) > 0 {
		fmt.Fprintf(b, "Quiesced for %s (pachd and pipelines down): %s\n\n", duration(d.Downtime), inline(strings.Join(q, ", ")))
	}
	if d.MigrationsBefore != "" {
		fmt.Fprintf(b, "pachd's schema migrations before the upgrade: %s", inline(d.MigrationsBefore))
		if d.MigrationsAfter != "" {
			fmt.Fprintf(b, "; after the failure: %s", inline(d.MigrationsAfter))
		}
		b.WriteString("\n\n")
	}
	if d.Recovery != "" {
		fmt.Fprintf(b, "Recovery on failure: %s\n\n", inline(d.Recovery))
	}
	if len(d.PipelinesBefore) > 0 || len(d.PipelinesAfter) > 0 {
		fmt.Fprintf(b, "Pipelines before: %s; after: %s\n\n", inline(or(strings.Join(d.PipelinesBefore, ", "), "none")),
			inline(or(strings.Join(d.PipelinesAfter, ", "), "—")))
	}
}
