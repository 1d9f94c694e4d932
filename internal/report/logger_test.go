package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Secrets shaped like what the action handles: the PostgreSQL password, a
// GitHub token, and a multi-line PEM key from a secret.
var secrets = []string{
	"pg-S3cr3t!pass",
	"ghs_16C7e42F292c6912E7710c838347Ae178B4a",
	"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----",
}

// exercise writes every secret through every Logger method.
func exercise(l Logger) string {
	for _, s := range secrets {
		l.AddMask(s)
	}
	var leaked strings.Builder
	for _, s := range secrets {
		l.Group("group " + s)
		l.Infof("connecting with password %s", s)
		l.Warningf("title "+s, "warned %q", s)
		l.Errorf("err "+s, "failed: %v", s)
		l.SetOutput("out", "x"+s+"y")
		l.EndGroup()
		r := upgraded()
		r.Failure = "password was " + s
		r.Steps[0].Detail = s
		l.AddSummary(Summary(r))
		leaked.WriteString(l.Redact(Comment(r)))
	}
	return leaked.String()
}

func assertNoSecret(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range secrets {
		for _, part := range append([]string{s}, strings.Split(s, "\n")...) {
			if part != "" && !strings.HasPrefix(part, "-----") && strings.Contains(text, part) {
				t.Errorf("%s leaks %q", where, part)
			}
		}
	}
}

func TestCLILoggerRedactsEverything(t *testing.T) {
	var out, log bytes.Buffer
	l := NewCLILogger(&out, &log)
	comment := exercise(l)
	assertNoSecret(t, "stdout", out.String())
	assertNoSecret(t, "log", log.String())
	assertNoSecret(t, "comment", comment)
	// Redaction must not swallow the rest of the text.
	for _, want := range []string{"connecting with password ***", "warning: title ***: warned \"***\"", "error: err ***: failed: ***", "▶ group ***"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	if !strings.Contains(out.String(), "out=x***y") || !strings.Contains(out.String(), "## ✅ Pachyderm") {
		t.Errorf("stdout:\n%s", out.String())
	}
	if !strings.Contains(log.String(), "\n  connecting") {
		t.Error("lines in a group are not indented")
	}
}

func TestActionsLoggerMasksFirstAndRedacts(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"GITHUB_OUTPUT":       filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"),
	}
	var stdout bytes.Buffer
	l := NewActionsLogger(&stdout, func(k string) string { return env[k] })
	comment := exercise(l)
	lines := strings.Split(stdout.String(), "\n")
	// The runner masks only after ::add-mask::, so every mask must come
	// before any other line.
	masks := 0
	for i, line := range lines {
		if strings.HasPrefix(line, "::add-mask::") {
			masks++
			if i != masks-1 {
				t.Errorf("add-mask at line %d after other output", i)
			}
		}
	}
	if masks != 2+3 { // two one-line secrets; the PEM's three lines
		t.Errorf("%d add-mask commands, want 5:\n%s", masks, stdout.String())
	}
	var rest strings.Builder
	for _, line := range lines[masks:] {
		rest.WriteString(line + "\n")
	}
	assertNoSecret(t, "log", rest.String())
	for _, f := range []string{"output", "summary"} {
		b, err := os.ReadFile(env["GITHUB_"+map[string]string{"output": "OUTPUT", "summary": "STEP_SUMMARY"}[f]])
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Errorf("%s file is empty", f)
		}
		assertNoSecret(t, f, string(b))
	}
	assertNoSecret(t, "comment", comment)
	for _, want := range []string{"::group::group ***", "::endgroup::", "::warning title=title ***::warned", "::error title=err ***::failed: ***"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
}

func TestActionsLoggerSurvivesMissingFiles(t *testing.T) {
	var stdout bytes.Buffer
	env := map[string]string{"GITHUB_STEP_SUMMARY": filepath.Join(t.TempDir(), "no", "such", "dir", "summary")}
	l := NewActionsLogger(&stdout, func(k string) string { return env[k] })
	l.SetOutput("result", "upgraded")
	l.AddSummary("# hi")
	if n := strings.Count(stdout.String(), "::warning"); n != 2 {
		t.Fatalf("%d warnings, want 2 (unset GITHUB_OUTPUT, unwritable summary):\n%s", n, stdout.String())
	}
}

func TestRedactorIgnoresBlankAndPrefersLongest(t *testing.T) {
	var r Redactor
	r.Add("")
	r.Add("   ")
	r.Add("abc")
	r.Add("abcdef")
	if got := r.Redact("x abcdef y abc z"); got != "x *** y *** z" {
		t.Fatalf("Redact = %q", got)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Add("k")
			_ = r.Redact("kkk")
		}()
	}
	wg.Wait()
}

func TestAddPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "path")
	var stdout bytes.Buffer
	NewActionsLogger(&stdout, func(k string) string { return map[string]string{"GITHUB_PATH": path}[k] }).AddPath("/tools/pachctl/2.11.6")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(b)) != "/tools/pachctl/2.11.6" {
		t.Errorf("GITHUB_PATH = %q", b)
	}
	var out, log bytes.Buffer
	NewCLILogger(&out, &log).AddPath("/tools/pachctl/2.11.6")
	if !strings.Contains(log.String(), "/tools/pachctl/2.11.6") {
		t.Errorf("CLI logger does not say where pachctl is: %q", log.String())
	}
}
