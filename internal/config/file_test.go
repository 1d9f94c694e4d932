package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// parseWithin runs Parse and fails the test when it does not return within
// a few seconds: a FIFO once hung it forever.
func parseWithin(t *testing.T, ctx context.Context, raw map[string]string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := ParseContext(ctx, raw)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("Parse(%q) still reading after 10s", raw)
		return nil
	}
}

// TestValuesFileOnlyRegularAndSmall: what a hostile or careless user might
// pass as values-file is refused quickly, naming the input, without reading
// it whole.
func TestValuesFileOnlyRegularAndSmall(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: no disk used, but 64 MiB long.
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cases := []struct{ name, path, problem string }{
		{"device", "/dev/zero", "not a regular file (a device)"},
		{"FIFO", fifo, "not a regular file (a FIFO)"},
		{"directory", dir, "not a regular file (a directory)"},
		{"too large", big, "larger than 4 MiB"},
		{"missing", filepath.Join(dir, "nope.yaml"), "does not exist"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := parseWithin(t, context.Background(), map[string]string{InputTargetVersion: "2.11.6", InputValuesFile: tc.path})
			var errs InputErrors
			if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Input != InputValuesFile {
				t.Fatalf("want one values-file input error, got %v", err)
			}
			if !strings.Contains(errs[0].Problem, tc.problem) {
				t.Errorf("problem = %q, want it to say %q", errs[0].Problem, tc.problem)
			}
		})
	}
}

// TestReadFileStopsOnCancel: a signal (a cancelled context) stops the
// reading of an input file.
func TestReadFileStopsOnCancel(t *testing.T) {
	f := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(f, []byte("a: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(context.Background(), InputValuesFile, f); err != nil || string(b) != "a: 1\n" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ReadFile(ctx, InputValuesFile, f)
	var ie *InputError
	if !errors.As(err, &ie) || ie.Input != InputValuesFile || !strings.Contains(ie.Problem, "interrupted") {
		t.Errorf("ReadFile with a cancelled context = %v, want an interrupted values-file error", err)
	}
}

func TestLocalChartMustBeDirOrFile(t *testing.T) {
	err := parseWithin(t, context.Background(), map[string]string{InputTargetVersion: "2.11.6", InputChart: "/dev/zero"})
	var errs InputErrors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Input != InputChart {
		t.Fatalf("chart=/dev/zero: want one chart input error, got %v", err)
	}
}
