package report

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/pach-upgrade/pach-upgrade/internal/changelog"
	"github.com/pach-upgrade/pach-upgrade/internal/github"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func link(v string) string {
	return "https://github.com/pachyderm/pachyderm/releases/tag/v" + v
}

func upgraded() *Report {
	return &Report{
		Release: "pachd", Namespace: "staging", Result: ResultUpgraded, Mode: "apply",
		FromVersion: "2.11.4", ToVersion: "2.11.6", FromChart: "2.11.4", ToChart: "2.11.6",
		Steps: []Step{
			{Name: "Check versions", Duration: 120 * time.Millisecond, Outcome: OutcomeOK, Detail: "patch upgrade 2.11.4 → 2.11.6"},
			{Name: "Backup", Duration: 2300 * time.Millisecond, Outcome: OutcomeOK, Detail: "release snapshot and backup command"},
			{Name: "Helm values", Duration: 300 * time.Millisecond, Outcome: OutcomeOK, Detail: "PostgreSQL password carried over"},
			{Name: "Install pachctl", Duration: 4 * time.Second, Outcome: OutcomeOK, Detail: "cache hit"},
			{Name: "Helm upgrade", Duration: 95 * time.Second, Outcome: OutcomeOK, Detail: "revision 4"},
			{Name: "Verify versions", Duration: 1500 * time.Millisecond, Outcome: OutcomeOK},
			{Name: "PR comment", Outcome: OutcomeSkipped, Detail: "not a pull request | push event"},
		},
		Pods: []Pod{
			{Name: "pachd-6c9d8f7b5-x2x9q", Ready: "1/1", Status: "Running", Restarts: 0, ImageTag: "2.11.6", Age: 95 * time.Second},
			{Name: "etcd-0", Ready: "1/1", Status: "Running", Restarts: 1, ImageTag: "v3.5.1", Age: 3 * time.Hour},
			{Name: "postgres-0", Ready: "1/1", Status: "Running", ImageTag: "13.3.0", Age: 50 * time.Hour},
			{Name: "pg-bouncer-7d8f9c6b4-k2l7m", Ready: "1/1", Status: "Running", ImageTag: "1.16.1", Age: 40 * time.Minute},
			{Name: "console-5f6d7c8b9-p9q8r", Ready: "1/1", Status: "Running", ImageTag: "2.11.6", Age: 90 * time.Second},
		},
		Versions: []ComponentVersion{
			{Component: "pachctl", Version: "2.11.6", Want: "2.11.6"},
			{Component: "pachd", Version: "2.11.6", Want: "2.11.6"},
			{Component: "deployment/pachd image", Version: "2.11.6"},
			{Component: "deployment/console image", Version: "2.11.6"},
		},
		Notes: []changelog.Note{
			{Version: semver.MustParse("2.11.6"), Origin: changelog.OriginRelease, Body: "## What's Changed\n* Fix pipeline restarts\n\n### Console\n* Faster DAG", URL: link("2.11.6")},
			{Version: semver.MustParse("2.11.5"), Origin: changelog.OriginNone, URL: link("2.11.5")},
		},
		BackupPath: "pach-upgrade-backup/staging-pachd-rev3.yaml",
		RunURL:     "https://github.com/acme/platform/actions/runs/123456789",
	}
}

func rolledBack() *Report {
	r := upgraded()
	r.Result = ResultRolledBack
	r.Steps[4] = Step{Name: "Helm upgrade", Duration: 10 * time.Minute, Outcome: OutcomeFailed, Detail: "pod pachd-7f8e9d-abcde: CrashLoopBackOff"}
	r.Steps = append(r.Steps[:5], Step{Name: "Rollback", Duration: 40 * time.Second, Outcome: OutcomeOK, Detail: "to revision 3"})
	r.Failure = "pod pachd-7f8e9d-abcde not Ready after 10m0s: CrashLoopBackOff (restarts 6)\nlast log: panic: cannot connect to postgres"
	r.RolledBack = &Rollback{Revision: 3, Version: "2.11.4"}
	r.Pods[0] = Pod{Name: "pachd-5b4c3d2e1-q1w2e", Ready: "1/1", Status: "Running", ImageTag: "2.11.4", Age: 30 * time.Second}
	r.Versions = []ComponentVersion{{Component: "pachctl", Version: "2.11.6", Want: "2.11.6"}, {Component: "pachd", Version: "2.11.4", Want: "2.11.6"}}
	r.Warnings = []string{"Helm release reports 2.11.4 but the pachd image is 2.11.3"}
	return r
}

func rollbackFailed() *Report {
	r := rolledBack()
	r.Result = ResultFailed
	r.Steps[5] = Step{Name: "Roll back", Duration: 10 * time.Minute, Outcome: OutcomeFailed,
		Detail: "revision 3 did not become Ready after the rollback: not ready after 10m0s: deployment/pachd: 0 of 1 updated replicas available"}
	r.RolledBack = &Rollback{Revision: 3, Version: "2.11.4", Err: r.Steps[5].Detail}
	r.Pods[0] = Pod{Name: "pachd-5b4c3d2e1-q1w2e", Ready: "0/1", Status: "Running", ImageTag: "2.11.4", Age: 10 * time.Minute}
	return r
}

func planned() *Report {
	r := upgraded()
	r.Result, r.Mode = ResultPlanned, "plan"
	r.Steps = r.Steps[:3]
	r.Pods, r.Versions, r.BackupPath = nil, nil, ""
	r.Plan = &Plan{
		ValuesDiff: "  global:\n    postgresql:\n-     postgresqlPassword: (redacted)\n+     postgresqlPassword: (redacted)\n",
		ManifestDiff: "--- deployment/pachd\n+++ deployment/pachd\n@@ spec.template.spec.containers[0].image @@\n-        image: pachyderm/pachd:2.11.4\n" +
			"+        image: pachyderm/pachd:2.11.6\n   # a ``` fence inside a comment in the chart\n",
	}
	r.Generated = []GeneratedField{
		{Object: "Secret/pachyderm-deployment-id-secret", Path: "data.CLUSTER_DEPLOYMENT_ID", Carried: true, How: "values", ValuesKey: "pachd.clusterDeploymentID"},
		{Object: "Deployment/pachw", Path: "spec.template.spec.containers[name=pachd].env[name=STORAGE_HOST_PATH].value", Carried: true,
			How: "post-renderer", Note: "pachd.storage.local.hostPath sets 4 fields whose live values differ"},
		{Object: "ConfigMap/scratch", Path: "data.path", How: "regenerated", Note: "accepted by the regenerate input"},
	}
	r.NotesWarning = "GET contents: rate-limited (HTTP 403)"
	return r
}

func failedFirstRun() *Report {
	return &Report{
		Release: "pachd", Namespace: "prod", Result: ResultFailed, Mode: "apply",
		FromVersion: "2.11.6", ToVersion: "3.0.0",
		Steps:   []Step{{Name: "Check versions", Duration: 10 * time.Millisecond, Outcome: OutcomeFailed, Detail: "major upgrade refused"}},
		Failure: "refusing a major upgrade 2.11.6 → 3.0.0: it may corrupt data; nothing was changed",
		RunURL:  "https://github.com/acme/platform/actions/runs/1/attempts/2",
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file; rerun with -update if intended.\n--- got ---\n%s", name, got)
	}
}

func TestGolden(t *testing.T) {
	for name, r := range map[string]*Report{
		"upgraded": upgraded(), "rolled-back": rolledBack(), "planned": planned(), "failed": failedFirstRun(),
		"rollback-failed": rollbackFailed(),
	} {
		t.Run(name, func(t *testing.T) {
			golden(t, name+".summary.md", Summary(r))
			golden(t, name+".comment.md", Comment(r))
		})
	}
}

func TestCommentStartsWithMarker(t *testing.T) {
	r := upgraded()
	c := Comment(r)
	if want := github.Marker("staging", "pachd"); !strings.HasPrefix(c, want+"\n") {
		t.Fatalf("comment starts %q, want %q", c[:40], want)
	}
	if strings.Contains(Summary(r), "<!-- pach-upgrade") {
		t.Error("summary carries the comment marker")
	}
}

func TestBothRenderingsShowTheEssentials(t *testing.T) {
	r := rolledBack()
	for name, out := range map[string]string{"summary": Summary(r), "comment": Comment(r)} {
		for _, want := range []string{
			"↩️", "2.11.4", "2.11.6", "pachd-5b4c3d2e1-q1w2e", "| pachd | 2.11.4 | 2.11.6 | ❌ |",
			"CrashLoopBackOff", "Rolled back** to revision 3", r.RunURL, "Helm upgrade", "10m0s",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
	}
}

func TestTableCellsAreEscaped(t *testing.T) {
	r := upgraded()
	r.Steps = []Step{{Name: "x", Outcome: OutcomeFailed, Detail: "a | b\n<script>alert(1)</script>"}}
	s := Summary(r)
	if strings.Contains(s, "<script>") || !strings.Contains(s, `a \| b<br>&lt;script&gt;`) {
		t.Fatalf("cell not escaped:\n%s", s)
	}
}

func TestCommentFitsGitHubLimit(t *testing.T) {
	r := planned()
	r.Plan.ManifestDiff = strings.Repeat("+  a: very long line of manifest diff\n", 5000)
	r.Plan.ValuesDiff = strings.Repeat("+  b: values\n", 5000)
	for i := 0; i < 500; i++ {
		r.Pods = append(r.Pods, Pod{Name: "worker-" + strings.Repeat("x", 40), Ready: "1/1", Status: "Running"})
	}
	for i := 0; i < 300; i++ {
		r.Steps = append(r.Steps, Step{Name: "step", Detail: strings.Repeat("detail ", 30), Outcome: OutcomeOK})
	}
	c := Comment(r)
	if len(c) > 65536 {
		t.Fatalf("comment is %d characters, over GitHub's limit", len(c))
	}
	if strings.Count(c, "<details") != strings.Count(c, "</details>") {
		t.Error("unbalanced details after cutting")
	}
	if !strings.Contains(c, "more pods") {
		t.Error("pods table not capped")
	}
	s := Summary(r)
	if !strings.Contains(s, strings.Repeat("+  a: very long line of manifest diff\n", 100)) {
		t.Error("summary lost the diff")
	}
}

func TestRunURL(t *testing.T) {
	env := map[string]string{"GITHUB_SERVER_URL": "https://ghes.example.com/", "GITHUB_REPOSITORY": "acme/platform", "GITHUB_RUN_ID": "42"}
	get := func(k string) string { return env[k] }
	if got := RunURL(get); got != "https://ghes.example.com/acme/platform/actions/runs/42" {
		t.Errorf("RunURL = %s", got)
	}
	env["GITHUB_RUN_ATTEMPT"] = "3"
	if got := RunURL(get); !strings.HasSuffix(got, "/runs/42/attempts/3") {
		t.Errorf("RunURL = %s", got)
	}
	if got := RunURL(func(string) string { return "" }); got != "" {
		t.Errorf("RunURL outside Actions = %s", got)
	}
}

func TestResultIcons(t *testing.T) {
	seen := map[string]Result{}
	for _, r := range []Result{ResultUpgraded, ResultNoOp, ResultPlanned, ResultRolledBack, ResultFailed} {
		if prev, dup := seen[r.Icon()]; dup {
			t.Errorf("%s and %s share icon %s", r, prev, r.Icon())
		}
		seen[r.Icon()] = r
	}
}
