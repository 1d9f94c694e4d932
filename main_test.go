package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/github"
	"github.com/pach-upgrade/pach-upgrade/internal/github/githubtest"
)

func TestRunExitCodes(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want int
		msg  string
	}{
		{"help", []string{"--help"}, nil, exitOK, "--target-version"},
		{"bad flag value", []string{"--target-version", "3.0"}, nil, exitBadInput, `input "target-version"`},
		{"unknown flag", []string{"--targetversion", "2.11.6"}, nil, exitBadInput, "command line"},
		{"bad action input", nil, map[string]string{"GITHUB_ACTIONS": "true", "INPUT_TARGET-VERSION": "2.11.6", "INPUT_MODE": "destroy"}, exitBadInput, `input "mode"`},
		{"missing required action input", nil, map[string]string{"GITHUB_ACTIONS": "true"}, exitBadInput, `input "target-version"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, &stdout, &stderr)
			if got != tc.want {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", got, tc.want, stderr.String())
			}
			if !strings.Contains(stderr.String()+stdout.String(), tc.msg) {
				t.Errorf("output lacks %q:\n%s%s", tc.msg, stdout.String(), stderr.String())
			}
		})
	}
}

// TestBadInputNeverEchoesURLCredentials: a refused URL input with a password
// and a token is named in the error without them, in both modes; in Actions
// mode the credentials are masked before the annotation is written.
func TestBadInputNeverEchoesURLCredentials(t *testing.T) {
	const pw, tok = "PW-s3cr3t", "T0k3n-s3cr3t"
	bad := "https://u:" + pw + "@host/x?token=" + tok
	for _, actions := range []bool{false, true} {
		var stdout, stderr bytes.Buffer
		env := map[string]string{}
		var args []string
		if actions {
			env = map[string]string{"GITHUB_ACTIONS": "true", "INPUT_TARGET-VERSION": "2.11.6", "INPUT_PACHCTL-DOWNLOAD-URL": bad}
		} else {
			args = []string{"--target-version", "2.11.6", "--pachctl-download-url", bad}
		}
		code := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
		if code != exitBadInput {
			t.Fatalf("actions=%v: exit %d, want %d", actions, code, exitBadInput)
		}
		out := stdout.String() + stderr.String()
		if !strings.Contains(out, `input "pachctl-download-url"`) {
			t.Errorf("actions=%v: error does not name the input:\n%s", actions, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "::add-mask::") {
				continue
			}
			if strings.Contains(line, pw) || strings.Contains(line, tok) {
				t.Errorf("actions=%v: a credential is echoed: %s", actions, line)
			}
		}
		if actions {
			for _, s := range []string{pw, tok} {
				if !strings.Contains(stdout.String(), "::add-mask::"+s+"\n") {
					t.Errorf("%s is not masked:\n%s", s, stdout.String())
				}
			}
		}
	}
}

// TestFileInputsRefuseDevicesAndFIFOs: every file input reads only a
// regular file; a device or a FIFO exits 2 at once, naming the input.
func TestFileInputsRefuseDevicesAndFIFOs(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args  []string
		input string
	}{
		{[]string{"--target-version", "2.11.6", "--values-file", "/dev/zero"}, "values-file"},
		{[]string{"--target-version", "2.11.6", "--values-file", fifo}, "values-file"},
		{[]string{"notes", "--from", "2.5.0", "--to", "2.5.3", "--changelog-file", "/dev/zero"}, "changelog-file"},
		{[]string{"notes", "--from", "2.5.0", "--to", "2.5.3", "--changelog-file", fifo}, "changelog-file"},
	}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		done := make(chan int, 1)
		go func() {
			done <- run(context.Background(), tc.args, func(string) string { return "" }, &stdout, &stderr)
		}()
		select {
		case code := <-done:
			if code != exitBadInput {
				t.Errorf("%q: exit %d, want %d; stderr:\n%s", tc.args, code, exitBadInput, stderr.String())
			}
			if !strings.Contains(stderr.String(), `input "`+tc.input+`"`) || !strings.Contains(stderr.String(), "not a regular file") {
				t.Errorf("%q: error does not name %s as not a regular file:\n%s", tc.args, tc.input, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q: still reading after 10s", tc.args)
		}
	}
}

// TestBadInputSetsResultFailed: in Action mode a refused input still sets
// the result output, so a workflow's `if: steps.x.outputs.result == 'failed'`
// fires.
func TestBadInputSetsResultFailed(t *testing.T) {
	out := filepath.Join(t.TempDir(), "output")
	if err := os.WriteFile(out, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": out, "INPUT_TARGET-VERSION": "2.11.6", "INPUT_MODE": "destroy"}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), nil, func(k string) string { return env[k] }, &stdout, &stderr); code != exitBadInput {
		t.Fatalf("exit %d, want %d", code, exitBadInput)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^result<<(\S+)\nfailed\n\S+$`).Match(b) {
		t.Errorf("GITHUB_OUTPUT does not set result=failed:\n%s", b)
	}
}

// TestEmptyGitHubTokenCallsNoAPIAndMissingKubeconfigIsNamed: found under act.
// A run on a pull request with an empty github-token makes no call to the
// GitHub API for its comment, and a KUBECONFIG that names a missing file is
// reported with that path and the fix, not client-go's "no configuration".
func TestEmptyGitHubTokenCallsNoAPIAndMissingKubeconfigIsNamed(t *testing.T) {
	var calls atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(api.Close)
	dir := t.TempDir()
	event := filepath.Join(dir, "event.json")
	out := filepath.Join(dir, "output")
	for p, data := range map[string]string{event: `{"number":7,"pull_request":{"number":7}}`, out: ""} {
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "gha-kubeconfig-1a2b")
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": out, "INPUT_TARGET-VERSION": "2.11.6",
		"INPUT_GITHUB-TOKEN": "", "GITHUB_API_URL": api.URL, "GITHUB_SERVER_URL": api.URL, "GITHUB_REPOSITORY": "acme/ops",
		"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": event, "KUBECONFIG": missing}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), nil, func(k string) string { return env[k] }, &stdout, &stderr); code != exitFailed {
		t.Fatalf("exit %d, want %d; output:\n%s%s", code, exitFailed, stdout.String(), stderr.String())
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("an empty github-token made %d call(s) to the GitHub API", n)
	}
	log := stdout.String() + stderr.String()
	if !strings.Contains(log, "KUBECONFIG names "+missing+", which does not exist") || !strings.Contains(log, "`kubeconfig` input") {
		t.Errorf("the missing kubeconfig is not named with its path and the fix:\n%s", log)
	}
}

// TestCommentLookedUpBesideTheRun: on a pull request, the sticky comment is
// looked for (comments and the token's identity) while the run works on the
// cluster, and publishing makes one call, the edit of our own comment; a
// comment that someone else wrote with our marker stays as it was. The
// cluster here answers nothing until the GitHub stand-in has answered the
// lookup: a lookup made only at publishing would time the cluster out.
func TestCommentLookedUpBesideTheRun(t *testing.T) {
	s := githubtest.NewServer()
	t.Cleanup(s.Close)
	const repo, pr = "acme/ops", 7
	marker := github.Marker("ops", "pachd")
	planted := s.AddComment(repo, pr, "mallory", marker+"\nplanted")
	ours := s.AddComment(repo, pr, "github-actions[bot]", marker+"\nthe last run's report")

	var (
		mu       sync.Mutex
		answered time.Time
		overlap  bool
	)
	kube := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deadline := time.Now().Add(10 * time.Second)
		for s.Count(githubtest.OpListComments) == 0 || s.Count(githubtest.OpGraphQL) == 0 {
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		mu.Lock()
		if answered.IsZero() {
			overlap = time.Now().Before(deadline)
			answered = time.Now()
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"leases.coordination.k8s.io is forbidden","reason":"Forbidden","code":403}`))
	}))
	t.Cleanup(kube.Close)

	dir := t.TempDir()
	event := filepath.Join(dir, "event.json")
	out := filepath.Join(dir, "output")
	kubeconfig := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: '" + kube.URL + "'}}]\n" +
		"users: [{name: u, user: {token: kube-token}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"
	for p, data := range map[string]string{event: `{"number":7,"pull_request":{"number":7}}`, out: ""} {
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": out, "INPUT_TARGET-VERSION": "2.11.6",
		"INPUT_NAMESPACE": "ops", "INPUT_RELEASE": "pachd", "INPUT_GITHUB-TOKEN": "ghs_16C7e42F292c6912E7710c838347Ae178B4a",
		"GITHUB_API_URL": s.APIURL, "GITHUB_SERVER_URL": s.ServerURL, "GITHUB_REPOSITORY": repo,
		"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": event, "INPUT_KUBECONFIG": kubeconfig}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), nil, func(k string) string { return env[k] }, &stdout, &stderr); code != exitFailed {
		t.Fatalf("exit %d, want %d; output:\n%s%s", code, exitFailed, stdout.String(), stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if answered.IsZero() || !overlap {
		t.Fatalf("the cluster was called %v, the lookup answered in time %v: the comment lookup did not run beside the run\n%s",
			!answered.IsZero(), overlap, stdout.String())
	}
	var after []githubtest.Op
	for _, r := range s.Requests() {
		if r.Received.After(answered) {
			after = append(after, r.Op)
		}
	}
	if len(after) != 1 || after[0] != githubtest.OpEditComment {
		t.Errorf("GitHub calls after the run's cluster step: %v, want one edit-comment", after)
	}
	for _, cm := range s.Comments(repo, pr) {
		switch cm.ID {
		case planted:
			if cm.Body != marker+"\nplanted" {
				t.Errorf("mallory's comment with our marker was edited:\n%s", cm.Body)
			}
		case ours:
			if !strings.Contains(cm.Body, "Upgrade failed") || !strings.Contains(cm.Body, "leases.coordination.k8s.io is forbidden") {
				t.Errorf("our comment does not report this run:\n%s", cm.Body)
			}
		default:
			t.Errorf("a second comment was created: %+v", cm)
		}
	}
	if !strings.Contains(stdout.String(), "comment looked up beside the run") {
		t.Errorf("the log does not say the comment was looked up beside the run:\n%s", stdout.String())
	}
}
