package pachstandin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/Masterminds/semver/v3"
)

// ErrDatabaseNewer is pachd's refusal to start against a database that holds more migrations
// than it knows (clusterstate's BlockUntil), with pachd's own words.
var ErrDatabaseNewer = errors.New("database state is newer than application is expecting")

// MigrationStep says that every version from Since on knows Count migrations, until the next
// step of a MigrationTable.
type MigrationStep struct {
	Since string
	Count int
}

// MigrationTable is the chain of pachd's schema migrations by release, oldest first: as in
// Pachyderm, most minors add migrations, a patch may.
type MigrationTable []MigrationStep

// DefaultMigrations is the stand-in's chain: 2.10 knows 18 migrations, 2.11 21, 2.12 24, 2.13 26;
// no patch adds any. Tests that need a patch to migrate pass their own table.
var DefaultMigrations = MigrationTable{
	{Since: "2.10.0", Count: 18},
	{Since: "2.11.0", Count: 21},
	{Since: "2.12.0", Count: 24},
	{Since: "2.13.0", Count: 26},
}

// Known is the number of migrations pachd at version knows: the count of the last step at or
// below it. A pre-release counts as its release (2.12.0-rc.1 knows what 2.12.0 knows).
func (t MigrationTable) Known(version string) (int, error) {
	v, err := semver.NewVersion(version)
	if err != nil {
		return 0, fmt.Errorf("pachd version %q: %w", version, err)
	}
	core, _ := v.SetPrerelease("")
	steps := t.sorted()
	n := -1
	for _, s := range steps {
		sv, err := semver.NewVersion(s.Since)
		if err != nil {
			return 0, fmt.Errorf("migration table step %q: %w", s.Since, err)
		}
		if !core.LessThan(sv) {
			n = s.Count
		}
	}
	if n < 0 {
		return 0, fmt.Errorf("pachd %s is older than the migration table's first step %s", version, steps[0].Since)
	}
	return n, nil
}

// introducedBy names the version whose step first reaches migration id.
func (t MigrationTable) introducedBy(id int) string {
	for _, s := range t.sorted() {
		if s.Count >= id {
			return "v" + s.Since
		}
	}
	return "unknown"
}

func (t MigrationTable) sorted() MigrationTable {
	out := append(MigrationTable(nil), t...)
	sort.SliceStable(out, func(i, j int) bool {
		a, errA := semver.NewVersion(out[i].Since)
		b, errB := semver.NewVersion(out[j].Since)
		return errA == nil && errB == nil && a.LessThan(b)
	})
	return out
}

// MigrationResult is what one pachd start did to the database.
type MigrationResult struct {
	// Before and After are MAX(id) of table migrations before and after the start.
	Before, After int
	// Known is the number of migrations the starting version knows.
	Known int
}

// Applied is the number of migrations this start added.
func (r MigrationResult) Applied() int { return r.After - r.Before }

// Migrate does what pachd does at start against database pachyderm: create table migrations
// (id BIGINT PRIMARY KEY, name, start_time, end_time) when missing, refuse with ErrDatabaseNewer
// when MAX(id) is above what version knows, and otherwise apply each missing migration in its
// own transaction. Each migration also creates a table standin_migration_<id>, so the schema
// really changes as pachd's does.
func Migrate(ctx context.Context, db *sql.DB, version string, table MigrationTable) (MigrationResult, error) {
	known, err := table.Known(version)
	if err != nil {
		return MigrationResult{}, err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (
		id BIGINT PRIMARY KEY,
		name VARCHAR(4096) NOT NULL,
		start_time TIMESTAMP NOT NULL,
		end_time TIMESTAMP)`); err != nil {
		return MigrationResult{}, fmt.Errorf("create table migrations: %w", err)
	}
	current, err := maxMigration(ctx, db)
	if err != nil {
		return MigrationResult{}, err
	}
	res := MigrationResult{Before: current, After: current, Known: known}
	if current > known {
		return res, fmt.Errorf("pachd %s knows %d migrations, the database holds %d: %w", version, known, current, ErrDatabaseNewer)
	}
	for id := current + 1; id <= known; id++ {
		if err := applyMigration(ctx, db, id, table.introducedBy(id)); err != nil {
			return res, err
		}
		res.After = id
	}
	return res, nil
}

func maxMigration(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM migrations`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read MAX(id) of migrations: %w", err)
	}
	return n, nil
}

func applyMigration(ctx context.Context, db *sql.DB, id int, by string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %d: %w", id, err)
	}
	defer func() { _ = tx.Rollback() }()
	// Two pachd pods starting together: the second waits and then finds the row.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(4242)`); err != nil {
		return fmt.Errorf("migration %d: lock: %w", id, err)
	}
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM migrations WHERE id = $1)`, id).Scan(&exists); err != nil {
		return fmt.Errorf("migration %d: %w", id, err)
	}
	if exists {
		return nil
	}
	start := time.Now().UTC()
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS standin_migration_%d (note TEXT)`, id)); err != nil {
		return fmt.Errorf("migration %d: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (id, name, start_time, end_time) VALUES ($1, $2, $3, $4)`,
		id, fmt.Sprintf("%s stand-in migration %d", by, id), start, time.Now().UTC()); err != nil {
		return fmt.Errorf("migration %d: record: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %d: commit: %w", id, err)
	}
	return nil
}

// MigrationCount reads MAX(id) and the newest migration's name from database pachyderm, as an
// upgrade reports them; 0 and "" when pachd never started against it.
func MigrationCount(ctx context.Context, db *sql.DB) (int, string, error) {
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT to_regclass('migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, "", fmt.Errorf("look for table migrations: %w", err)
	}
	if !exists {
		return 0, "", nil
	}
	var n int
	var name sql.NullString
	err := db.QueryRowContext(ctx, `SELECT id, name FROM migrations ORDER BY id DESC LIMIT 1`).Scan(&n, &name)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("read newest migration: %w", err)
	}
	return n, name.String, nil
}
