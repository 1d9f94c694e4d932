package config

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Getenv reads an environment variable; os.Getenv in production.
type Getenv func(string) string

// InActions reports whether the process runs as a GitHub Actions step.
func InActions(getenv Getenv) bool {
	return getenv("GITHUB_ACTIONS") == "true"
}

// FromActions reads every input of the table the way the Actions runner
// passes them to a container action: as INPUT_<NAME> environment variables.
func FromActions(ctx context.Context, getenv Getenv) (*Config, error) {
	return ParseContext(ctx, withEnv(ActionsInputs(getenv), getenv))
}

// ActionsInputs returns the inputs set in the environment, by input name.
func ActionsInputs(getenv Getenv) map[string]string {
	raw := map[string]string{}
	for _, o := range Options() {
		if v := getenv(actionsEnvName(o.Name)); v != "" {
			raw[o.Name] = v
		}
	}
	return raw
}

// actionsEnvName mirrors the runner's (and go-githubactions') naming:
// spaces become underscores, letters upper case, dashes stay.
func actionsEnvName(input string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(input, " ", "_"))
}

// withEnv fills each empty input that has an environment variable (see
// Option.Env) from it.
func withEnv(raw map[string]string, getenv Getenv) map[string]string {
	for _, o := range Options() {
		if o.Env == "" || strings.TrimSpace(raw[o.Name]) != "" {
			continue
		}
		if v := getenv(o.Env); v != "" {
			raw[o.Name] = v
		}
	}
	return raw
}

// ErrHelp is returned by FromFlags when the user asked for --help; the usage
// has been written and the program should exit 0.
var ErrHelp = flag.ErrHelp

// FromFlags reads the inputs from command-line flags named exactly as the
// inputs (--target-version 2.11.6). Usage errors are InputErrors.
func FromFlags(ctx context.Context, args []string, getenv Getenv, stderr io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("pach-upgrade", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	set := map[string]*string{}
	for _, o := range Options() {
		set[o.Name] = fs.String(o.Name, o.Default, o.Description)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			Usage(stderr)
			return nil, ErrHelp
		}
		return nil, &InputError{Input: "command line", Problem: err.Error(), Accepted: "the options listed by --help"}
	}
	if fs.NArg() > 0 {
		return nil, &InputError{Input: "command line", Value: strings.Join(fs.Args(), " "),
			Problem: "unexpected arguments", Accepted: "--name value options only (see --help)"}
	}
	raw := map[string]string{}
	fs.Visit(func(f *flag.Flag) { raw[f.Name] = *set[f.Name] })
	return ParseContext(ctx, withEnv(raw, getenv))
}

// Usage writes every option with its default and meaning.
func Usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: pach-upgrade [--option value ...]\n       pach-upgrade notes --from VERSION --to VERSION [--changelog-file FILE]\n\n")
	fmt.Fprintf(w, "Upgrades a Pachyderm Helm release safely. Options (the same as the GitHub Action's inputs):\n\n")
	for _, o := range Options() {
		def := "default " + o.Default
		switch {
		case o.Required:
			def = "required"
		case o.Default == "":
			def = "no default"
		}
		fmt.Fprintf(w, "  --%s (%s)\n      %s\n", o.Name, def, strings.ReplaceAll(o.Description, "`", ""))
	}
}
