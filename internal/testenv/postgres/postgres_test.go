package postgres_test

import (
	"bytes"
	"database/sql"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv/postgres"
)

func TestServerHasPachydermDatabasesAndRealClientTools(t *testing.T) {
	srv := postgres.Start(t)
	for _, name := range []string{postgres.DBPachyderm, postgres.DBDex} {
		db := srv.Open(t, name)
		var who, current string
		if err := db.QueryRowContext(t.Context(), "SELECT current_user, current_database()").Scan(&who, &current); err != nil {
			t.Fatalf("query %s: %v", name, err)
		}
		if who != postgres.User || current != name {
			t.Errorf("connected as %s to %s, want %s to %s", who, current, postgres.User, name)
		}
		if _, err := db.ExecContext(t.Context(), "CREATE TABLE sentinel (v text); INSERT INTO sentinel VALUES ('kept in "+name+"')"); err != nil {
			t.Fatalf("write %s: %v", name, err)
		}
	}

	// A wrong password is refused: the server really checks it, as the chart's does.
	bad, err := sql.Open("postgres", strings.Replace(srv.DSN("pachyderm"), srv.Password, "wrong", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.PingContext(t.Context()); err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("login with a wrong password: %v, want password authentication failed", err)
	}

	// pg_dump and pg_restore with only the libpq environment, as an exec into postgres-0 runs them.
	var dump, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), srv.Bin("pg_dump"), "-Fc", "dex")
	cmd.Env = append(os.Environ(), srv.Env()...)
	cmd.Stdout, cmd.Stderr = &dump, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, stderr.String())
	}
	if !bytes.HasPrefix(dump.Bytes(), []byte("PGDMP")) {
		t.Fatalf("pg_dump -Fc wrote %d bytes without the PGDMP header", dump.Len())
	}
	dex := srv.Open(t, "dex")
	if _, err := dex.ExecContext(t.Context(), "DROP TABLE sentinel"); err != nil {
		t.Fatal(err)
	}
	restore := exec.CommandContext(t.Context(), srv.Bin("pg_restore"), "--clean", "--if-exists", "-d", "dex")
	restore.Env = append(os.Environ(), srv.Env()...)
	restore.Stdin = &dump
	if out, err := restore.CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	var v string
	if err := dex.QueryRowContext(t.Context(), "SELECT v FROM sentinel").Scan(&v); err != nil || v != "kept in dex" {
		t.Errorf("sentinel after restore = %q, %v", v, err)
	}

	psql := exec.CommandContext(t.Context(), srv.Bin("psql"), "-At", "-d", "pachyderm", "-c", "SELECT v FROM sentinel")
	psql.Env = append(os.Environ(), srv.Env()...)
	if out, err := psql.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "kept in pachyderm" {
		t.Errorf("psql = %q, %v", out, err)
	}
}

func TestStopRemovesEverything(t *testing.T) {
	postgres.Require(t)
	srv, err := postgres.New(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("postgres", srv.DSN("pachyderm"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(srv.DataDir); !os.IsNotExist(err) {
		t.Errorf("data dir %s left behind: %v", srv.DataDir, err)
	}
	db.SetMaxIdleConns(0)
	if err := db.PingContext(t.Context()); err == nil {
		t.Error("server still answers after Stop")
	}
}
