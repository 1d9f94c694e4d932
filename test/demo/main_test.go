package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestDemo runs the README's demo against the test cluster and checks what it shows: part 1's
// patch upgrade, then part 2's failed minor upgrade recovered from the database dump.
func TestDemo(t *testing.T) {
	testenv.Kubeconfig(t) // fails under CI, skips elsewhere, when there is no cluster
	var out, progress bytes.Buffer
	res, err := run(t.Context(), &out, &progress)
	if err != nil {
		t.Fatalf("demo: %v\nprogress:\n%s\noutput:\n%s", err, progress.String(), out.String())
	}
	if res.Upgrade != "upgraded" {
		t.Fatalf("result = %q, want upgraded\n%s", res.Upgrade, out.String())
	}
	text, part2, _ := strings.Cut(out.String(), "Part 2: a failed minor upgrade")
	for _, want := range []string{
		"previous-version=2.11.5",
		"target-version=2.11.6",
		"chart-version=7.11.6",
		"Fix pg-bouncer readiness during rolling upgrades.", // the CHANGELOG note for 2.11.6
		"PR #42 comments (1)",
		"backing up pachd in pachyderm-demo-",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	// latest-patch with allow-minor false must not reach 2.12.0, nor show its notes.
	if strings.Contains(text, "New minor release: pachd adds three schema migrations") {
		t.Error("demo output shows the notes of 2.12.0, outside (2.11.5, 2.11.6]")
	}
	summary := text[strings.Index(text, "Job summary"):]
	comment := text[strings.Index(text, "PR #42 comments"):]
	for name, part := range map[string]string{"summary": summary, "comment": comment} {
		for _, want := range []string{"2.11.5", "2.11.6", "pachd"} {
			if !strings.Contains(part, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
	}
	if strings.Contains(out.String(), "insecure-user-password") {
		t.Error("the demo output shows the built-in PostgreSQL password")
	}

	if res.Recovery == nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("part 2 did not run under CI: %s", res.SkipReason)
		}
		if !strings.Contains(progress.String(), "Skipping part 2") {
			t.Errorf("the demo skipped part 2 without saying so:\n%s", progress.String())
		}
		t.Skip(res.SkipReason)
	}
	rec := res.Recovery
	if rec.Result != "rolled-back" || !rec.Restored {
		t.Errorf("part 2: result %q, restore step done %t; want rolled-back after a restore\n%s", rec.Result, rec.Restored, part2)
	}
	// 2.11's 21 migrations before; 2.12.0's pachd added three, the restore took them away.
	if rec.MigrationsBefore != 21 || rec.MigrationsAfter != rec.MigrationsBefore {
		t.Errorf("part 2: migrations %d before, %d after; want 21 both", rec.MigrationsBefore, rec.MigrationsAfter)
	}
	if rec.Revision != 3 || rec.Status != "deployed" || rec.AppVersion != "2.11.6" || !rec.PachdReady {
		t.Errorf("part 2: release revision %d %s at %s, pods Ready %t; want revision 3 deployed at 2.11.6, Ready",
			rec.Revision, rec.Status, rec.AppVersion, rec.PachdReady)
	}
	for _, want := range []string{
		"result=rolled-back",
		"target-version=2.12.0",
		"CrashLoopBackOff",
		"New minor release: pachd adds three schema migrations", // 2.12.0's notes, in (2.11.6, 2.12.0]
		"24 migrations", // what the new pachd left, as the action read it
		"schema migrations were added: databases restored from this run's dump, then chart rolled back",
		"pachd schema migrations: 21 before the run, 21 after",
	} {
		if !strings.Contains(part2, want) {
			t.Errorf("part 2's output lacks %q", want)
		}
	}
}

func TestAsRunnerShowsMasksAndHidesMaskCommands(t *testing.T) {
	raw := "::add-mask::s3cret\nstart\nusing s3cret here\n::add-mask::\n::group::x\ndone\n"
	got := asRunnerShows(raw)
	want := "start\nusing *** here\n::group::x\ndone\n"
	if got != want {
		t.Errorf("asRunnerShows = %q, want %q", got, want)
	}
}
