package database

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
			s.addMigrations(t, 6, 8)
			for _, db := range Databases {
				s.mustExec(t, db, "DELETE FROM sentinel")
				s.mustExec(t, db, "CREATE TABLE added_by_new_version (x int)")
			}
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
				if v := s.mustQuery(t, db, "SELECT to_regclass('added_by_new_version') IS NULL"); v != "t" {
					t.Errorf("%s: the new version's table survived the restore", db)
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
