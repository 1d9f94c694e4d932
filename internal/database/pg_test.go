package database

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pgServer is a real PostgreSQL server started for one test, holding
// Pachyderm's two databases, reached over TCP with a password as the
// built-in one is.
type pgServer struct {
	port     int
	password string
}

const testPassword = "s3cret-Pw"

// startPostgres initialises and starts a PostgreSQL server in a fresh
// folder. initdb refuses to run as root, so under root the server runs as
// the `postgres` user the server package creates.
func startPostgres(t testing.TB) *pgServer {
	t.Helper()
	out, err := exec.Command("pg_config", "--bindir").Output()
	if err != nil {
		t.Fatalf("PostgreSQL's server tools are needed (pg_config --bindir: %v); install the postgresql package", err)
	}
	bin := strings.TrimSpace(string(out))
	var cred *syscall.Credential
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, the server needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	as := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Dir = dir
		return cmd
	}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		os.Chown(pwfile, int(cred.Uid), int(cred.Gid))
	}
	data := filepath.Join(dir, "data")
	if out, err := as("initdb", "-D", data, "-U", "postgres", "--pwfile="+pwfile, "--auth=scram-sha-256",
		"--no-sync", "--encoding=UTF8", "--locale=C").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := freePort(t)
	srv := as("postgres", "-D", data, "-p", strconv.Itoa(port), "-k", dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	var logs bytes.Buffer
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			srv.Process.Kill()
			<-done
		}
	})
	s := &pgServer{port: port, password: testPassword}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := s.exec("postgres", "SELECT 1"); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("postgres exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres did not answer within a minute\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// As the Bitnami chart sets it up: pachyderm is no superuser, and owns
	// both databases.
	s.mustExec(t, "postgres", "CREATE ROLE pachyderm LOGIN PASSWORD '"+testPassword+"'")
	for _, db := range Databases {
		s.mustExec(t, "postgres", "CREATE DATABASE "+db+" OWNER pachyderm")
	}
	return s
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// env is the connection as the chart's postgres pod holds it: the
// password under the Bitnami image's variable, not PGPASSWORD.
func (s *pgServer) env() []string {
	return []string{"PGHOST=127.0.0.1", "PGPORT=" + strconv.Itoa(s.port), "POSTGRES_PASSWORD=" + s.password}
}

func (s *pgServer) runner() Local { return Local{Env: s.env()} }

func (s *pgServer) exec(db, sql string) error {
	_, err := s.query(db, sql)
	return err
}

func (s *pgServer) query(db, sql string) (string, error) {
	var out bytes.Buffer
	login := Login{}
	if db == "postgres" {
		login.User = "postgres"
	}
	err := s.runner().Run(context.Background(), login.script("psql", "--dbname="+db, "--no-psqlrc", "--tuples-only",
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
