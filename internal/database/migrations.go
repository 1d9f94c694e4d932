package database

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Migrations is what pachd's `migrations` table of database `pachyderm`
// says about the schema: pachd applies the missing migrations at start
// and refuses to start when MAX(id) is above what it knows, so a rollback
// of the chart works only while these numbers have not grown.
type Migrations struct {
	// Table is false when the database has no migrations table: no pachd
	// ever started against it.
	Table bool  `json:"table"`
	Count int64 `json:"count"`
	// MaxID is the highest migration's id; Newest its name.
	MaxID  int64  `json:"maxId"`
	Newest string `json:"newest,omitempty"`
}

func (m Migrations) String() string {
	if !m.Table {
		return "no migrations table"
	}
	if m.Count == 0 {
		return "0 migrations"
	}
	return fmt.Sprintf("%d migrations, newest %d %q", m.Count, m.MaxID, m.Newest)
}

// Added reports whether after holds migrations that before did not.
func (m Migrations) Added(after Migrations) bool {
	return after.Count > m.Count || after.MaxID > m.MaxID
}

// The migrations table is read with psql's --command and no stdin: the
// end of stdin does not reach the command through every exec.
const (
	hasMigrationsQuery = `SELECT to_regclass('migrations') IS NOT NULL`
	migrationsQuery    = `SELECT count(*), coalesce(max(id), 0), ` +
		`coalesce((SELECT name FROM migrations ORDER BY id DESC LIMIT 1), '') FROM migrations`
)

// ReadMigrations reads the migrations table of database db (pachyderm's)
// with psql through r.
func ReadMigrations(ctx context.Context, r Runner, db string, login Login) (Migrations, error) {
	// One short query: a stuck exec must not hold the run.
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	query := func(sql string) ([]string, error) {
		var out bytes.Buffer
		argv := []string{"psql", "--dbname=" + db, "--no-password", "--no-psqlrc", "--tuples-only", "--no-align",
			"--field-separator-zero", "--set=ON_ERROR_STOP=1", "--command=" + sql}
		if err := r.Run(ctx, login.script(argv...), nil, &limited{b: &out, max: 1 << 16}, nil); err != nil {
			return nil, fmt.Errorf("read the migrations of database %s with psql in %s: %w", db, r.Where(), err)
		}
		return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\x00"), nil
	}
	f, err := query(hasMigrationsQuery)
	if err != nil {
		return Migrations{}, err
	}
	if len(f) != 1 || (f[0] != "t" && f[0] != "f") {
		return Migrations{}, fmt.Errorf("read the migrations of database %s: psql answered %q", db, strings.Join(f, " "))
	}
	if f[0] == "f" {
		return Migrations{}, nil
	}
	if f, err = query(migrationsQuery); err != nil {
		return Migrations{}, err
	}
	if len(f) != 3 {
		return Migrations{}, fmt.Errorf("read the migrations of database %s: psql answered %q, not 3 fields", db, strings.Join(f, " "))
	}
	n, err1 := strconv.ParseInt(f[0], 10, 64)
	id, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return Migrations{}, fmt.Errorf("read the migrations of database %s: psql answered %q", db, strings.Join(f, " "))
	}
	return Migrations{Table: true, Count: n, MaxID: id, Newest: f[2]}, nil
}

// readTimeout bounds a read of the migrations table.
const readTimeout = 2 * time.Minute

// limited keeps at most max bytes: psql's answer here is one short row.
type limited struct {
	b   *bytes.Buffer
	max int
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		if len(p) > room {
			l.b.Write(p[:room])
		} else {
			l.b.Write(p)
		}
	}
	return len(p), nil
}
