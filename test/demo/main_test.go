package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestDemo runs the README's demo against the test cluster and checks what it shows.
func TestDemo(t *testing.T) {
	testenv.Kubeconfig(t) // fails under CI, skips elsewhere, when there is no cluster
	var out, progress bytes.Buffer
	result, err := run(t.Context(), &out, &progress)
	if err != nil {
		t.Fatalf("demo: %v\nprogress:\n%s\noutput:\n%s", err, progress.String(), out.String())
	}
	if result != "upgraded" {
		t.Fatalf("result = %q, want upgraded\n%s", result, out.String())
	}
	text := out.String()
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
	if strings.Contains(text, "New minor release; not picked by latest-patch.") {
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
	if strings.Contains(text, "insecure-user-password") {
		t.Error("the demo output shows the built-in PostgreSQL password")
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
