package config

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/pach-upgrade/pach-upgrade/internal/pachctl"
	"github.com/pach-upgrade/pach-upgrade/internal/redact"
	"github.com/pach-upgrade/pach-upgrade/internal/versionfile"
)

// InputError is a bad input: it names the input, says what was given and
// what is accepted. The program exits with code 2 on it, before any network
// or cluster call.
type InputError struct {
	Input    string
	Value    string // empty for secret inputs: their value is never repeated
	Problem  string
	Accepted string
}

func (e *InputError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "input %q", e.Input)
	if e.Value != "" {
		// A URL's user info and query may be credentials: never echoed.
		fmt.Fprintf(&b, " (%q)", redact.URL(e.Value))
	}
	fmt.Fprintf(&b, ": %s", e.Problem)
	if e.Accepted != "" {
		fmt.Fprintf(&b, "; accepted: %s", e.Accepted)
	}
	return b.String()
}

// InputErrors collects every bad input of one run, so the user fixes them all
// at once rather than one per run.
type InputErrors []*InputError

func (es InputErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// IsInputError reports whether err is (or wraps) a bad-input error.
func IsInputError(err error) bool {
	var one *InputError
	var many InputErrors
	return errors.As(err, &one) || errors.As(err, &many)
}

// maxTimeout is GitHub's limit on a job's run time: a longer timeout could
// never be honoured. minTimeout refuses the sub-second timeouts that are unit
// slips (10ms for 10m, 1ns): no rollout is that fast. It stays low because a
// short timeout is legitimate when the run is expected to give up quickly
// (waiting on a held Lease).
const (
	maxTimeout = 6 * time.Hour
	minTimeout = time.Second
)

var (
	chartNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$`)
	repoRE      = regexp.MustCompile(`^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$`)
	sha256RE    = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Parse validates raw input values (input name → value as given; missing
// inputs take their default from Options) into a Config. It reads the
// values file, but makes no network or cluster call.
func Parse(raw map[string]string) (*Config, error) {
	return ParseContext(context.Background(), raw)
}

// ParseContext is Parse with a context that stops the reading of input
// files (a signal during the run).
func ParseContext(ctx context.Context, raw map[string]string) (*Config, error) {
	p := parser{ctx: ctx, raw: map[string]string{}}
	known := map[string]bool{}
	for _, o := range Options() {
		known[o.Name] = true
		v, ok := raw[o.Name]
		v = strings.TrimSpace(v)
		if !ok || v == "" {
			v = o.Default
		}
		p.raw[o.Name] = v
	}
	var unknown []string
	for name := range raw {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		p.fail(name, "", "unknown input", "the inputs listed by --help")
	}

	c := &Config{SecretNames: map[string]string{}}
	c.Target = p.target()
	c.AllowPrerelease = p.boolean(InputAllowPrerelease)
	if c.Target.Kind == TargetExact && c.Target.Version != nil && c.Target.Version.Prerelease() != "" && !c.AllowPrerelease {
		p.fail(InputTargetVersion, p.raw[InputTargetVersion], "is a pre-release",
			"a release version, or set allow-prerelease: true to ask for this pre-release")
	}
	c.Release = p.dnsLabel(InputRelease, 53)
	c.Namespace = p.dnsLabel(InputNamespace, 63)
	c.Chart = p.chart()
	c.ChartRepo = p.chartRepo(c.Chart)
	c.ChartVersion = p.optionalVersion(InputChartVersion)
	c.ValuesFile, c.ValuesFromFile = p.valuesFile()
	c.Values = p.yamlMap(InputValues, p.raw[InputValues])
	c.Kubeconfig, c.KubeContext, c.kubeCredentials = p.kubeconfig()
	c.HelmDriver = p.helmDriver()
	c.AllowExecPlugins = p.list(InputAllowExecPlugins)
	c.AllowCredentialHosts = p.hosts(InputAllowCredentialHosts)
	c.Mode = Mode(p.oneOf(InputMode, string(ModeApply), string(ModePlan), string(ModePropose)))
	c.VersionFile = p.versionFile(c.Mode, c.Target)
	c.AllowMinor = p.boolean(InputAllowMinor)
	c.Timeout = p.timeout()
	c.RollbackOnFailure = p.boolean(InputRollbackOnFailure)
	c.RecoverPending = p.boolean(InputRecoverPending)
	c.ForceConflicts = p.boolean(InputForceConflicts)
	c.BackupCommand = p.raw[InputBackupCommand]
	c.BackupDir = p.raw[InputBackupDir]
	c.Database = p.databaseOptions()
	for _, in := range SecretInputs() {
		if name := p.secretName(in); name != "" {
			c.SecretNames[in] = name
		}
	}
	c.PostgresqlSecretKey = p.secretKey(InputPostgresqlSecretKey)
	c.BuiltinPostgreSQL = BuiltinPostgreSQL(p.oneOf(InputBuiltinPostgreSQL,
		string(BuiltinPostgreSQLAuto), string(BuiltinPostgreSQLTrue), string(BuiltinPostgreSQLFalse)))
	if c.BuiltinPostgreSQL == BuiltinPostgreSQLTrue && c.SecretNames[InputPostgresqlSecret] != "" {
		p.fail(InputBuiltinPostgreSQL, "true", "conflicts with postgresql-secret: the built-in PostgreSQL cannot take its password from a Secret (see the upgrade procedure)",
			"builtin-postgresql: false (or auto) with postgresql-secret, or no postgresql-secret")
	}
	c.Regenerate = p.regenerate()
	c.PachctlVersionCheck = p.boolean(InputPachctlVersionCheck)
	c.PachdAddress = p.pachdAddress()
	c.PachctlDownloadURL = p.downloadURL()
	c.PachctlSHA256 = p.sha256()
	c.AllowUnverifiedPachctl = p.boolean(InputAllowUnverifiedPachctl)
	c.GitHubToken = p.raw[InputGitHubToken]
	if c.Mode == ModePropose && c.GitHubToken == "" {
		p.fail(InputGitHubToken, "", "is required with mode propose: it pushes a branch and opens a pull request",
			"a GitHub App installation token or a PAT with contents: write and pull-requests: write (see the README)")
	}
	c.Comment = p.boolean(InputComment)
	c.PRNumber = p.prNumber()
	c.ChangelogRepo = p.repo(InputChangelogRepo)
	c.ChangelogPath = p.changelogPath()
	c.ExpectCurrentVersion = p.expectCurrentVersion(c.Mode)
	c.urlCredentials = URLCredentials(p.raw)

	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return c, nil
}

type parser struct {
	ctx  context.Context
	raw  map[string]string
	errs InputErrors
}

func (p *parser) fail(input, value, problem, accepted string) {
	for _, o := range Options() {
		if o.Name == input && o.Secret {
			value = ""
		}
	}
	p.errs = append(p.errs, &InputError{Input: input, Value: redact.URL(value), Problem: problem, Accepted: accepted})
}

func (p *parser) target() Target {
	const accepted = "an exact version like 2.11.6 or v2.11.6, latest-patch, latest-minor, or from-file"
	v := p.raw[InputTargetVersion]
	switch v {
	case "":
		p.fail(InputTargetVersion, v, "is required", accepted)
		return Target{}
	case string(TargetLatestPatch):
		return Target{Kind: TargetLatestPatch}
	case string(TargetLatestMinor):
		return Target{Kind: TargetLatestMinor}
	case string(TargetFromFile):
		return Target{Kind: TargetFromFile}
	}
	ver, err := strictVersion(v)
	if err != nil {
		p.fail(InputTargetVersion, v, "is not a version", accepted)
		return Target{}
	}
	return Target{Kind: TargetExact, Version: ver}
}

// strictVersion accepts MAJOR.MINOR.PATCH with an optional leading "v":
// a partial version such as "2.11" would silently pick some patch.
func strictVersion(s string) (*semver.Version, error) {
	v, err := semver.StrictNewVersion(strings.TrimPrefix(s, "v"))
	if err != nil {
		return nil, err
	}
	if v.Metadata() != "" {
		return nil, fmt.Errorf("build metadata is not a Pachyderm release")
	}
	return v, nil
}

func (p *parser) optionalVersion(input string) *semver.Version {
	s := p.raw[input]
	if s == "" {
		return nil
	}
	v, err := semver.StrictNewVersion(strings.TrimPrefix(s, "v"))
	if err != nil {
		p.fail(input, s, "is not a semantic version", "MAJOR.MINOR.PATCH, e.g. 2.11.6")
		return nil
	}
	return v
}

// expectCurrentVersion is an exact version, as the previous-version output
// of an earlier job gives it. Propose compares the target with the
// repository's pin, not with the cluster, so the input has no meaning there.
func (p *parser) expectCurrentVersion(mode Mode) *semver.Version {
	s := p.raw[InputExpectCurrentVersion]
	if s == "" {
		return nil
	}
	v, err := strictVersion(s)
	if err != nil {
		p.fail(InputExpectCurrentVersion, s, "is not a version", "an exact version like 2.11.5 or v2.11.5, e.g. the previous-version output of the plan job")
		return nil
	}
	if mode == ModePropose {
		p.fail(InputExpectCurrentVersion, s, "is not used with mode propose", "mode apply or plan, or no expect-current-version")
		return nil
	}
	return v
}

func (p *parser) dnsLabel(input string, max int) string {
	s := p.raw[input]
	if msgs := validation.IsDNS1123Label(s); len(msgs) > 0 || len(s) > max {
		p.fail(input, s, "is not a valid name",
			fmt.Sprintf("lower-case letters, digits and '-', starting and ending with a letter or digit, at most %d characters", max))
	}
	return s
}

func (p *parser) chart() string {
	s := p.raw[InputChart]
	if isLocalPath(s) {
		const accepted = "a chart name in chart-repo, or an existing chart directory or .tgz archive"
		fi, err := os.Stat(s)
		switch {
		case err != nil:
			p.fail(InputChart, s, "local chart not found", accepted)
		case !fi.IsDir() && !fi.Mode().IsRegular():
			// A FIFO or a device would hang or flood the chart loader.
			p.fail(InputChart, s, "is not a directory or a regular file ("+fileKind(fi.Mode())+")", accepted)
		case !fi.IsDir() && fi.Size() > MaxInputFile:
			p.fail(InputChart, s, "is larger than 4 MiB", accepted)
		}
		return s
	}
	if !chartNameRE.MatchString(s) {
		p.fail(InputChart, s, "is not a chart name", "a chart name such as pachyderm, or a path starting with ./ or /")
	}
	return s
}

func isLocalPath(s string) bool {
	return strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") || strings.HasSuffix(s, ".tgz")
}

func (p *parser) chartRepo(chart string) string {
	s := p.raw[InputChartRepo]
	if isLocalPath(chart) {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(InputChartRepo, s, "is not a chart repository URL", "an http:// or https:// URL serving index.yaml")
	}
	return strings.TrimSuffix(s, "/")
}

func (p *parser) valuesFile() (string, map[string]any) {
	f := p.raw[InputValuesFile]
	if f == "" {
		return "", nil
	}
	data, err := ReadFile(p.ctx, InputValuesFile, f)
	var ie *InputError
	if errors.As(err, &ie) {
		p.errs = append(p.errs, ie)
		return f, nil
	}
	return f, p.yamlMap(InputValuesFile, string(data))
}

// yamlMap parses a YAML document that must be a mapping, as Helm values are.
func (p *parser) yamlMap(input, doc string) map[string]any {
	if strings.TrimSpace(doc) == "" {
		return nil
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		// The YAML error quotes the document, which may hold credentials.
		p.fail(input, "", "is not a YAML mapping: "+yamlProblem(err), "YAML of key: value pairs, as in a Helm values file")
		return nil
	}
	return m
}

// yamlProblem keeps the line number of a YAML error but not the text it
// quotes.
func yamlProblem(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		end := strings.IndexAny(msg[i:], ":")
		if end > 0 {
			return "syntax error at " + msg[i:i+end]
		}
	}
	if strings.Contains(msg, "cannot unmarshal") {
		return "not a mapping"
	}
	return "syntax error"
}

// kubeconfig returns the kubeconfig content, the context, and the
// credentials it holds (to be masked one by one: a runner masks a multi-line
// value only as a whole).
func (p *parser) kubeconfig() (string, string, []string) {
	content, ctx := p.raw[InputKubeconfig], p.raw[InputKubeContext]
	if content == "" {
		return "", ctx, nil
	}
	cfg, err := clientcmd.Load([]byte(content))
	if err != nil {
		p.fail(InputKubeconfig, "", "does not parse as a kubeconfig", "the content (not the path) of a kubeconfig file")
		return content, ctx, nil
	}
	creds := kubeCredentials(cfg)
	if len(cfg.Contexts) == 0 {
		p.fail(InputKubeconfig, "", "has no contexts", "a kubeconfig with at least one context")
		return content, ctx, creds
	}
	if ctx == "" && cfg.CurrentContext == "" {
		p.fail(InputKubeContext, "", "is required: the kubeconfig has no current-context", contextNames(cfg.Contexts))
	}
	if ctx != "" {
		if _, ok := cfg.Contexts[ctx]; !ok {
			p.fail(InputKubeContext, ctx, "is not a context of the kubeconfig", contextNames(cfg.Contexts))
		}
	}
	return content, ctx, creds
}

// kubeCredentials returns the secret fields of a kubeconfig, to be masked
// one by one: tokens, passwords, client keys (as written in the file, and
// each line of the decoded key), auth-provider settings and exec plugin
// environment values whose names say they are credentials. Client
// certificates are not secret (a TLS client sends its certificate to
// the server, in clear before TLS 1.3) and, like the rest of the file, are
// not masked: masking the kubeconfig line by line starred out lines such
// as "---" or "{" all over the job summary.
func kubeCredentials(cfg *clientcmdapi.Config) []string {
	var creds []string
	for _, name := range sortedKeys(cfg.AuthInfos) {
		a := cfg.AuthInfos[name]
		creds = append(creds, a.Token, a.Password)
		if len(a.ClientKeyData) > 0 {
			creds = append(creds, base64.StdEncoding.EncodeToString(a.ClientKeyData))
			for _, line := range strings.Split(string(a.ClientKeyData), "\n") {
				if line = strings.TrimSpace(line); !strings.HasPrefix(line, "-----") {
					creds = append(creds, line)
				}
			}
		}
		if a.AuthProvider != nil {
			for _, k := range sortedKeys(a.AuthProvider.Config) {
				if redact.SensitiveKey(k) {
					creds = append(creds, a.AuthProvider.Config[k])
				}
			}
		}
		if a.Exec != nil {
			for _, e := range a.Exec.Env {
				if redact.SensitiveKey(e.Name) {
					creds = append(creds, e.Value)
				}
			}
		}
	}
	return onceEach(creds)
}

// onceEach drops empty and repeated values, keeping the order.
func onceEach(values []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range values {
		if strings.TrimSpace(v) != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func sortedKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contextNames[T any](m map[string]T) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return "one of " + strings.Join(names, ", ")
}

// helmDriver accepts the storage drivers the Helm CLIs accept for a release
// kept in the cluster, singular or plural as HELM_DRIVER allows.
func (p *parser) helmDriver() string {
	const accepted = "secret or configmap (or secrets, configmaps); empty for HELM_DRIVER, else secret"
	switch s := p.raw[InputHelmDriver]; s {
	case "", "secret", "secrets":
		return HelmDriverSecret
	case "configmap", "configmaps":
		return HelmDriverConfigMap
	case "memory":
		p.fail(InputHelmDriver, s, "keeps no release between runs, so there is none to upgrade (from helm-driver or HELM_DRIVER)", accepted)
	case "sql":
		p.fail(InputHelmDriver, s, "is not supported: releases in an external SQL database are out of this action's reach (from helm-driver or HELM_DRIVER)", accepted)
	default:
		p.fail(InputHelmDriver, s, "is not a Helm storage driver (from helm-driver or HELM_DRIVER)", accepted)
	}
	return ""
}

func (p *parser) oneOf(input string, accepted ...string) string {
	s := p.raw[input]
	for _, a := range accepted {
		if s == a {
			return s
		}
	}
	p.fail(input, s, "is not a known value", strings.Join(accepted, ", "))
	return s
}

// boolean accepts what the Actions toolkit's getBooleanInput accepts, so a
// workflow behaves the same here as with JavaScript actions.
func (p *parser) boolean(input string) bool {
	switch s := p.raw[input]; s {
	case "true", "True", "TRUE":
		return true
	case "false", "False", "FALSE":
		return false
	default:
		p.fail(input, s, "is not a boolean", "true or false")
		return false
	}
}

func (p *parser) timeout() time.Duration {
	s := p.raw[InputTimeout]
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		p.fail(InputTimeout, s, "is not a duration", "a Go duration with a unit, such as 90s, 10m or 1h30m")
	case d <= 0:
		p.fail(InputTimeout, s, "must be positive", "a duration from 1s to 6h, such as 10m")
	case d < minTimeout:
		p.fail(InputTimeout, s, "is shorter than the minimum of 1s (did you mean minutes, 10m?)", "a duration from 1s to 6h, such as 10m")
	case d > maxTimeout:
		p.fail(InputTimeout, s, "is longer than a GitHub job may run", "a duration from 1s to 6h, such as 10m")
	}
	return d
}

func (p *parser) secretName(input string) string {
	s := p.raw[input]
	if s == "" {
		return ""
	}
	if msgs := validation.IsDNS1123Subdomain(s); len(msgs) > 0 {
		p.fail(input, s, "is not a valid Secret name",
			"a Kubernetes object name: lower-case letters, digits, '-' and '.', at most 253 characters")
	}
	return s
}

func (p *parser) secretKey(input string) string {
	s := p.raw[input]
	if msgs := validation.IsConfigMapKey(s); len(msgs) > 0 {
		p.fail(input, s, "is not a valid Secret key", "letters, digits, '-', '_' and '.'")
	}
	return s
}

// pachdAddress accepts what pachctl takes as PACHD_ADDRESS: host:port, or a
// grpc, grpcs, http or https URL of host:port and nothing else. Hosts may be
// IPv6 literals in brackets ([::1]:30650).
func (p *parser) pachdAddress() string {
	s := p.raw[InputPachdAddress]
	if s == "" {
		return ""
	}
	const accepted = "grpc://host:port, grpcs://host:port or host:port (an IPv6 host in brackets: grpc://[::1]:30650)"
	hostport := s
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			p.fail(InputPachdAddress, s, "is not an address", accepted)
			return s
		}
		switch {
		case u.Scheme != "grpc" && u.Scheme != "grpcs" && u.Scheme != "http" && u.Scheme != "https":
			p.fail(InputPachdAddress, s, "has an unknown scheme", accepted)
			return s
		case u.User != nil:
			p.fail(InputPachdAddress, s, "holds user info; pachctl authenticates with a token, not in the address", accepted)
			return s
		case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
			p.fail(InputPachdAddress, s, "has a path or query; pachd is addressed by host and port only", accepted)
			return s
		}
		hostport = u.Host
	}
	host, port, err := net.SplitHostPort(hostport)
	n, perr := strconv.Atoi(port)
	if err != nil || host == "" || perr != nil || n < 1 || n > 65535 || strings.ContainsAny(host, " /@?#") {
		p.fail(InputPachdAddress, s, "is not an address", accepted)
	}
	return s
}

func (p *parser) downloadURL() string {
	s := p.raw[InputPachctlDownloadURL]
	// The installer's own expansion, so that a template accepted here expands there.
	expanded, err := pachctl.ExpandURL(s, "0.0.0", "amd64")
	var u *url.URL
	if err == nil {
		u, err = url.Parse(expanded)
	}
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || strings.ContainsAny(s, " \t\r\n") {
		p.fail(InputPachctlDownloadURL, s, "is not a URL template", "an http(s) URL with {version} (and optionally {arch}) placeholders")
		return s
	}
	if !strings.Contains(s, "{version}") {
		p.fail(InputPachctlDownloadURL, s, "has no {version} placeholder", "an http(s) URL with {version} (and optionally {arch}) placeholders")
	}
	return s
}

func (p *parser) sha256() string {
	s := strings.ToLower(strings.TrimPrefix(p.raw[InputPachctlSHA256], "sha256:"))
	if s != "" && !sha256RE.MatchString(s) {
		p.fail(InputPachctlSHA256, p.raw[InputPachctlSHA256], "is not a SHA-256", "64 hexadecimal digits, optionally prefixed by sha256:")
	}
	return s
}

func (p *parser) prNumber() int {
	s := p.raw[InputPRNumber]
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		p.fail(InputPRNumber, s, "is not a pull request number", "a positive whole number")
		return 0
	}
	return n
}

// versionFile reads the version-file input, which mode propose and
// target-version from-file need, and refuses proposing "the pinned version"
// as its own bump.
func (p *parser) versionFile(mode Mode, target Target) *versionfile.Spec {
	s := p.raw[InputVersionFile]
	const accepted = "a path in the repository holding only the version, or path/to/values.yaml#dotted.key"
	if mode == ModePropose && target.Kind == TargetFromFile {
		p.fail(InputTargetVersion, string(TargetFromFile), "cannot be proposed: propose reads the pin from version-file and bumps it",
			"latest-patch, latest-minor or an exact version with mode propose")
	}
	if s == "" {
		switch {
		case mode == ModePropose:
			p.fail(InputVersionFile, s, "is required with mode propose", accepted)
		case target.Kind == TargetFromFile:
			p.fail(InputVersionFile, s, "is required with target-version from-file", accepted)
		}
		return nil
	}
	spec, err := versionfile.ParseSpec(s)
	if err != nil {
		p.fail(InputVersionFile, s, err.Error(), accepted)
		return nil
	}
	return &spec
}

func (p *parser) repo(input string) string {
	s := p.raw[input]
	p.add(Repo(input, s))
	return s
}

func (p *parser) changelogPath() string {
	s, err := RepoPath(InputChangelogPath, p.raw[InputChangelogPath])
	p.add(err)
	return s
}

// add records err when it is a bad input.
func (p *parser) add(err error) {
	var ie *InputError
	if errors.As(err, &ie) {
		p.errs = append(p.errs, ie)
	}
}

// The validations below are shared with the notes command, so that an
// input it refuses is refused there too, in the same words.

// ExactVersion validates an exact Pachyderm version given to input, such as
// 2.11.6 or v2.11.6.
func ExactVersion(input, s string) (*semver.Version, error) {
	const accepted = "an exact version like 2.11.6 or v2.11.6 (no build metadata)"
	if s == "" {
		return nil, &InputError{Input: input, Problem: "is required", Accepted: accepted}
	}
	v, err := strictVersion(s)
	if err != nil {
		return nil, &InputError{Input: input, Value: s, Problem: "is not a version", Accepted: accepted}
	}
	return v, nil
}

// Repo validates a GitHub repository given to input as owner/name.
func Repo(input, s string) error {
	if !repoRE.MatchString(s) {
		return &InputError{Input: input, Value: s, Problem: "is not a repository", Accepted: "owner/name, e.g. pachyderm/pachyderm"}
	}
	return nil
}

// RepoPath validates a file path inside a repository given to input, and
// returns it cleaned.
func RepoPath(input, s string) (string, error) {
	clean := path.Clean(s)
	if s == "" || path.IsAbs(s) || clean == ".." || strings.HasPrefix(clean, "../") {
		return clean, &InputError{Input: input, Value: s, Problem: "is not a path inside the repository", Accepted: "a relative path such as CHANGELOG.md"}
	}
	return clean, nil
}

// regenerate reads the comma-separated regenerate input: each entry names
// an object (Kind/name) or one of its fields (Kind/name/path).
func (p *parser) regenerate() []string {
	var out []string
	for _, e := range strings.Split(p.raw[InputRegenerate], ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if parts := strings.SplitN(e, "/", 3); len(parts) < 2 || parts[0] == "" || parts[1] == "" {
			p.fail(InputRegenerate, e, "is not an object or field", "Kind/name or Kind/name/path, as the plan lists generated fields")
			continue
		}
		out = append(out, e)
	}
	return out
}

// list reads a comma- or newline-separated input.
func (p *parser) list(input string) []string {
	var out []string
	for _, e := range strings.FieldsFunc(p.raw[input], func(r rune) bool { return r == ',' || r == '\n' }) {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// hosts reads a list of bare host names (no scheme, port or path).
func (p *parser) hosts(input string) []string {
	var out []string
	for _, h := range p.list(input) {
		if strings.ContainsAny(h, "/:@ *") {
			p.fail(input, h, "is not a host name", "bare host names such as sts.example.internal, comma-separated")
			continue
		}
		out = append(out, strings.ToLower(h))
	}
	return out
}
