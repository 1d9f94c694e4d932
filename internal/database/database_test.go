package database

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
)

// TestDumpAndRestore dumps both databases, lets a "new pachd" add
// migrations and change data, and restores: the migrations count and the
// sentinel rows are back as they were, in each format.
func TestDumpAndRestore(t *testing.T) {
	s := startPostgres(t)
	s.seed(t, 5)
	r := s.runner()
	ctx := context.Background()
	before, err := ReadMigrations(ctx, r, "pachyderm", Login{})
	if err != nil {
		t.Fatal(err)
	}
	if !before.Table || before.Count != 5 || before.MaxID != 5 || before.Newest != "v2.11.0 step 5" {
		t.Fatalf("migrations before = %+v, want 5, newest 5 \"v2.11.0 step 5\"", before)
	}
	for _, f := range Formats {
		t.Run(string(f), func(t *testing.T) {
			dir := t.TempDir()
			var dumps []Dump
			for _, db := range Databases {
				d, err := DumpDatabase(ctx, r, DumpOptions{Database: db, Format: f, Dir: dir})
				if err != nil {
					t.Fatal(err)
				}
				checkFile(t, dir, d)
				dumps = append(dumps, d)
			}
			// What a new pachd that then failed leaves behind.
			s.newVersionLeftovers(t, 6, 8)
			after, err := ReadMigrations(ctx, r, "pachyderm", Login{})
			if err != nil {
				t.Fatal(err)
			}
			if !before.Added(after) || after.Count != 8 {
				t.Fatalf("after the new pachd: %v; want 8 migrations, added to %v", after, before)
			}
			for _, d := range dumps {
				if err := RestoreDatabase(ctx, r, dir, d, Login{}); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ReadMigrations(ctx, r, "pachyderm", Login{})
			if err != nil {
				t.Fatal(err)
			}
			if got != before {
				t.Fatalf("migrations after the restore = %v, want %v", got, before)
			}
			for _, db := range Databases {
				if v := s.mustQuery(t, db, "SELECT string_agg(v, ',') FROM sentinel"); v != db+" before the upgrade" {
					t.Errorf("%s sentinel after the restore = %q", db, v)
				}
				if v := s.mustQuery(t, db, "SELECT to_regclass('added_by_new_version') IS NULL AND to_regclass('refers_to_old') IS NULL"); v != "t" {
					t.Errorf("%s: the new version's tables survived the restore", db)
				}
			}
		})
	}
}

// checkFile holds the file to what the Dump records: mode 0600, size and
// SHA-256 of the bytes on disk, and no partial file beside it.
func checkFile(t *testing.T, dir string, d Dump) {
	t.Helper()
	path := filepath.Join(dir, d.File)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", d.File, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if d.Size != int64(len(data)) || d.Size == 0 || d.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("%s: recorded size %d sha %s; file has %d bytes, sha %x", d.File, d.Size, d.SHA256, len(data), sum)
	}
	if err := Check(dir, d); err != nil {
		t.Error(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("partial file %s left in the backup folder", e.Name())
		}
	}
}

// TestDumpFailureLeavesNoFile: pg_dump of a database that is not there
// fails with pg_dump's own reason, and nothing is left in the folder.
func TestDumpFailureLeavesNoFile(t *testing.T) {
	s := startPostgres(t)
	dir := t.TempDir()
	_, err := DumpDatabase(context.Background(), s.runner(), DumpOptions{Database: "nope", Dir: dir})
	if err == nil || !strings.Contains(err.Error(), `database "nope" does not exist`) {
		t.Fatalf("err = %v, want pg_dump's reason", err)
	}
	// A wrong password is refused too, and says so.
	bad := Local{Env: append(s.env(), "PGPASSWORD=wrong")}
	_, err = DumpDatabase(context.Background(), bad, DumpOptions{Database: "pachyderm", Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Fatalf("err = %v, want the authentication failure", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a failed dump left %d file(s) in the backup folder", len(entries))
	}
}

// TestRestoreRefusesTamperedDump: one changed byte and the restore stops
// before the database is touched.
func TestRestoreRefusesTamperedDump(t *testing.T) {
	s := startPostgres(t)
	s.seed(t, 3)
	ctx := context.Background()
	dir := t.TempDir()
	d, err := DumpDatabase(ctx, s.runner(), DumpOptions{Database: "dex", Format: Plain, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, d.File)
	data, _ := os.ReadFile(path)
	data = []byte(strings.Replace(string(data), "dex before the upgrade", "dex after a tamper ", 1))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s.mustExec(t, "dex", "INSERT INTO sentinel VALUES ('written after the dump')")
	err = RestoreDatabase(ctx, s.runner(), dir, d, Login{})
	if err == nil || !strings.Contains(err.Error(), "changed since the run wrote it") {
		t.Fatalf("err = %v, want the checksum refusal", err)
	}
	if n := s.mustQuery(t, "dex", "SELECT count(*) FROM sentinel"); n != "2" {
		t.Fatalf("dex has %s sentinel rows after a refused restore, want the 2 it had", n)
	}
	if err := Check(dir, Dump{Database: "dex", File: "../etc/passwd"}); err == nil {
		t.Fatal("Check accepted a file outside the backup folder")
	}
}

// TestReadMigrationsWithoutTable: a database pachd never started against.
func TestReadMigrationsWithoutTable(t *testing.T) {
	s := startPostgres(t)
	m, err := ReadMigrations(context.Background(), s.runner(), "dex", Login{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Table || m.Count != 0 || m.String() != "no migrations table" {
		t.Fatalf("migrations = %+v", m)
	}
}

// TestRestoreIsAllOrNothing: a dump that pg_restore cannot read to its end
// (cut short, with a checksum to match) restores nothing: the drop of the
// database's objects is rolled back with it.
func TestRestoreIsAllOrNothing(t *testing.T) {
	s := startPostgres(t)
	s.seed(t, 4)
	ctx := context.Background()
	dir := t.TempDir()
	d, err := DumpDatabase(ctx, s.runner(), DumpOptions{Database: "pachyderm", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, d.File)
	data, _ := os.ReadFile(path)
	cut := data[:len(data)*2/3]
	if err := os.WriteFile(path, cut, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cut)
	d.Size, d.SHA256 = int64(len(cut)), hex.EncodeToString(sum[:])
	s.addMigrations(t, 5, 6)
	err = RestoreDatabase(ctx, s.runner(), dir, d, Login{})
	if err == nil {
		t.Fatal("a cut dump restored without error")
	}
	m, err := ReadMigrations(ctx, s.runner(), "pachyderm", Login{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Count != 6 || s.mustQuery(t, "pachyderm", "SELECT count(*) FROM sentinel") != "1" {
		t.Fatalf("after a failed restore: %v; want the 6 migrations and the sentinel as they were", m)
	}
}

// TestCancelledDumpLeavesNothing: a dump cut by a cancel leaves no file,
// and is an error.
func TestCancelledDumpLeavesNothing(t *testing.T) {
	s := startPostgres(t)
	s.mustExec(t, "pachyderm", "CREATE TABLE bulk AS SELECT i, repeat(md5(i::text), 16) AS v FROM generate_series(1, 200000) i")
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	w := &cancelAfter{n: 64 << 10, cancel: cancel}
	_, err := DumpDatabase(ctx, teeRunner{s.runner(), w}, DumpOptions{Database: "pachyderm", Format: Plain, Dir: dir})
	if err == nil {
		t.Fatal("a cancelled dump succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a cancelled dump left %d file(s)", len(entries))
	}
}

// cancelAfter cancels once n bytes went through: the dump is midway.
type cancelAfter struct {
	n      int
	cancel func()
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	if c.n -= len(p); c.n <= 0 {
		c.cancel()
	}
	return len(p), nil
}

// teeRunner also shows the command's stdout to w.
type teeRunner struct {
	Local
	w io.Writer
}

func (r teeRunner) Run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return r.Local.Run(ctx, argv, stdin, io.MultiWriter(stdout, r.w), stderr)
}

// newVersionLeftovers is what a newer pachd that then failed leaves in
// both databases: more migrations, a deleted sentinel, a new table that
// references an old one (pg_restore --clean, dropping only the dump's
// tables, would fail on it) and one that does not.
func (s *pgServer) newVersionLeftovers(t *testing.T, from, to int) {
	t.Helper()
	s.addMigrations(t, from, to)
	for _, db := range Databases {
		s.mustExec(t, db, "DELETE FROM sentinel")
		s.mustExec(t, db, "CREATE TABLE added_by_new_version (x int)")
	}
	s.mustExec(t, "pachyderm", "CREATE TABLE refers_to_old (id BIGINT REFERENCES migrations(id))")
}

// state is what a restore must leave alone or bring back: each database's
// tables and sentinel rows, and pachyderm's migrations.
func (s *pgServer) state(t *testing.T) string {
	t.Helper()
	var out []string
	for _, db := range Databases {
		out = append(out, db+": tables "+s.mustQuery(t, db,
			"SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'")+
			"; sentinel "+s.mustQuery(t, db, "SELECT coalesce(string_agg(v, ',' ORDER BY v), '') FROM sentinel"))
	}
	out = append(out, "migrations "+s.mustQuery(t, "pachyderm", "SELECT count(*) || ' max ' || max(id) FROM migrations"))
	if s.mustQuery(t, "pachyderm", "SELECT to_regclass('bulk') IS NOT NULL") == "t" {
		out = append(out, "bulk "+s.mustQuery(t, "pachyderm", "SELECT count(*) FROM bulk"))
	}
	return strings.Join(out, "; ")
}

// noRestoreSession waits for the restore's session to be gone from the
// server: a psql left running would hold its transaction and its locks.
func (s *pgServer) noRestoreSession(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		n := s.mustQuery(t, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pach-upgrade-restore'")
		if n == "0" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s restore session(s) still open 15s after the restore returned", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCancelledRestoreLeavesTheDatabaseAsItWas: a restore cancelled while
// it loads the dump's rows (its DROP OWNED done, the old tables created
// again) leaves every database exactly as it was before the restore, in
// each format, and leaves no session behind.
func TestCancelledRestoreLeavesTheDatabaseAsItWas(t *testing.T) {
	s := startPostgres(t)
	s.seed(t, 5)
	s.mustExec(t, "pachyderm", "CREATE TABLE bulk AS SELECT i, repeat(md5(i::text), 8) AS v FROM generate_series(1, 300000) i")
	ctx := context.Background()
	for _, f := range Formats {
		t.Run(string(f), func(t *testing.T) {
			dir := t.TempDir()
			d, err := DumpDatabase(ctx, s.runner(), DumpOptions{Database: "pachyderm", Format: f, Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			s.newVersionLeftovers(t, 6, 7)
			before := s.state(t)
			t.Cleanup(func() { // the next format starts from the seeded state again
				if err := RestoreDatabase(ctx, s.runner(), dir, d, Login{}); err != nil {
					t.Fatal(err)
				}
				for _, db := range Databases {
					s.mustExec(t, db, "DROP TABLE IF EXISTS added_by_new_version")
				}
				s.mustExec(t, "dex", "DELETE FROM sentinel; INSERT INTO sentinel VALUES ('dex before the upgrade')")
			})
			rctx, cancel := context.WithCancel(ctx)
			copying := make(chan struct{})
			go func() {
				defer close(copying)
				// Cancel once the restore's COPY into bulk has rows in.
				for rctx.Err() == nil {
					if n, _ := s.query("postgres", "SELECT coalesce(max(tuples_processed), 0) FROM pg_stat_progress_copy"); n != "" && n != "0" {
						cancel()
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}()
			err = RestoreDatabase(rctx, s.runner(), dir, d, Login{})
			cancel()
			<-copying
			if err == nil {
				t.Fatal("a cancelled restore returned no error (it finished before the cancel: make bulk bigger)")
			}
			s.noRestoreSession(t)
			if got := s.state(t); got != before {
				t.Fatalf("after a cancelled restore:\n  %s\nwant as before it:\n  %s", got, before)
			}
		})
	}
}

// cutStdin hands the command only the first n bytes of its stdin, then
// ends it: an exec whose stream was closed midway, as a cancelled client
// or a lost connection leaves it.
type cutStdin struct {
	Local
	n int64
}

func (r cutStdin) Run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if stdin != nil {
		stdin = io.LimitReader(stdin, r.n)
	}
	return r.Local.Run(ctx, argv, stdin, stdout, stderr)
}

// TestRestoreCutShortCommitsNothing: the dump's stream ends early, at a
// statement's end of a plain dump (valid SQL up to there) or midway in a
// custom or tar dump, or just before the commit mark: nothing is restored.
// The whole stream restores.
func TestRestoreCutShortCommitsNothing(t *testing.T) {
	s := startPostgres(t)
	s.seed(t, 5)
	ctx := context.Background()
	for _, f := range Formats {
		t.Run(string(f), func(t *testing.T) {
			dir := t.TempDir()
			d, err := DumpDatabase(ctx, s.runner(), DumpOptions{Database: "pachyderm", Format: f, Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join(dir, d.File))
			if err != nil {
				t.Fatal(err)
			}
			cuts := map[string]int64{"midway": d.Size / 2, "before the mark": d.Size}
			if f == Plain {
				// Just after the sentinel's data: all that follows are
				// constraints and the like.
				i := strings.Index(string(data), "before the upgrade\n\\.\n")
				if i < 0 {
					t.Fatal("the plain dump holds no sentinel row")
				}
				cuts["midway"] = int64(i + len("before the upgrade\n\\.\n"))
			}
			s.newVersionLeftovers(t, 6, 7)
			before := s.state(t)
			for name, n := range cuts {
				if err := RestoreDatabase(ctx, cutStdin{s.runner(), n}, dir, d, Login{}); err == nil {
					t.Errorf("cut %s (%d of %d bytes): the restore succeeded", name, n, d.Size)
				}
				if got := s.state(t); got != before {
					t.Fatalf("cut %s: after the restore:\n  %s\nwant as before:\n  %s", name, got, before)
				}
			}
			if err := RestoreDatabase(ctx, cutStdin{s.runner(), d.Size + int64(len(commitMark))}, dir, d, Login{}); err != nil {
				t.Fatalf("the whole stream: %v", err)
			}
			if got := s.mustQuery(t, "pachyderm", "SELECT count(*) FROM migrations"); got != "5" {
				t.Fatalf("the whole stream restored %s migrations, want 5", got)
			}
			for _, db := range Databases {
				s.mustExec(t, db, "DROP TABLE IF EXISTS added_by_new_version")
			}
			s.mustExec(t, "dex", "DELETE FROM sentinel; INSERT INTO sentinel VALUES ('dex before the upgrade')")
		})
	}
}

// orphaning runs the command as kwok's exec server and Kubernetes' do: a
// client that goes away leaves it running, its stdin never closed.
type orphaning struct {
	Local
	t *testing.T
}

func (r orphaning) Run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), r.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	r.t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); <-exited })
	go func() {
		if stdin != nil {
			io.Copy(in, stdin) // and never close it
		}
	}()
	select {
	case <-exited:
		return waitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// slowReader hands out its bytes slowly, and cancels once half are out.
type slowReader struct {
	r      io.Reader
	left   int
	cancel func()
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(p) > 4096 {
		p = p[:4096]
	}
	n, err := s.r.Read(p)
	if s.left -= n; s.left <= 0 {
		s.cancel()
		select {} // the stream stalls: nothing more comes, nothing ends it
	}
	return n, err
}

// TestCancelledRestoreEndsItsSession: a cancelled restore whose command
// lives on (its exec's stdin open, as kwok's and Kubernetes' leave it)
// has its session ended on the server at once, and the database is as it
// was: no transaction left holding its locks until the stall limit.
func TestCancelledRestoreEndsItsSession(t *testing.T) {
	s := startPostgres(t)
	s.seed(t, 5)
	ctx := context.Background()
	dir := t.TempDir()
	d, err := DumpDatabase(ctx, s.runner(), DumpOptions{Database: "pachyderm", Format: Plain, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s.newVersionLeftovers(t, 6, 7)
	before := s.state(t)
	rctx, cancel := context.WithCancel(ctx)
	stalled := slowRunner{orphaning{s.runner(), t}, func(in io.Reader) io.Reader {
		return &slowReader{r: in, left: int(d.Size) / 2, cancel: cancel}
	}}
	if err := RestoreDatabase(rctx, stalled, dir, d, Login{}); err == nil {
		t.Fatal("a cancelled restore returned no error")
	}
	s.noRestoreSession(t)
	if got := s.state(t); got != before {
		t.Fatalf("after a cancelled restore:\n  %s\nwant as before it:\n  %s", got, before)
	}
}

// slowRunner wraps the restore's stdin.
type slowRunner struct {
	orphaning
	wrap func(io.Reader) io.Reader
}

func (r slowRunner) Run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if stdin != nil {
		stdin = r.wrap(stdin)
	}
	return r.orphaning.Run(ctx, argv, stdin, stdout, stderr)
}

// TestDumpToAFullDisk: the backup folder fills up midway through the dump
// (a real tmpfs of 512 KiB): the error says the folder is full, names it,
// and no partial file is left.
func TestDumpToAFullDisk(t *testing.T) {
	dir := testenv.SmallDisk(t, 512<<10)
	s := startPostgres(t)
	s.mustExec(t, "pachyderm", "CREATE TABLE bulk AS SELECT i, md5(i::text) AS v FROM generate_series(1, 100000) i")
	_, err := DumpDatabase(context.Background(), s.runner(), DumpOptions{Database: "pachyderm", Format: Plain, Dir: dir})
	if err == nil || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "the backup folder "+dir+" is full") {
		t.Fatalf("err = %v, want the full backup folder named", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a dump to a full disk left %d file(s)", len(entries))
	}
}
