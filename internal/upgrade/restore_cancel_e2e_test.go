package upgrade

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/actionrun"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/postgres"
)

// nthWriter calls fire once, when the n-th line containing after is written.
type nthWriter struct {
	after string
	n     int
	fire  func()
	mu    sync.Mutex
	buf   bytes.Buffer
	seen  int
}

func (w *nthWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil { // a partial line waits for its end
			w.buf.Reset()
			w.buf.WriteString(line)
			return len(p), nil
		}
		if strings.Contains(line, w.after) {
			if w.seen++; w.seen == w.n {
				w.fire()
			}
		}
	}
}

func (w *nthWriter) fired() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen >= w.n
}

// pachydermState is what a half restore would break in database
// pachyderm: its big table's rows, the sentinel, and the stand-in pachd's
// one table per migration matching the migrations table.
func pachydermState(t *testing.T, srv *postgres.Server) string {
	t.Helper()
	var rows, migrations, tables int
	var sentinel string
	err := srv.Open(t, "pachyderm").QueryRow(`SELECT (SELECT count(*) FROM bulk), (SELECT string_agg(v, ',') FROM sentinel),
		(SELECT count(*) FROM migrations), (SELECT count(*) FROM pg_tables WHERE tablename LIKE 'standin_migration_%')`).
		Scan(&rows, &sentinel, &migrations, &tables)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("bulk %d, sentinel %s, %d migrations with %d tables", rows, sentinel, migrations, tables)
}

// noRestoreSession checks that no restore's session is left on the server.
func noRestoreSession(t *testing.T, srv *postgres.Server) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var n int
		if err := srv.Open(t, "postgres").QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pach-upgrade-restore'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d restore session(s) still open after the cancel", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// SIGINT, as the Actions runner sends it, while the run restores the
// dump after a failed upgrade that added migrations; then SIGINT while
// `pach-upgrade restore`, the command the report names, restores; then
// that command run to its end. Each cancel leaves no database half
// restored and no session open, gives pachd its replicas back, and says
// which command to run; the last run recovers the release.
func TestSIGINTDuringTheRestores(t *testing.T) {
	t.Parallel()
	s, srv := databaseScenario(t, migratingPatch)
	bulk(t, srv)
	before := pachydermState(t, srv)
	// The failed upgrade's pachd adds two migrations, and adds them again
	// to a restored database when it gets its replicas back.
	migrated := strings.Replace(before, "21 migrations with 21 tables", "23 migrations with 23 tables", 1)
	if migrated == before {
		t.Fatalf("database pachyderm before the run: %s, want 21 migrations", before)
	}
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := "KUBECONFIG=" + testenv.Kubeconfig(t)

	// 1. The run: the dump quiesces first, the restore second.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &nthWriter{after: "quiesced: ", n: 2, fire: cancel}
	runner := actionrun.Runner{Binary: bin, Dir: t.TempDir(), Repository: "acme/platform",
		APIURL: s.w.GitHub.APIURL, ServerURL: s.w.GitHub.ServerURL, Env: []string{kubeconfig},
		Cancel: actionrun.RunnerCancel, Output: out}
	inputs := s.w.Inputs()
	inputs[config.InputRelease] = releaseName
	inputs[config.InputGitHubToken] = "test-token"
	inputs[config.InputTargetVersion] = "2.11.6"
	inputs[config.InputTimeout] = "30s"
	inputs[config.InputComment] = "false"
	inputs[config.InputDatabaseBackup] = "true"
	inputs[config.InputValues] = "console:\n  podAnnotations:\n    " + testenv.AnnotationNeverReady + ": \"true\"\n"
	res, err := runner.Run(ctx, inputs)
	if err != nil {
		t.Fatal(err)
	}
	if !out.fired() || len(res.Signals) != 1 {
		t.Fatalf("the run was not interrupted during its restore alone (signals %v):\n%s", res.Signals, res.Log)
	}
	if got := res.Outputs["result"]; got != "cancelled" || res.ExitCode != 1 {
		t.Fatalf("result %q, exit %d; want cancelled, 1:\n%s", got, res.ExitCode, res.Log)
	}
	snapshot := res.Outputs["backup-path"]
	if snapshot == "" || !strings.HasSuffix(snapshot, ".json") {
		t.Fatalf("backup-path output = %q, want the snapshot", snapshot)
	}
	restore := "pach-upgrade restore --snapshot " + snapshot + " --release " + releaseName + " --namespace " + s.ns
	for _, want := range []string{"Cancelled", "the database restore was stopped", "never half",
		"pachd and the pipeline workers given back their replicas", "do not use recover-pending", restore} {
		if !strings.Contains(res.Summary, want) {
			t.Errorf("job summary lacks %q:\n%s", want, res.Summary)
		}
	}
	noRestoreSession(t, srv)
	if got := pachydermState(t, srv); got != migrated {
		t.Errorf("database pachyderm after the cancelled restore: %s, want %s", got, migrated)
	}
	s.wantGivenBack()
	if rel := s.latest(); rel.AppVersion != "2.11.6" {
		t.Fatalf("the chart moved during the cancelled restore: revision %d %s %s", rel.Revision, rel.Status, rel.AppVersion)
	} else if !rel.Left() {
		// Not pending-upgrade: recover-pending would roll back to a pachd that refuses the database.
		t.Errorf("revision %d is %s (%q), want failed and marked left", rel.Revision, rel.Status, rel.Description)
	}
	revision := s.latest().Revision

	// 2. The command the report names, interrupted in its restore.
	args := strings.Fields(restore)[1:]
	args = append(args, "--timeout", "2m")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), kubeconfig)
	w := &nthWriter{after: "quiesced: ", n: 1, fire: func() { cmd.Process.Signal(os.Interrupt) }}
	// The command logs to stderr; its error is the last line there.
	cmd.Stdout, cmd.Stderr = &stdout, &lockedTee{w: w, b: &stderr}
	err = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); !w.fired() || code != 1 {
		t.Fatalf("restore: signalled %t, exit %d (%v):\n%s\n%s", w.fired(), code, err, stdout.String(), stderr.String())
	}
	for _, want := range []string{"restore cancelled", "never half", "unchanged at revision", "Run the same command again", snapshot} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("restore's error lacks %q:\n%s", want, stderr.String())
		}
	}
	noRestoreSession(t, srv)
	if got := pachydermState(t, srv); got != migrated {
		t.Errorf("database pachyderm after the cancelled restore command: %s, want %s", got, migrated)
	}
	s.wantGivenBack()
	if rel := s.latest(); rel.Revision != revision {
		t.Errorf("the cancelled restore command moved the release to revision %d", rel.Revision)
	}

	// 3. The same command again, to its end.
	cmd = exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), kubeconfig)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restore again: %v\n%s", err, b)
	}
	if n := migrationCount(t, srv); n != 21 {
		t.Errorf("migrations after the restore = %d, want 21", n)
	}
	if got := pachydermState(t, srv); got != before {
		t.Errorf("database pachyderm after the restore: %s, want %s", got, before)
	}
	if rel := s.latest(); rel.AppVersion != "2.11.5" || rel.Status != "deployed" {
		t.Errorf("after the restore the release is revision %d %s %s, want 2.11.5 deployed", rel.Revision, rel.Status, rel.AppVersion)
	}
	s.wantGivenBack()
}

// lockedTee writes to w and b.
type lockedTee struct {
	w  *nthWriter
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedTee) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.b.Write(p)
	l.mu.Unlock()
	return l.w.Write(p)
}
