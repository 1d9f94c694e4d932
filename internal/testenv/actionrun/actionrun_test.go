package actionrun

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadOutputs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	content := "result=upgraded\nnotes<<ghadelimiter_1\nline one\nline=two\nghadelimiter_1\nbackup-path=/tmp/x=y\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadOutputs(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"result": "upgraded", "notes": "line one\nline=two", "backup-path": "/tmp/x=y"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("output %s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("outputs = %v", got)
	}
}

// TestRunBadInput runs the real binary as an Actions step: a bad input must
// exit 2 naming the input, with result=failed and no summary written.
func TestRunBadInput(t *testing.T) {
	dir := t.TempDir()
	bin, err := Build(context.Background(), "../../..", dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Runner{Binary: bin, Dir: dir, Repository: "org/repo", PullRequest: 7}.Run(context.Background(),
		map[string]string{"target-version": "3.0", "namespace": "Bad_NS"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 2 {
		t.Errorf("exit code = %d, want 2; log:\n%s", res.ExitCode, res.Log)
	}
	for _, in := range []string{`"target-version"`, `"namespace"`} {
		if !strings.Contains(res.Log, in) {
			t.Errorf("log does not name input %s:\n%s", in, res.Log)
		}
	}
	if res.Summary != "" {
		t.Errorf("bad input wrote a summary %q", res.Summary)
	}
	if len(res.Outputs) != 1 || res.Outputs["result"] != "failed" {
		t.Errorf("outputs = %v, want only result=failed", res.Outputs)
	}
	// The figures the benchmarks read: the process printed, so its first line came after its
	// start and before its exit, and it held some memory.
	if res.FirstLine <= 0 || res.FirstLine > res.Wall {
		t.Errorf("first line after %s of a %s run", res.FirstLine, res.Wall)
	}
	if res.MaxRSS < 1<<20 {
		t.Errorf("peak RSS %d bytes, want the child's rusage (at least 1 MiB)", res.MaxRSS)
	}
}
