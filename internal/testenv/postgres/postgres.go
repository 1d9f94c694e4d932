// Package postgres runs a real PostgreSQL server for tests: the Debian postgresql-15 binaries
// (or those named by PACH_UPGRADE_TEST_PG_BINDIR), a fresh data directory, TCP on 127.0.0.1 with
// a free port, and the databases of Pachyderm's built-in PostgreSQL: `pachyderm` and `dex`,
// owned by user `pachyderm` who logs in with a password, as the chart's Bitnami PostgreSQL sets
// them up.
//
// A test calls
//
//	srv := postgres.Start(t) // stops by itself when the test ends
//	db := srv.Open(t, "pachyderm")
//	cmd := exec.Command(srv.Bin("pg_dump"), "-Fc", "pachyderm")
//	cmd.Env = append(os.Environ(), srv.Env()...)
//
// initdb refuses to run as root, so when the test runs as root the server runs as user nobody
// (its files are handed to nobody); otherwise it runs as the test's user.
package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	// The driver of database/sql for PostgreSQL, already in the module graph through Helm.
	_ "github.com/lib/pq"
)

// EnvBinDir names a directory holding initdb, postgres, psql, pg_dump and pg_restore, when
// pg_config --bindir does not find them.
const EnvBinDir = "PACH_UPGRADE_TEST_PG_BINDIR"

// Names of Pachyderm's built-in PostgreSQL.
const (
	// User is the database user pachd and dex log in as (the chart's postgresqlUsername).
	User = "pachyderm"
	// DBPachyderm holds pachd's metadata and its migrations table.
	DBPachyderm = "pachyderm"
	// DBDex holds dex's identity data.
	DBDex = "dex"
	// Superuser is the server's superuser (the Bitnami chart's postgres user).
	Superuser = "postgres"
)

// Server is a running PostgreSQL server.
type Server struct {
	// Host is always 127.0.0.1 and Port the TCP port the server listens on.
	Host string
	Port int
	// Password is user pachyderm's password; SuperuserPassword that of user postgres.
	Password          string
	SuperuserPassword string
	// BinDir holds the server's binaries and client tools (pg_dump, pg_restore, psql).
	BinDir string
	// DataDir is the server's data directory.
	DataDir string

	root string
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
}

// Start starts a server with both databases for the test and stops it when the test ends.
// Without PostgreSQL 15 installed it skips the test with the reason, and fails it when CI=true
// (.ci/run installs it), as testenv does without a cluster.
func Start(t testing.TB) *Server {
	t.Helper()
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
	})
	return s
}

// Require skips the test when PostgreSQL 15 is not installed, or fails it when CI=true.
func Require(t testing.TB) {
	t.Helper()
	if _, err := BinDir(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// New starts a server with user pachyderm and databases pachyderm and dex; the caller must call
// Stop. The server also dies with this process.
func New(ctx context.Context) (_ *Server, err error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	s := &Server{Host: "127.0.0.1", BinDir: bin, Password: randomHex(12), SuperuserPassword: randomHex(12), done: make(chan struct{}), log: &bytes.Buffer{}}
	defer func() {
		if err != nil {
			_ = s.Stop()
		}
	}()
	cred, uid, gid, err := runAs()
	if err != nil {
		return nil, err
	}
	// Not t.TempDir: its 0700 parents keep user nobody out.
	if s.root, err = os.MkdirTemp("", "pach-upgrade-pg-"); err != nil {
		return nil, fmt.Errorf("create PostgreSQL dir: %w", err)
	}
	s.DataDir = filepath.Join(s.root, "data")
	sockDir := filepath.Join(s.root, "sock")
	pwFile := filepath.Join(s.root, "pwfile")
	for _, d := range []string{s.DataDir, sockDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	if err := os.WriteFile(pwFile, []byte(s.SuperuserPassword+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write PostgreSQL password file: %w", err)
	}
	if err := os.Chmod(s.root, 0o755); err != nil {
		return nil, err
	}
	for _, p := range []string{s.DataDir, sockDir, pwFile} {
		if err := os.Lchown(p, uid, gid); err != nil {
			return nil, fmt.Errorf("give %s to uid %d: %w", p, uid, err)
		}
	}

	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", s.DataDir, "-U", Superuser,
		"--pwfile="+pwFile, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	initdb.Dir = s.root
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb %s: %w\n%s", s.DataDir, err, out)
	}
	_ = os.Remove(pwFile)

	if s.Port, err = freePort(); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", s.DataDir,
		"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(s.Port), "-k", sockDir,
		// A throw-away server: durability buys nothing but slowness.
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=50", "-c", "shared_buffers=32MB")
	s.cmd.Dir = s.root
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(ctx); err != nil {
		return nil, err
	}
	if err := s.createPachydermDatabases(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// debianBinDir is where Debian's postgresql-15 package puts the server and its tools; pg_config
// (from libpq-dev) is not always installed beside it.
const debianBinDir = "/usr/lib/postgresql/15/bin"

// BinDir finds the PostgreSQL 15 binaries: PACH_UPGRADE_TEST_PG_BINDIR, else pg_config --bindir,
// else the Debian package's directory.
func BinDir() (string, error) {
	dir := os.Getenv(EnvBinDir)
	if dir == "" {
		dir = debianBinDir
		if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
			if d := strings.TrimSpace(string(out)); fileExists(filepath.Join(d, "initdb")) {
				dir = d
			}
		}
	}
	for _, b := range []string{"initdb", "postgres", "psql", "pg_dump", "pg_restore"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("find PostgreSQL: %s not in %s (install the postgresql-15 package, or set %s)", b, dir, EnvBinDir)
		}
	}
	out, err := exec.Command(filepath.Join(dir, "postgres"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("postgres --version in %s: %w", dir, err)
	}
	if !strings.Contains(string(out), " 15.") {
		return "", fmt.Errorf("PostgreSQL in %s is %q, want 15 (the Pachyderm chart's): install postgresql-15 or set %s", dir, strings.TrimSpace(string(out)), EnvBinDir)
	}
	return dir, nil
}

// runAs returns the credential the server runs under: nobody when this process is root.
func runAs() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, os.Geteuid(), os.Getegid(), nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("PostgreSQL refuses to run as root and user nobody is missing: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

func (s *Server) waitReady(ctx context.Context) error {
	db, err := sql.Open("postgres", s.dsn(Superuser, s.SuperuserPassword, "postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		err = db.PingContext(pctx)
		pcancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("postgres exited while starting: %s", s.log.String())
		case <-ctx.Done():
			return fmt.Errorf("postgres on port %d not ready: %w\n%s", s.Port, err, s.log.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Server) createPachydermDatabases(ctx context.Context) error {
	db, err := sql.Open("postgres", s.dsn(Superuser, s.SuperuserPassword, "postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s'", User, s.Password),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", DBPachyderm, User),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", DBDex, User),
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("set up Pachyderm's databases: %w", err)
		}
	}
	return nil
}

func (s *Server) dsn(user, password, database string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password),
		Host: net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

// DSN is the connection URL of database as user pachyderm (sslmode=disable), for database/sql
// with the lib/pq driver or any libpq client.
func (s *Server) DSN(database string) string { return s.dsn(User, s.Password, database) }

// SuperuserDSN is the connection URL of database as the superuser postgres.
func (s *Server) SuperuserDSN(database string) string {
	return s.dsn(Superuser, s.SuperuserPassword, database)
}

// Env is the libpq environment that makes psql, pg_dump and pg_restore reach this server as
// user pachyderm: PGHOST, PGPORT, PGUSER, PGPASSWORD (and PGSSLMODE=disable).
func (s *Server) Env() []string {
	return []string{"PGHOST=" + s.Host, "PGPORT=" + strconv.Itoa(s.Port), "PGUSER=" + User,
		"PGPASSWORD=" + s.Password, "PGSSLMODE=disable"}
}

// EnvMap is Env as a map.
func (s *Server) EnvMap() map[string]string {
	m := map[string]string{}
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// Bin is the path of one of the server's client tools, e.g. Bin("pg_dump").
func (s *Server) Bin(name string) string { return filepath.Join(s.BinDir, name) }

// Open connects to database as user pachyderm; the connection closes when the test ends.
func (s *Server) Open(t testing.TB, database string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", s.DSN(database))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Stop shuts the server down (fast shutdown, then SIGKILL) and removes its files.
func (s *Server) Stop() error {
	var errs []error
	if s.cmd != nil && s.cmd.Process != nil {
		select {
		case <-s.done:
		default:
			// SIGINT is PostgreSQL's fast shutdown: abort clients, checkpoint, exit.
			_ = s.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-s.done:
			case <-time.After(20 * time.Second):
				_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
				<-s.done
				errs = append(errs, errors.New("postgres did not stop within 20s of SIGINT; killed"))
			}
		}
	}
	if s.root != "" {
		if err := os.RemoveAll(s.root); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
