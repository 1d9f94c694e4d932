package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// thisAction matches a step's use of this action by its published name, at
// any ref, as the examples write it.
var thisAction = regexp.MustCompile(`(?m)^(\s*(?:-\s+)?uses:\s*)pach-upgrade/pach-upgrade@\S+`)

// TestWorkflowsPassActionlint lints every workflow in .github/workflows and
// every example in examples/ (new ones included, by glob), and action.yml:
// the examples are linted a second time with their uses of this action
// pointed at the repository itself (`uses: ./`), so actionlint also checks
// action.yml's metadata and every input an example passes against it. Any
// finding fails the test.
func TestWorkflowsPassActionlint(t *testing.T) {
	workflows := globYAML(t, filepath.Join(".github", "workflows"))
	examples := globYAML(t, "examples")
	if len(workflows) == 0 || len(examples) < 2 {
		t.Fatalf("found %d workflows and %d examples; the globs are wrong", len(workflows), len(examples))
	}
	for _, path := range append(workflows, examples...) {
		content, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range lint(t, path, content) {
			t.Error(f)
		}
	}
	checked := 0
	for _, path := range examples {
		content, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		local := thisAction.ReplaceAll(content, []byte("${1}./"))
		if string(local) == string(content) {
			continue // uses another action of the repository, or none
		}
		checked++
		for _, f := range lint(t, path+" (uses: ./)", local) {
			t.Error(f)
		}
	}
	if checked < 2 {
		t.Errorf("only %d examples use pach-upgrade/pach-upgrade@<ref>: action.yml and their inputs went unchecked", checked)
	}
}

// TestActionlintCatchesBrokenWorkflows proves the lint above can fail: each
// broken workflow must give at least one finding naming what is wrong.
func TestActionlintCatchesBrokenWorkflows(t *testing.T) {
	const head = "on: push\njobs:\n  up:\n    runs-on: ubuntu-latest\n    steps:\n"
	cases := map[string]struct{ workflow, want string }{
		"unknown input":          {head + "      - uses: ./\n        with:\n          target-version: latest-patch\n          taget-namespace: x\n", "taget-namespace"},
		"missing required input": {head + "      - uses: ./\n        with:\n          mode: plan\n", "target-version"},
		"bad expression":         {head + "      - run: echo ${{ github.event.pull_request.number( }}\n", "expression"},
		"unknown output":         {head + "      - id: u\n        uses: ./\n        with:\n          target-version: latest-patch\n      - run: echo ${{ steps.u.outputs.reslt }}\n", "reslt"},
		"unknown job key":        {"on: push\njobs:\n  up:\n    runs-on: ubuntu-latest\n    enviroment: staging\n    steps:\n      - run: true\n", "enviroment"},
		"bad cron":               {"on:\n  schedule:\n    - cron: '61 6 * * *'\njobs:\n  up:\n    runs-on: ubuntu-latest\n    steps:\n      - run: true\n", "cron"},
	}
	for name, c := range cases {
		findings := lint(t, name+".yml", []byte(c.workflow))
		if len(findings) == 0 {
			t.Errorf("%s: no finding", name)
			continue
		}
		if !strings.Contains(strings.Join(findings, "\n"), c.want) {
			t.Errorf("%s: findings do not mention %q:\n%s", name, c.want, strings.Join(findings, "\n"))
		}
	}
}

// lint runs actionlint on one workflow, with the repository as the project
// so that `uses: ./` reads this action.yml. Shellcheck and pyflakes stay
// off: their presence would make the result depend on the machine.
func lint(t *testing.T, path string, content []byte) []string {
	t.Helper()
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	l, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{WorkingDir: root})
	if err != nil {
		t.Fatal(err)
	}
	proj, err := actionlint.NewProject(root)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.Lint(path, content, proj)
	if err != nil {
		t.Fatalf("actionlint %s: %v", path, err)
	}
	var out []string
	for _, e := range errs {
		out = append(out, fmt.Sprintf("%s:%d:%d: %s [%s]", path, e.Line, e.Column, e.Message, e.Kind))
	}
	return out
}

func globYAML(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	return out
}
