package pachstandin_test

import (
	"errors"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/postgres"
)

func TestMigrationTableKnown(t *testing.T) {
	table := pachstandin.MigrationTable{{Since: "2.12.0", Count: 24}, {Since: "2.11.0", Count: 21}, {Since: "2.11.7", Count: 22}}
	for v, want := range map[string]int{"2.11.0": 21, "2.11.6": 21, "2.11.7": 22, "2.11.9": 22, "2.12.0-rc.1": 24, "v2.12.3": 24} {
		if got, err := table.Known(v); err != nil || got != want {
			t.Errorf("Known(%s) = %d, %v; want %d", v, got, err, want)
		}
	}
	if _, err := table.Known("2.10.9"); err == nil {
		t.Error("a version below the table's first step got a count")
	}
}

func TestMigrateKeepsPachdRules(t *testing.T) {
	srv := postgres.Start(t)
	db := srv.Open(t, postgres.DBPachyderm)
	ctx := t.Context()
	if n, name, err := pachstandin.MigrationCount(ctx, db); err != nil || n != 0 || name != "" {
		t.Fatalf("fresh database: %d %q %v", n, name, err)
	}

	res, err := pachstandin.Migrate(ctx, db, "2.11.5", pachstandin.DefaultMigrations)
	if err != nil || res.Before != 0 || res.After != 21 || res.Applied() != 21 {
		t.Fatalf("first start of 2.11.5 = %+v, %v; want 0 → 21", res, err)
	}
	// A patch knows no more: nothing to apply.
	if res, err := pachstandin.Migrate(ctx, db, "2.11.6", pachstandin.DefaultMigrations); err != nil || res.Applied() != 0 {
		t.Errorf("2.11.6 after 2.11.5 = %+v, %v; want nothing applied", res, err)
	}
	// The minor adds three, each recorded with its times and its schema change.
	if res, err := pachstandin.Migrate(ctx, db, "2.12.0", pachstandin.DefaultMigrations); err != nil || res.Before != 21 || res.After != 24 {
		t.Fatalf("2.12.0 = %+v, %v; want 21 → 24", res, err)
	}
	n, name, err := pachstandin.MigrationCount(ctx, db)
	if err != nil || n != 24 || name != "v2.12.0 stand-in migration 24" {
		t.Errorf("MigrationCount = %d %q %v", n, name, err)
	}
	var unfinished int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM migrations WHERE end_time IS NULL OR end_time < start_time`).Scan(&unfinished); err != nil || unfinished != 0 {
		t.Errorf("migrations without a sane end_time: %d, %v", unfinished, err)
	}
	if _, err := db.ExecContext(ctx, `SELECT * FROM standin_migration_24`); err != nil {
		t.Errorf("migration 24's table: %v", err)
	}

	// The old version now refuses the database, with pachd's words, and changes nothing.
	res, err = pachstandin.Migrate(ctx, db, "2.11.6", pachstandin.DefaultMigrations)
	if !errors.Is(err, pachstandin.ErrDatabaseNewer) || err.Error() != "pachd 2.11.6 knows 21 migrations, the database holds 24: database state is newer than application is expecting" {
		t.Errorf("2.11.6 after 2.12.0: %v", err)
	}
	if res.After != 24 {
		t.Errorf("refused start changed the count: %+v", res)
	}
}
