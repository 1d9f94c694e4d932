package report

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/sethvargo/go-githubactions"
)

// Logger is what every step writes through. In Actions it speaks workflow
// commands; on a terminal it prints plain lines. Call AddMask for every
// secret value before logging anything else.
type Logger interface {
	// Group starts a collapsible log group; EndGroup ends it.
	Group(title string)
	EndGroup()
	Infof(format string, args ...any)
	// Warningf and Errorf are annotations: title is the headline shown on
	// the run page.
	Warningf(title, format string, args ...any)
	Errorf(title, format string, args ...any)
	// AddMask registers a secret value: it is never shown again.
	AddMask(value string)
	// SetOutput sets an action output.
	SetOutput(name, value string)
	// AddSummary appends markdown to the job summary.
	AddSummary(markdown string)
	// AddPath puts dir on PATH for the job's later steps.
	AddPath(dir string)
	// Redact replaces every masked value in s, for text that leaves
	// through another door (the PR comment).
	Redact(s string) string
}

// Redactor remembers secret values and replaces them with ***. It is safe
// for concurrent use.
type Redactor struct {
	mu     sync.RWMutex
	values []string
}

const redacted = "***"

// maskParts returns what to mask for value: the value itself and, for a
// multi-line value, each of its lines, because logs are masked line by line.
func maskParts(value string) []string {
	var out []string
	if strings.TrimSpace(value) == "" {
		return nil
	}
	out = append(out, value)
	if strings.ContainsAny(value, "\r\n") {
		for _, l := range strings.FieldsFunc(value, func(r rune) bool { return r == '\n' || r == '\r' }) {
			if strings.TrimSpace(l) != "" {
				out = append(out, l)
			}
		}
	}
	return out
}

// Add registers value (ignoring blank ones, which would mask everything).
func (r *Redactor) Add(value string) {
	parts := maskParts(value)
	if len(parts) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values = append(r.values, parts...)
	// Longest first, so that a secret containing another is replaced whole.
	sort.SliceStable(r.values, func(i, j int) bool { return len(r.values[i]) > len(r.values[j]) })
}

// Redact replaces every registered value in s.
func (r *Redactor) Redact(s string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, v := range r.values {
		s = strings.ReplaceAll(s, v, redacted)
	}
	return s
}

// ActionsLogger speaks GitHub Actions workflow commands through
// go-githubactions.
type ActionsLogger struct {
	a      *githubactions.Action
	getenv func(string) string
	red    Redactor
}

// NewActionsLogger writes commands to w (os.Stdout in a real run) and reads
// GITHUB_OUTPUT and GITHUB_STEP_SUMMARY with getenv.
func NewActionsLogger(w io.Writer, getenv func(string) string) *ActionsLogger {
	return &ActionsLogger{
		a:      githubactions.New(githubactions.WithWriter(w), githubactions.WithGetenv(getenv)),
		getenv: getenv,
	}
}

func (l *ActionsLogger) Group(title string) { l.a.Group(l.red.Redact(title)) }
func (l *ActionsLogger) EndGroup()          { l.a.EndGroup() }

// Infof redacts too: the runner masks its log, but the same text may be
// read from a raw log download or a self-hosted runner's diagnostics.
func (l *ActionsLogger) Infof(format string, args ...any) {
	l.a.Infof("%s", l.red.Redact(fmt.Sprintf(format, args...)))
}

func (l *ActionsLogger) Warningf(title, format string, args ...any) {
	l.annotated(title).Warningf("%s", l.red.Redact(fmt.Sprintf(format, args...)))
}

func (l *ActionsLogger) Errorf(title, format string, args ...any) {
	l.annotated(title).Errorf("%s", l.red.Redact(fmt.Sprintf(format, args...)))
}

func (l *ActionsLogger) annotated(title string) *githubactions.Action {
	if title == "" {
		return l.a
	}
	return l.a.WithFieldsMap(map[string]string{"title": l.red.Redact(title)})
}

// AddMask registers value with the runner and with this logger's own
// redaction; each line of a multi-line value is masked on its own, as the
// runner masks line by line.
func (l *ActionsLogger) AddMask(value string) {
	for _, p := range maskParts(value) {
		if !strings.ContainsAny(p, "\r\n") {
			l.a.AddMask(p)
		}
	}
	l.red.Add(value)
}

func (l *ActionsLogger) SetOutput(name, value string) {
	l.fileCommand("GITHUB_OUTPUT", "output "+name, func() { l.a.SetOutput(name, l.red.Redact(value)) })
}

func (l *ActionsLogger) AddSummary(markdown string) {
	l.fileCommand("GITHUB_STEP_SUMMARY", "job summary", func() { l.a.AddStepSummary(l.red.Redact(markdown)) })
}

func (l *ActionsLogger) AddPath(dir string) {
	l.fileCommand("GITHUB_PATH", "PATH entry", func() { l.a.AddPath(dir) })
}

func (l *ActionsLogger) Redact(s string) string { return l.red.Redact(s) }

// fileCommand runs a go-githubactions file command, which panics when the
// file cannot be written; a summary or output that cannot be written is a
// warning, not a crash after the cluster was already upgraded.
func (l *ActionsLogger) fileCommand(env, what string, f func()) {
	if l.getenv(env) == "" {
		l.Warningf("Cannot write "+what, "%s is not set; %s not written", env, what)
		return
	}
	defer func() {
		if p := recover(); p != nil {
			l.Warningf("Cannot write "+what, "%v", p)
		}
	}()
	f()
}

// CLILogger prints plain text for terminal use: logs to log, outputs
// (`name=value`) and the summary to out. Every masked value is redacted from
// everything it prints, since no runner masks a terminal.
type CLILogger struct {
	mu       sync.Mutex
	out, log io.Writer
	red      Redactor
	depth    int
}

// NewCLILogger returns a logger writing to out and log (stdout and stderr in
// the binary); either may be the same writer.
func NewCLILogger(out, log io.Writer) *CLILogger {
	if out == nil {
		out = os.Stdout
	}
	if log == nil {
		log = os.Stderr
	}
	return &CLILogger{out: out, log: log}
}

func (l *CLILogger) print(w io.Writer, s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	indent := strings.Repeat("  ", l.depth)
	s = l.red.Redact(s)
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if w == l.log {
			line = indent + line
		}
		fmt.Fprintln(w, line)
	}
}

func (l *CLILogger) Group(title string) {
	l.print(l.log, "▶ "+title)
	l.mu.Lock()
	l.depth++
	l.mu.Unlock()
}

func (l *CLILogger) EndGroup() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.depth > 0 {
		l.depth--
	}
}

func (l *CLILogger) Infof(format string, args ...any) {
	l.print(l.log, fmt.Sprintf(format, args...))
}

func (l *CLILogger) Warningf(title, format string, args ...any) {
	l.print(l.log, "warning: "+prefix(title)+fmt.Sprintf(format, args...))
}

func (l *CLILogger) Errorf(title, format string, args ...any) {
	l.print(l.log, "error: "+prefix(title)+fmt.Sprintf(format, args...))
}

func prefix(title string) string {
	if title == "" {
		return ""
	}
	return title + ": "
}

func (l *CLILogger) AddMask(value string) { l.red.Add(value) }

func (l *CLILogger) SetOutput(name, value string) {
	// One line per output: a multi-line value would read as several.
	l.print(l.out, name+"="+strings.ReplaceAll(l.red.Redact(value), "\n", `\n`))
}

func (l *CLILogger) AddSummary(markdown string) { l.print(l.out, markdown) }

// AddPath has no later steps to serve on a terminal: it says where the
// tool is instead.
func (l *CLILogger) AddPath(dir string) { l.print(l.log, "add to PATH: "+dir) }

func (l *CLILogger) Redact(s string) string { return l.red.Redact(s) }

var (
	_ Logger = (*ActionsLogger)(nil)
	_ Logger = (*CLILogger)(nil)
)
