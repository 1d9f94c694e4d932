package database

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
)

// Over SQL the migrations read as psql reads them, from the same queries:
// no table, then a table with migrations; a wrong password is an
// authentication failure whose message holds no password.
func TestReadMigrationsSQL(t *testing.T) {
	s := startPostgres(t)
	ctx := context.Background()
	addr := net.JoinHostPort(s.srv.Host, strconv.Itoa(s.srv.Port))
	login := SQLLogin{User: "pachyderm", Password: s.srv.Password}

	m, err := ReadMigrationsSQL(ctx, addr, "pachyderm", login)
	if err != nil || m.Table {
		t.Fatalf("before any pachd: %+v, %v; want no migrations table", m, err)
	}
	s.seed(t, 7)
	m, err = ReadMigrationsSQL(ctx, addr, "pachyderm", login)
	if err != nil {
		t.Fatal(err)
	}
	viaPsql, err := ReadMigrations(ctx, s.runner(), "pachyderm", Login{})
	if err != nil {
		t.Fatal(err)
	}
	if m != viaPsql || m.Count != 7 || m.MaxID != 7 || m.Newest != "v2.11.0 step 7" {
		t.Fatalf("over SQL %+v, with psql %+v; want both 7 migrations, newest 7", m, viaPsql)
	}

	const wrong = "n0t-The-Pa$$word'"
	_, err = ReadMigrationsSQL(ctx, addr, "pachyderm", SQLLogin{User: "pachyderm", Password: wrong})
	if err == nil || !AuthFailed(err) {
		t.Fatalf("wrong password: %v; want an authentication failure", err)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), s.srv.Password) {
		t.Errorf("the error shows a password: %v", err)
	}
}
