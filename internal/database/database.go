// Package database backs up, restores and inspects Pachyderm's PostgreSQL
// databases (`pachyderm` and `dex`) with PostgreSQL's own client tools
// (pg_dump, pg_restore, psql), run where they are: in the built-in
// `postgres` pod, through a Kubernetes exec. Dumps stream from the tool's
// stdout to a file and back from the file to the tool's stdin; no dump is
// ever held in memory. It knows nothing of GitHub or Helm.
package database

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
)

// Databases are Pachyderm's two: metadata and identity.
var Databases = []string{"pachyderm", "dex"}

// Runner runs one command where PostgreSQL's client tools are, streaming
// stdin (nil for none) to it and its output to stdout and stderr.
type Runner interface {
	Run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error
	// Where names the place, for messages ("pod pach/postgres-0").
	Where() string
}

// Pod runs the tools in a container of a pod through the Kubernetes exec
// API: the built-in PostgreSQL's pod has them, at the server's version.
type Pod struct {
	Cluster        *cluster.Client
	Namespace, Pod string
	Container      string // empty: the pod's only or default container
}

func (p Pod) Run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return p.Cluster.Exec(ctx, p.Namespace, p.Pod, p.Container, argv, stdin, stdout, stderr)
}

func (p Pod) Where() string { return "pod " + p.Namespace + "/" + p.Pod }

// Local runs the tools on this machine, with Env added to this process's
// environment: the benchmark's baseline, and the tests' way to reach a
// PostgreSQL server without a cluster.
type Local struct{ Env []string }

func (l Local) Run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), l.Env...)
	cmd.Stdin, cmd.Stdout = stdin, stdout
	tail := &tail{max: 4096}
	cmd.Stderr = tail
	if stderr != nil {
		cmd.Stderr = io.MultiWriter(stderr, tail)
	}
	// The tools run in their own process group, and a cancel stops the
	// whole group: a shell's pipeline (head | pg_restore, psql) would
	// otherwise outlive the shell and finish what was cancelled.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		if s := strings.TrimSpace(tail.String()); s != "" {
			return fmt.Errorf("%s: %w: %s", argv[0], err, s)
		}
		return fmt.Errorf("%s: %w", argv[0], err)
	}
	return nil
}

func (Local) Where() string { return "this machine" }

// Login is how the tools reach the server from where they run. The password
// is never put on a command line (an exec's command is in the API server's
// audit log): in the pod it comes from the container's own environment,
// where the chart already put it.
type Login struct {
	// User is the database user; empty means "pachyderm", the chart's
	// global.postgresql.postgresqlUsername default.
	User string
}

// script wraps argv so that it runs with the connection taken from the
// environment where it runs: PGHOST and PGPORT when set, else the server
// on 127.0.0.1:5432 beside it (TCP, so that password authentication
// applies); PGPASSWORD when set, else the Bitnami image's POSTGRES_PASSWORD
// or POSTGRESQL_PASSWORD.
func (l Login) script(argv ...string) []string {
	user := l.User
	if user == "" {
		user = "pachyderm"
	}
	const sh = `: "${PGHOST:=127.0.0.1}" "${PGPORT:=5432}"; ` +
		`[ -n "${PGPASSWORD:-}" ] || PGPASSWORD="${POSTGRES_PASSWORD:-${POSTGRESQL_PASSWORD:-}}"; ` +
		`[ -n "$PGPASSWORD" ] || unset PGPASSWORD; ` +
		`export PGHOST PGPORT PGUSER="$1" PGPASSWORD; shift; exec "$@"`
	return append([]string{"sh", "-c", sh, "pach-upgrade", user}, argv...)
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.b) }
