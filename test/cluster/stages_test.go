package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func kwokConfig(t *testing.T, ready readyDelay) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kwok.yaml")
	if err := writeKwokConfig(path, ready); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestKwokConfigReadyAtOnceByDefault(t *testing.T) {
	cfg := kwokConfig(t, readyDelay{})
	if !strings.Contains(cfg, "\n  name: pod-ready\n") {
		t.Error("default config has no pod-ready stage")
	}
	if strings.Contains(cfg, "pach-upgrade-pod-start") || strings.Contains(cfg, "pach-upgrade-pod-ready-after") {
		t.Error("default config has the delayed-ready stages")
	}
}

func TestKwokConfigDelayedReady(t *testing.T) {
	cfg := kwokConfig(t, readyDelay{min: 3 * time.Second, max: 10 * time.Second})
	if strings.Contains(cfg, "\n  name: pod-ready\n") {
		t.Error("delayed config still has the pod-ready stage, which makes pods Ready at once")
	}
	for _, want := range []string{"name: pach-upgrade-pod-start", "name: pach-upgrade-pod-ready-after",
		"durationMilliseconds: 3000\n", "jitterDurationMilliseconds: 10000\n", "name: pach-upgrade-pod-crash-loop"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("delayed config lacks %q", want)
		}
	}
	if strings.Contains(cfg, "POD_READY_") {
		t.Error("delayed config has a placeholder left")
	}
}

// The start stage takes over pod-ready's job: it must leave the same pods alone (the failure
// injections, pachd held by its start gate), or a failure test would see a healthy pod.
func TestPodStartSelectsAsPodReady(t *testing.T) {
	selector := func(name string) string {
		b, err := stagesFS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		s = s[strings.Index(s, "matchExpressions:"):strings.Index(s, "  next:")]
		return regexp.MustCompile(`(?m)^\s*#.*\n`).ReplaceAllString(s, "")
	}
	if a, b := selector("stages/pod-ready.yaml"), selector("stages/delayed-ready/pod-start.yaml"); a != b {
		t.Errorf("pod-start's selector differs from pod-ready's:\n%s\nvs\n%s", b, a)
	}
	after := selector("stages/delayed-ready/pod-ready-after.yaml")
	for _, a := range []string{"never-ready", "crash-loop", "image-pull-backoff"} {
		if !strings.Contains(after, `annotations["pach-upgrade.test/`+a+`"]`) {
			t.Errorf("pod-ready-after does not leave pods annotated %s alone", a)
		}
	}
}

func TestReadyDelayFlag(t *testing.T) {
	for in, want := range map[string]readyDelay{
		"3s-10s": {3 * time.Second, 10 * time.Second}, "5s": {5 * time.Second, 5 * time.Second}, "": {},
	} {
		var d readyDelay
		if err := d.Set(in); err != nil || d != want {
			t.Errorf("Set(%q) = %v, %v; want %v", in, d, err, want)
		}
		if in != "" {
			var again readyDelay
			if err := again.Set(d.String()); err != nil || again != d {
				t.Errorf("Set(String()) of %v = %v, %v", d, again, err)
			}
		}
	}
	for _, bad := range []string{"10s-3s", "3-10", "0s", "x"} {
		var d readyDelay
		if err := d.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted: %v", bad, d)
		}
	}
}
