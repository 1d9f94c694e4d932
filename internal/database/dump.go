package database

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/runnerenv"
)

// Format is pg_dump's output format.
type Format string

const (
	// Custom (-Fc) is compressed and restored by pg_restore, which can
	// drop each object before recreating it: the default.
	Custom Format = "custom"
	// Tar (-Ft) is restored by pg_restore too, uncompressed.
	Tar Format = "tar"
	// Plain (-Fp) is SQL, readable and restored by psql; it is dumped with
	// --clean --if-exists so that the restore replaces what is there.
	Plain Format = "plain"
)

// Formats lists the formats a dump can take, for the input's validation.
var Formats = []Format{Custom, Tar, Plain}

// ParseFormat checks a dump format's name.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("dump format %q is not one of custom, tar, plain", s)
}

func (f Format) ext() string {
	switch f {
	case Tar:
		return ".tar"
	case Plain:
		return ".sql"
	}
	return ".dump"
}

// Dump is one database's dump file, as the snapshot records it.
type Dump struct {
	Database string `json:"database"`
	Format   Format `json:"format"`
	// File is the dump's name in the backup folder: the folder can move
	// (an artifact downloaded elsewhere) and the dump still be found.
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// DumpOptions say what to dump and where.
type DumpOptions struct {
	Database string
	Format   Format
	// Dir is the backup folder; Name the file's name in it.
	Dir, Name string
	Login     Login
	// Place gives the file to the runner's user in a container action.
	Place runnerenv.Env
}

// DumpDatabase runs pg_dump of one database through r and streams its
// output to a 0600 file in the backup folder, hashing it on the way. The
// file appears under its name only when the dump is complete: a dump that
// fails, is cancelled or comes out empty leaves no file and is an error.
func DumpDatabase(ctx context.Context, r Runner, o DumpOptions) (Dump, error) {
	if o.Format == "" {
		o.Format = Custom
	}
	if o.Name == "" {
		o.Name = o.Database + o.Format.ext()
	}
	d := Dump{Database: o.Database, Format: o.Format, File: o.Name}
	argv := []string{"pg_dump", "--format=" + string(o.Format), "--dbname=" + o.Database, "--no-password"}
	if o.Format == Plain {
		argv = append(argv, "--clean", "--if-exists")
	}
	tmp, err := os.CreateTemp(o.Dir, "."+o.Name+".part-*")
	if err != nil {
		return d, fmt.Errorf("dump database %s: %w", o.Database, err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return d, fmt.Errorf("dump database %s: %w", o.Database, err)
	}
	h := sha256.New()
	w := &counter{w: io.MultiWriter(tmp, h)}
	runErr := r.Run(ctx, o.Login.script(argv...), nil, w, nil)
	if err := tmp.Sync(); err != nil && runErr == nil {
		runErr = err
	}
	if err := tmp.Close(); err != nil && runErr == nil {
		runErr = err
	}
	full := w.err // the exec's own error says only that the stream broke
	if !errors.Is(full, syscall.ENOSPC) {
		full = runErr
	}
	if errors.Is(full, syscall.ENOSPC) {
		return d, fmt.Errorf("dump database %s: the backup folder %s is full after %d bytes of the dump: %w", o.Database, o.Dir, w.n, full)
	}
	if runErr != nil {
		return d, fmt.Errorf("dump database %s with pg_dump in %s: %w", o.Database, r.Where(), runErr)
	}
	if w.n == 0 {
		return d, fmt.Errorf("dump database %s with pg_dump in %s: the dump is empty", o.Database, r.Where())
	}
	if err := o.Place.GiveToOwner(tmp.Name()); err != nil {
		return d, fmt.Errorf("dump database %s: %w", o.Database, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(o.Dir, o.Name)); err != nil {
		return d, fmt.Errorf("dump database %s: %w", o.Database, err)
	}
	d.SHA256, d.Size = hex.EncodeToString(h.Sum(nil)), w.n
	return d, nil
}

// counter counts what passes through it; a write error (a full disk)
// stops the copy and so the exec.
type counter struct {
	w   io.Writer
	n   int64
	err error // the first write error
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// Check verifies that the dump in dir has the size and SHA-256 recorded:
// a changed or truncated file is refused before anything is restored.
func Check(dir string, d Dump) error {
	if d.File == "" || d.File != filepath.Base(d.File) || strings.HasPrefix(d.File, ".") {
		return fmt.Errorf("dump of %s: file name %q is not a file in the backup folder", d.Database, d.File)
	}
	f, err := os.Open(filepath.Join(dir, d.File))
	if err != nil {
		return fmt.Errorf("dump of %s: %w", d.Database, err)
	}
	defer f.Close()
	sum, n, err := hashFile(f, sha256.New())
	if err != nil {
		return fmt.Errorf("dump of %s: read %s: %w", d.Database, d.File, err)
	}
	if n != d.Size || sum != d.SHA256 {
		return fmt.Errorf("dump of %s: %s has size %d and SHA-256 %s, the snapshot records %d and %s: "+
			"the file changed since the run wrote it; restore from an untouched copy", d.Database, d.File, n, sum, d.Size, d.SHA256)
	}
	return nil
}

func hashFile(r io.Reader, h hash.Hash) (string, int64, error) {
	n, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// RestoreDatabase checks the dump, then replaces the database's content
// with it through r, all or nothing: in one transaction psql drops every
// object the user owns in the database (tables a newer pachd added too,
// which pg_restore --clean would leave, and whose references to the old
// tables make its DROP TABLE fail) and runs the dump's SQL, which
// pg_restore writes from a custom or tar dump. The file streams to stdin,
// followed by commitMark; the transaction commits only when pg_restore read
// the whole dump and the mark came after it. A stream cut short (a cancel,
// a lost connection: stdin ends early), a dump pg_restore cannot read, a
// killed psql or a stream that stalls for stallLimit all roll it back, and
// leave the database as it was.
func RestoreDatabase(ctx context.Context, r Runner, dir string, d Dump, login Login) error {
	if err := Check(dir, d); err != nil {
		return err
	}
	// head reads exactly the dump's size: the end of stdin does not reach
	// the command through every exec (kwok's never closes it), and what
	// follows the dump is the mark.
	read := fmt.Sprintf("head -c %d", d.Size)
	var produce string
	switch d.Format {
	case Custom, Tar:
		produce = read + " | pg_restore --format=" + string(d.Format) + " --no-owner --file=-"
	case Plain:
		produce = read
	default:
		return fmt.Errorf("restore database %s: unknown dump format %q", d.Database, d.Format)
	}
	f, err := os.Open(filepath.Join(dir, d.File))
	if err != nil {
		return fmt.Errorf("restore database %s: %w", d.Database, err)
	}
	defer f.Close()
	// A plain dump cut at a statement's end is valid SQL, and head exits 0
	// on a short read: only the mark after the last byte says the dump
	// arrived whole.
	script := `{ echo 'BEGIN;'; ` +
		`echo "SET LOCAL idle_in_transaction_session_timeout = '` + stallLimit + `';"; ` +
		`echo 'DROP OWNED BY CURRENT_USER;'; ` +
		produce + ` && [ "$(head -c ` + fmt.Sprint(len(commitMark)) + `)" = "` + commitMark + `" ] && printf 'COMMIT;\n\\echo %s\n' "$2" ` +
		`|| echo "DO \$\$BEGIN RAISE EXCEPTION 'the dump could not be read in full: nothing restored'; END\$\$;"; } | ` +
		`PGAPPNAME=` + restoreApp + ` psql --dbname="$1" --no-password --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --output=/dev/null`
	argv := []string{"sh", "-c", script, "restore", d.Database, committed}
	var out limited
	out.b, out.max = new(bytes.Buffer), 1<<12
	in := io.MultiReader(f, strings.NewReader(commitMark))
	if err := r.Run(ctx, login.script(argv...), in, &out, nil); err != nil {
		if ctx.Err() != nil {
			endRestoreSession(ctx, r, d.Database, login)
		}
		return fmt.Errorf("restore database %s in %s: %w", d.Database, r.Where(), err)
	}
	// psql says committed only after the COMMIT ran: a dump cut inside a
	// COPY's rows swallows the failure's RAISE as a row, and psql ends
	// without an error, and without committing.
	if !strings.Contains(out.b.String(), committed) {
		return fmt.Errorf("restore database %s in %s: the dump could not be read in full: nothing restored", d.Database, r.Where())
	}
	return nil
}

// commitMark follows the dump on the restore's stdin: the restore commits
// only after reading it.
const commitMark = "pach-upgrade:commit"

// committed is what psql prints once the restore's COMMIT succeeded.
const committed = "pach-upgrade:committed"

// stallLimit is how long the server keeps a restore's transaction open
// while no SQL arrives: a stream that stops without closing (an exec
// server that never ends stdin) must not hold the database's locks for
// ever. pg_restore writes a dump's SQL far faster than this.
const stallLimit = "5min"

// restoreApp names the restore's session on the server (application_name).
const restoreApp = "pach-upgrade-restore"

// endRestoreSession ends, on the server, the session of a restore whose
// exec was cancelled: an exec's command can outlive its stream (Kubernetes
// does not kill it when the client goes), and its open transaction would
// hold the database's locks until stallLimit. Ended, the transaction rolls
// back. Best effort, and bounded: the run is on its way out.
func endRestoreSession(ctx context.Context, r Runner, db string, login Login) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	sql := "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '" + restoreApp +
		"' AND datname = '" + strings.ReplaceAll(db, "'", "''") + "' AND usename = current_user"
	argv := []string{"psql", "--dbname=" + db, "--no-password", "--no-psqlrc", "--tuples-only", "--command=" + sql}
	_ = r.Run(ctx, login.script(argv...), nil, io.Discard, nil)
}
