package database

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv/postgres"
)

// pgServer is a real PostgreSQL 15 server started for one test (the test
// environment's), holding Pachyderm's two databases owned by user
// pachyderm, reached over TCP with a password as the built-in one is.
type pgServer struct{ srv *postgres.Server }

func startPostgres(t testing.TB) *pgServer { return &pgServer{srv: postgres.Start(t)} }

// env is the connection as the chart's postgres pod holds it: the
// password under the Bitnami image's variable, not PGPASSWORD, and no
// PGUSER (Login names the user).
func (s *pgServer) env() []string {
	var env []string
	for _, kv := range s.srv.Env() {
		if k, v, _ := strings.Cut(kv, "="); k == "PGPASSWORD" {
			env = append(env, "POSTGRES_PASSWORD="+v)
		} else if k != "PGUSER" {
			env = append(env, kv)
		}
	}
	return env
}

func (s *pgServer) runner() Local { return Local{Env: s.env()} }

func (s *pgServer) exec(db, sql string) error {
	_, err := s.query(db, sql)
	return err
}

func (s *pgServer) query(db, sql string) (string, error) {
	var out bytes.Buffer
	err := s.runner().Run(context.Background(), Login{}.script("psql", "--dbname="+db, "--no-psqlrc", "--tuples-only",
		"--no-align", "--set=ON_ERROR_STOP=1", "--command="+sql), nil, &out, nil)
	return strings.TrimSpace(out.String()), err
}

func (s *pgServer) mustExec(t testing.TB, db, sql string) {
	t.Helper()
	if err := s.exec(db, sql); err != nil {
		t.Fatalf("%s: %s: %v", db, sql, err)
	}
}

func (s *pgServer) mustQuery(t testing.TB, db, sql string) string {
	t.Helper()
	out, err := s.query(db, sql)
	if err != nil {
		t.Fatalf("%s: %s: %v", db, sql, err)
	}
	return out
}

// seed gives the databases what pachd and dex would: pachd's migrations
// table with n migrations, and a sentinel row in each database.
func (s *pgServer) seed(t testing.TB, migrations int) {
	t.Helper()
	s.mustExec(t, "pachyderm", `CREATE TABLE migrations (id BIGINT PRIMARY KEY, name VARCHAR(250) NOT NULL,
		start_time TIMESTAMP NOT NULL, end_time TIMESTAMP)`)
	s.addMigrations(t, 1, migrations)
	for _, db := range Databases {
		s.mustExec(t, db, "CREATE TABLE sentinel (v TEXT NOT NULL)")
		s.mustExec(t, db, fmt.Sprintf("INSERT INTO sentinel VALUES ('%s before the upgrade')", db))
	}
}

func (s *pgServer) addMigrations(t testing.TB, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		s.mustExec(t, "pachyderm", fmt.Sprintf("INSERT INTO migrations VALUES (%d, 'v2.%d.0 step %d', now(), now())", i, 10+i/4, i))
	}
}
