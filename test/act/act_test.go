// Package act_test runs the workflows in examples/ under nektos/act, a real
// GitHub Actions client that nobody on this project wrote, on the offline
// podman engine that the container test uses (internal/testenv/containertest),
// against local control planes and the project's stand-ins. See README.md
// for where act differs from GitHub's runner.
package act_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/helmrelease"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/chartrepo"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/containertest"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

// actVersion is the nektos/act release the test builds, as a Go module.
const actVersion = "v0.2.89"

// actionImage is the name act gives the image of `uses:
// pach-upgrade/pach-upgrade@v1` (a Dockerfile action) and, with
// --rebuild=false, looks up before building: the project's image, built by
// containertest with local bases, is tagged so.
const actionImage = "act-pach-upgrade-pach-upgrade-v1-dockeraction:latest"

var charts = []chartrepo.Chart{
	{Version: "7.11.5", AppVersion: "2.11.5"},
	{Version: "7.11.6", AppVersion: "2.11.6"},
}

const changelog = "# Changelog\n\n## 2.11.6\n* Fix pg-bouncer readiness.\n\n## 2.11.5\n* Older fix.\n"

// release and namespace are what the examples upgrade.
const (
	release   = "pachd"
	namespace = "pachyderm"
)

// buildAct installs act into a folder of the user cache owned by this test
// (reused while the version stays), through the module proxy.
func buildAct(t *testing.T) string {
	t.Helper()
	// act reads the repository's revision and remote with git.
	if _, err := exec.LookPath("git"); err != nil {
		msg := "the act test needs git: " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(cache, "pach-upgrade-act", actVersion)
	act := filepath.Join(bin, "act")
	if _, err := os.Stat(act); err == nil {
		return act
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goBin, "install", "github.com/nektos/act@"+actVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOWORK=off", "GOFLAGS=")
	cmd.Dir = os.TempDir() // outside this module: act's own go.mod decides
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := fmt.Sprintf("go install github.com/nektos/act@%s: %v\n%s", actVersion, err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return act
}

// engine is podman's Docker API with the job image and the action's image.
type engine struct {
	p        *containertest.Podman
	sock     string
	jobImage string
}

func newEngine(t *testing.T) *engine {
	t.Helper()
	img := containertest.Image(t) // skips (fails under CI) without podman
	p := containertest.Require(t)
	ctx := context.Background()
	if err := p.Tag(ctx, img.ID, actionImage); err != nil {
		t.Fatal(err)
	}
	job, err := p.JobImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &engine{p: p, sock: p.Serve(t), jobImage: job}
}

// standIns are the local folders that replace remote actions (act cannot
// fetch them offline): checkout (act has copied the working tree into the
// job already), upload-artifact (act has no artifact server here), and
// create-github-app-token (no App: a token the GitHub stand-in accepts).
func standIns(t *testing.T) []string {
	t.Helper()
	actions := map[string]string{
		"actions/checkout@v4": `name: checkout stand-in
description: act has copied the working tree into the job already
inputs:
  ref: {required: false, description: ignored}
runs:
  using: composite
  steps:
    - run: echo "checkout stand-in (ref ${{ inputs.ref }})"
      shell: bash
`,
		"actions/upload-artifact@v4": `name: upload-artifact stand-in
description: names what it would upload
inputs:
  name: {required: true, description: artifact name}
  path: {required: true, description: path}
  retention-days: {required: false, description: ignored}
runs:
  using: composite
  steps:
    - run: echo "upload-artifact stand-in would upload ${{ inputs.name }} from ${{ inputs.path }}"
      shell: bash
`,
		"actions/create-github-app-token@v1": `name: create-github-app-token stand-in
description: a fixed token
inputs:
  app-id: {required: true, description: ignored}
  private-key: {required: true, description: ignored}
outputs:
  token: {description: the token, value: "${{ steps.t.outputs.token }}"}
runs:
  using: composite
  steps:
    - id: t
      run: echo "token=ghs_app_stand_in_token" >> "$GITHUB_OUTPUT"
      shell: bash
`,
	}
	var out []string
	for ref, yml := range actions {
		dir := filepath.Join(t.TempDir(), strings.NewReplacer("/", "-", "@", "-").Replace(ref))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "action.yml"), []byte(yml), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, ref+"="+dir)
	}
	return out
}

// run is one act run of one workflow.
type run struct {
	workflow string            // path under examples/
	event    string            // pull_request, push, ...
	payload  map[string]any    // the event
	files    map[string]string // repository files, relative path → content
	secrets  map[string]string
	vars     map[string]string
	env      map[string]string
}

// result is what act reported: each job's result and each step output set,
// by job ID (a matrix job's legs share it).
type result struct {
	jobs    map[string][]string          // job ID → results ("success", "failure")
	outputs map[string]map[string]string // job ID → output name → value
	started map[string]bool
	log     string
}

// actLine is one line of act's --json log.
type actLine struct {
	JobID     string `json:"jobID"`
	Msg       string `json:"msg"`
	JobResult string `json:"jobResult"`
	Name      string `json:"name"`
	Arg       string `json:"arg"`
	Command   string `json:"command"`
	Stage     string `json:"stage"`
}

func (e *engine) act(t *testing.T, actBin string, r run) result {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	repo := t.TempDir()
	if r.files == nil {
		r.files = map[string]string{}
	}
	r.files["README.md"] = "act test repository\n"
	for rel, content := range r.files {
		path := filepath.Join(repo, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "fleet"},
		// act takes GITHUB_REPOSITORY from the remote's address.
		{"remote", "add", "origin", "https://github.com/example/platform.git"}} {
		cmd := exec.Command("git", c...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", c, err, out)
		}
	}
	event, err := json.Marshal(r.payload)
	if err != nil {
		t.Fatal(err)
	}
	eventPath := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(eventPath, event, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{r.event, "--json",
		"-W", filepath.Join(root, r.workflow),
		"-e", eventPath,
		"-P", "ubuntu-latest=" + e.jobImage,
		"--pull=false", "--rebuild=false",
		"--local-repository", "pach-upgrade/pach-upgrade@v1=" + root,
		"--container-daemon-socket", "-",
		// The working tree is bound into the job: the checkout stand-in
		// copies nothing (act copies it only for a checkout it skips).
		"--bind",
	}
	for _, s := range standIns(t) {
		args = append(args, "--local-repository", s)
	}
	for k, v := range r.secrets {
		args = append(args, "-s", k+"="+v)
	}
	for k, v := range r.vars {
		args = append(args, "--var", k+"="+v)
	}
	for k, v := range r.env {
		args = append(args, "--env", k+"="+v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, actBin, args...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+e.sock)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	t.Logf("act %s %s: %s (%v)", r.event, r.workflow, time.Since(start).Round(time.Second), err)
	// act leaves the containers of failed jobs behind. It names them
	// act-<workflow name>-<job>-…: remove this workflow's only, since
	// another test may be running another workflow at the same time.
	prefix := "act-" + nonAlnum.ReplaceAllString(workflowName(t, filepath.Join(root, r.workflow)), "-") + "-"
	t.Cleanup(func() { _ = e.p.RemoveContainers(context.Background(), prefix) })
	res := result{jobs: map[string][]string{}, outputs: map[string]map[string]string{}, started: map[string]bool{}, log: stdout.String() + stderr.String()}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var l actLine
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.JobID == "" {
			continue
		}
		res.started[l.JobID] = true
		if l.JobResult != "" {
			res.jobs[l.JobID] = append(res.jobs[l.JobID], l.JobResult)
		}
		if l.Command == "set-output" {
			if res.outputs[l.JobID] == nil {
				res.outputs[l.JobID] = map[string]string{}
			}
			res.outputs[l.JobID][l.Name] = l.Arg
		}
	}
	if testing.Verbose() {
		t.Logf("act log:\n%s", res.log)
	}
	return res
}

var nonAlnum = regexp.MustCompile("[^a-zA-Z0-9]")

// workflowName is the workflow's `name:`.
func workflowName(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(l, "name: "); ok {
			return strings.Trim(strings.TrimSpace(name), `'"`)
		}
	}
	t.Fatalf("%s has no name: act names its containers after it", path)
	return ""
}

// fleetCluster is one cluster of the fleet: its own API server, with the
// release in namespace pachyderm and the world around it.
type fleetCluster struct {
	id         string
	kubeconfig string
	w          *world.World
	kube       *cluster.Client
	helm       *helmrelease.Client
}

func startCluster(t *testing.T, id string) *fleetCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	c, err := testenv.Start(ctx, io.Discard)
	if err != nil {
		msg := fmt.Sprintf("cluster %s: %v", id, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	kube, err := cluster.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	fc := &fleetCluster{id: id, kube: kube}
	w, err := world.New(ctx, world.Options{RESTConfig: rc, Namespace: namespace, Dir: t.TempDir(), Charts: charts, Changelog: changelog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	fc.w = w
	if _, err := w.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if fc.helm, err = helmrelease.New(rc, namespace); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(c.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	fc.kubeconfig = string(b)
	return fc
}

func (c *fleetCluster) install(t *testing.T, chartVersion string) {
	t.Helper()
	ctx := context.Background()
	// The namespace's default ServiceAccount comes from the controller manager.
	for i := 0; ; i++ {
		_, err := c.w.Install(ctx, release, chartVersion, map[string]any{"deployTarget": "LOCAL"})
		if err == nil {
			break
		}
		if i == 20 {
			t.Fatalf("cluster %s: install %s: %v", c.id, chartVersion, err)
		}
		time.Sleep(time.Second)
	}
	if err := c.kube.WaitReady(ctx, namespace, cluster.Selection{Release: release}, 2*time.Minute, nil); err != nil {
		t.Fatalf("cluster %s: installed release not Ready: %v", c.id, err)
	}
}

// wantRelease checks the cluster's latest revision of the release.
func (c *fleetCluster) wantRelease(t *testing.T, revision int, status, app string) {
	t.Helper()
	rel, err := c.helm.Get(context.Background(), release)
	if err != nil {
		t.Fatalf("cluster %s: %v", c.id, err)
	}
	if rel.Revision != revision || rel.Status != status || rel.AppVersion != app {
		t.Errorf("cluster %s: release is revision %d %s (app %s), want revision %d %s (app %s)",
			c.id, rel.Revision, rel.Status, rel.AppVersion, revision, status, app)
	}
}

// TestFleetRollout merges a bump of pachyderm/fleet/VERSION and runs
// examples/fleet-rollout.yml under act against four API servers: staging
// and the first wave upgrade, the second wave's cluster fails its version
// check and rolls back, the third wave never starts, and the summary job's
// table, built from the jobs' outputs, shows every outcome.
func TestFleetRollout(t *testing.T) {
	t.Parallel()
	start := time.Now()
	actBin := buildAct(t)
	e := newEngine(t)
	ids := []string{"STAGING", "PROD_EU", "PROD_US", "PROD_AP"}
	clusters := map[string]*fleetCluster{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := startCluster(t, id)
			c.install(t, "7.11.5")
			mu.Lock()
			clusters[id] = c
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() || t.Skipped() || len(clusters) != len(ids) {
		t.FailNow()
	}
	t.Logf("four clusters up with 2.11.5 in %s", time.Since(start).Round(time.Second))

	staging := clusters["STAGING"].w
	inputs := staging.Inputs()
	r := run{
		workflow: "examples/fleet-rollout.yml",
		event:    "pull_request",
		payload: map[string]any{
			"action": "closed", "number": 7,
			"pull_request": map[string]any{"number": 7, "merged": true, "merge_commit_sha": strings.Repeat("c", 40),
				"head": map[string]any{"ref": "bump"}, "base": map[string]any{"ref": "main"}},
			"repository": map[string]any{"full_name": "example/platform", "name": "platform", "owner": map[string]any{"login": "example"}},
		},
		files:   map[string]string{"pachyderm/fleet/VERSION": "2.11.6\n"},
		secrets: map[string]string{"GITHUB_TOKEN": "ghs_act_test_token"},
		vars: map[string]string{
			"PACHYDERM_CHART_REPO": inputs[config.InputChartRepo],
			"PACHCTL_DOWNLOAD_URL": inputs[config.InputPachctlDownloadURL],
			// The world's postgres-0 has no database behind its exec.
			"PACH_UPGRADE_DATABASE_BACKUP": inputs[config.InputDatabaseBackup],
		},
		env: map[string]string{"GITHUB_API_URL": staging.GitHub.APIURL, "GITHUB_SERVER_URL": staging.GitHub.ServerURL},
	}
	for _, id := range ids {
		r.secrets["KUBECONFIG_"+id] = clusters[id].kubeconfig
		r.vars["PACHD_ADDRESS_"+id] = clusters[id].w.Pachd.Address
	}
	// The second wave's pachd-address reaches a pachd that stays on 2.11.5
	// (the third wave's, which never upgrades): its rollout succeeds, its
	// version check fails, and it rolls back.
	r.vars["PACHD_ADDRESS_PROD_US"] = clusters["PROD_AP"].w.Pachd.Address

	res := e.act(t, actBin, r)
	t.Logf("jobs: %v", res.jobs)
	want := map[string]string{"version": "success", "plan": "success", "staging": "success", "wave-1": "success", "wave-2": "failure", "summary": "success"}
	for job, result := range want {
		got := res.jobs[job]
		if len(got) == 0 {
			t.Errorf("job %s: no result, want %s", job, result)
			continue
		}
		for _, g := range got {
			if g != result {
				t.Errorf("job %s: results %v, want %s", job, got, result)
				break
			}
		}
	}
	if len(res.jobs["plan"]) != len(ids) {
		t.Errorf("plan: %d legs finished, want one per cluster (%d)", len(res.jobs["plan"]), len(ids))
	}
	if res.started["wave-3"] {
		t.Errorf("wave-3 started after wave-2 failed")
	}
	if got := res.outputs["staging"]["verified-version"]; got != "2.11.6" {
		t.Errorf("staging's verified-version = %q, want 2.11.6", got)
	}
	wantTable := "table=staging=upgraded,prod-eu=upgraded,prod-us=rolled-back,prod-ap="
	if got := "table=" + res.outputs["summary"]["table"]; got != wantTable {
		t.Errorf("summary %s, want %s", got, wantTable)
	}
	clusters["STAGING"].wantRelease(t, 2, "deployed", "2.11.6")
	clusters["PROD_EU"].wantRelease(t, 2, "deployed", "2.11.6")
	clusters["PROD_US"].wantRelease(t, 3, "deployed", "2.11.5")
	clusters["PROD_AP"].wantRelease(t, 1, "deployed", "2.11.5")
	if t.Failed() && !testing.Verbose() {
		t.Logf("act log:\n%s", res.log)
	}
	t.Logf("fleet rollout under act: %s in all", time.Since(start).Round(time.Second))
}

// TestExamplesOnOneCluster runs every other example under act against one
// cluster on 2.11.5, in the order a team would meet them: a staging PR is
// planned, then merged and applied; the scheduled patch bump finds nothing
// newer; the proposal opens a bump PR for the pinned 2.11.5; once it is
// merged, applying the merged bump is a no-op at the verified 2.11.6.
func TestExamplesOnOneCluster(t *testing.T) {
	t.Parallel()
	start := time.Now()
	actBin := buildAct(t)
	e := newEngine(t)
	c := startCluster(t, "ONE")
	c.install(t, "7.11.5")
	const repository = "example/platform"
	gh := c.w.GitHub
	gh.SetFile(repository, "pachyderm/production/VERSION", []byte("2.11.5\n"))
	inputs := c.w.Inputs()
	base := func(workflow, event string, payload map[string]any, files map[string]string) run {
		payload["repository"] = map[string]any{"full_name": repository, "name": "platform", "owner": map[string]any{"login": "example"}, "default_branch": "main"}
		return run{
			workflow: workflow, event: event, payload: payload, files: files,
			secrets: map[string]string{"GITHUB_TOKEN": "ghs_act_test_token", "STAGING_KUBECONFIG": c.kubeconfig,
				"PRODUCTION_KUBECONFIG": c.kubeconfig, "PACH_UPGRADE_APP_PRIVATE_KEY": "not-a-key"},
			vars: map[string]string{
				"PACHYDERM_CHART_REPO": inputs[config.InputChartRepo], "PACHCTL_DOWNLOAD_URL": inputs[config.InputPachctlDownloadURL],
				"PACHD_ADDRESS_STAGING": c.w.Pachd.Address, "PACHD_ADDRESS_PRODUCTION": c.w.Pachd.Address, "PACH_UPGRADE_APP_ID": "1",
				"PACH_UPGRADE_DATABASE_BACKUP": inputs[config.InputDatabaseBackup],
			},
			env: map[string]string{"GITHUB_API_URL": gh.APIURL, "GITHUB_SERVER_URL": gh.ServerURL},
		}
	}
	stagingFiles := map[string]string{"pachyderm/staging/VERSION": "2.11.6\n", "pachyderm/staging/values.yaml": "deployTarget: LOCAL\n"}
	pr := func(action string, merged bool) map[string]any {
		return map[string]any{"action": action, "number": 7, "pull_request": map[string]any{"number": 7, "merged": merged,
			"merge_commit_sha": strings.Repeat("d", 40), "head": map[string]any{"ref": "staging-2.11.6"}, "base": map[string]any{"ref": "main"}}}
	}
	type want struct {
		job, result string
		outputs     map[string]string
	}
	check := func(name string, res result, wants ...want) {
		t.Helper()
		for _, w := range wants {
			got := res.jobs[w.job]
			if len(got) != 1 || got[0] != w.result {
				t.Errorf("%s: job %s results %v, want [%s]", name, w.job, got, w.result)
			}
			for k, v := range w.outputs {
				if g := res.outputs[w.job][k]; g != v {
					t.Errorf("%s: job %s output %s = %q, want %q", name, w.job, k, g, v)
				}
			}
		}
		if t.Failed() {
			t.Logf("%s: act log:\n%s", name, res.log)
		}
	}
	ran := map[string]bool{}

	res := e.act(t, actBin, base("examples/staging-pr.yml", "pull_request", pr("opened", false), stagingFiles))
	check("staging PR opened", res, want{"plan", "success", map[string]string{"result": "planned", "target-version": "2.11.6", "verified-version": ""}})
	if res.started["apply"] {
		t.Errorf("staging PR opened: the apply job ran")
	}
	if n := len(gh.Comments(repository, 7)); n != 1 {
		t.Errorf("staging PR opened: %d comments on the PR, want the plan's one", n)
	}
	c.wantRelease(t, 1, "deployed", "2.11.5")
	ran["examples/staging-pr.yml"] = true

	res = e.act(t, actBin, base("examples/staging-pr.yml", "pull_request", pr("closed", true), stagingFiles))
	check("staging PR merged", res, want{"apply", "success", map[string]string{"result": "upgraded", "previous-version": "2.11.5", "verified-version": "2.11.6"}})
	if res.started["plan"] {
		t.Errorf("staging PR merged: the plan job ran")
	}
	if !strings.Contains(res.log, "upload-artifact stand-in would upload pachyderm-staging-backup-") {
		t.Errorf("staging PR merged: the backup was not handed to upload-artifact")
	}
	c.wantRelease(t, 2, "deployed", "2.11.6")

	res = e.act(t, actBin, base("examples/scheduled-patch.yml", "schedule", map[string]any{"schedule": "17 6 * * 1-5"}, nil))
	check("scheduled patch", res, want{"patch", "success", map[string]string{"result": "no-op", "verified-version": "2.11.6"}})
	if !strings.Contains(res.log, "is the newest patch; nothing to do") {
		t.Errorf("scheduled patch: the no-op step did not run")
	}
	ran["examples/scheduled-patch.yml"] = true

	res = e.act(t, actBin, base("examples/propose-bump.yml", "schedule", map[string]any{"schedule": "23 5 * * 1-5"}, nil))
	check("propose", res, want{"propose", "success", map[string]string{"result": "proposed", "target-version": "2.11.6"}})
	pulls := gh.Pulls(repository)
	if len(pulls) != 1 {
		t.Fatalf("propose: %d pull requests, want 1", len(pulls))
	}
	ran["examples/propose-bump.yml"] = true

	if err := gh.Merge(repository, pulls[0].Number); err != nil {
		t.Fatal(err)
	}
	sha, _ := gh.Branch(repository, "main")
	res = e.act(t, actBin, base("examples/apply-merged-bump.yml", "push", map[string]any{"ref": "refs/heads/main", "after": sha, "deleted": false},
		nil))
	check("apply merged bump", res, want{"apply", "success", map[string]string{"result": "no-op", "verified-version": "2.11.6"}})
	ran["examples/apply-merged-bump.yml"] = true
	c.wantRelease(t, 2, "deployed", "2.11.6")

	// Every example runs here or in TestFleetRollout: a new one must be added.
	ran["examples/fleet-rollout.yml"] = true
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	all, err := filepath.Glob(filepath.Join(root, "examples", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if rel := "examples/" + filepath.Base(p); !ran[rel] {
			t.Errorf("%s is not run under act: add it to this test", rel)
		}
	}
	t.Logf("examples under act: %s in all", time.Since(start).Round(time.Second))
}
