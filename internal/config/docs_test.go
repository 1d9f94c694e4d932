package config

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite action.yml's inputs/outputs and the README tables from the options table")

const (
	actionFile  = "../../action.yml"
	readmeFile  = "../../README.md"
	tablesStart = "<!-- options-table:start -->"
	tablesEnd   = "<!-- options-table:end -->"
)

type actionInput struct {
	Description string  `json:"description"`
	Required    bool    `json:"required"`
	Default     *string `json:"default,omitempty"`
}

type actionOutput struct {
	Description string `json:"description"`
}

type actionYAML struct {
	Name        string                  `json:"name"`
	Author      string                  `json:"author"`
	Description string                  `json:"description"`
	Branding    map[string]string       `json:"branding"`
	Inputs      map[string]actionInput  `json:"inputs"`
	Outputs     map[string]actionOutput `json:"outputs"`
	Runs        map[string]any          `json:"runs"`
}

func readAction(t *testing.T) ([]byte, actionYAML) {
	t.Helper()
	data, err := os.ReadFile(actionFile)
	if err != nil {
		t.Fatalf("read action.yml: %v", err)
	}
	var a actionYAML
	if err := yaml.UnmarshalStrict(data, &a); err != nil {
		t.Fatalf("parse action.yml: %v", err)
	}
	return data, a
}

// TestActionYAMLMatchesOptions fails when an input or output is added to
// action.yml but not to the table, or the reverse, or when their defaults,
// required flags or descriptions differ.
func TestActionYAMLMatchesOptions(t *testing.T) {
	if *update {
		writeActionInputs(t)
	}
	_, a := readAction(t)
	if a.Name == "" || a.Description == "" || a.Branding["icon"] == "" || a.Branding["color"] == "" {
		t.Errorf("action.yml needs name, description and branding (icon, color); got %+v", a)
	}
	// main builds the Dockerfile; a release commit pins the published image by digest.
	pinned := regexp.MustCompile(`^docker://[a-z0-9./_-]+@sha256:[0-9a-f]{64}$`)
	if image := fmt.Sprint(a.Runs["image"]); a.Runs["using"] != "docker" || (image != "Dockerfile" && !pinned.MatchString(image)) {
		t.Errorf("action.yml runs = %v, want using: docker with image Dockerfile, or an image pinned by digest", a.Runs)
	}
	want := map[string]Option{}
	for _, o := range Options() {
		want[o.Name] = o
	}
	for name := range a.Inputs {
		if _, ok := want[name]; !ok {
			t.Errorf("action.yml input %q is not in the options table", name)
		}
	}
	for name, o := range want {
		in, ok := a.Inputs[name]
		if !ok {
			t.Errorf("options table input %q is missing from action.yml", name)
			continue
		}
		if in.Required != o.Required {
			t.Errorf("input %q: action.yml required=%v, table %v", name, in.Required, o.Required)
		}
		got := ""
		if in.Default != nil {
			got = *in.Default
		}
		if got != o.Default {
			t.Errorf("input %q: action.yml default %q, table %q", name, got, o.Default)
		}
		if in.Description != o.Description {
			t.Errorf("input %q: action.yml description %q, table %q", name, in.Description, o.Description)
		}
	}
	wantOut := map[string]string{}
	for _, o := range Outputs() {
		wantOut[o.Name] = o.Description
	}
	for name, o := range a.Outputs {
		d, ok := wantOut[name]
		if !ok {
			t.Errorf("action.yml output %q is not in the outputs table", name)
		} else if d != o.Description {
			t.Errorf("output %q: action.yml description %q, table %q", name, o.Description, d)
		}
	}
	for name := range wantOut {
		if _, ok := a.Outputs[name]; !ok {
			t.Errorf("outputs table output %q is missing from action.yml", name)
		}
	}
}

// TestReadmeTablesMatchOptions keeps the README's inputs/outputs tables in
// step with the options table.
func TestReadmeTablesMatchOptions(t *testing.T) {
	data, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	s := string(data)
	i, j := strings.Index(s, tablesStart), strings.Index(s, tablesEnd)
	if i < 0 || j < i {
		t.Fatalf("README lacks the %s … %s markers around the options tables", tablesStart, tablesEnd)
	}
	got := strings.TrimSpace(s[i+len(tablesStart) : j])
	want := strings.TrimSpace(MarkdownTables())
	if got == want {
		return
	}
	if *update {
		s = s[:i+len(tablesStart)] + "\n" + want + "\n" + s[j:]
		if err := os.WriteFile(readmeFile, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README options tables differ from the options table; run go test ./internal/config -run Readme -update\n--- README\n%s\n--- want\n%s", got, want)
}

// writeActionInputs regenerates the inputs and outputs sections of
// action.yml, keeping everything around them.
func writeActionInputs(t *testing.T) {
	t.Helper()
	data, _ := readAction(t)
	s := string(data)
	i, j := strings.Index(s, "inputs:\n"), strings.Index(s, "runs:\n")
	if i < 0 || j < i {
		t.Fatalf("action.yml: want inputs: … outputs: … runs: in that order")
	}
	var b bytes.Buffer
	b.WriteString("inputs:\n")
	for _, o := range Options() {
		fmt.Fprintf(&b, "  %s:\n    description: %s\n    required: %v\n", o.Name, quote(o.Description), o.Required)
		if o.Default != "" {
			fmt.Fprintf(&b, "    default: %s\n", quote(o.Default))
		}
	}
	b.WriteString("outputs:\n")
	for _, o := range Outputs() {
		fmt.Fprintf(&b, "  %s:\n    description: %s\n", o.Name, quote(o.Description))
	}
	out := s[:i] + b.String() + s[j:]
	if err := os.WriteFile(filepath.Clean(actionFile), []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
