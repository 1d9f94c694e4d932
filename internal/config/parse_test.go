package config

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const validKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:6443
users:
- name: u
  user:
    token: kube-token-s3cr3t
contexts:
- name: staging
  context: {cluster: c, user: u}
- name: prod
  context: {cluster: c, user: u}
current-context: staging
`

func TestParseDefaults(t *testing.T) {
	c, err := Parse(map[string]string{InputTargetVersion: "v2.11.6"})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Target.Kind != TargetExact || c.Target.Version.String() != "2.11.6" {
		t.Errorf("target = %+v, want exact 2.11.6", c.Target)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"release", c.Release, "pachd"},
		{"namespace", c.Namespace, "default"},
		{"chart", c.Chart, "pachyderm"},
		{"chart-repo", c.ChartRepo, "https://helm.pachyderm.com"},
		{"mode", c.Mode, ModeApply},
		{"allow-minor", c.AllowMinor, true},
		{"allow-prerelease", c.AllowPrerelease, false},
		{"timeout", c.Timeout, 10 * time.Minute},
		{"rollback-on-failure", c.RollbackOnFailure, true},
		{"recover-pending", c.RecoverPending, false},
		{"force-conflicts", c.ForceConflicts, false},
		{"postgresql-secret-key", c.PostgresqlSecretKey, "postgresql-password"},
		{"builtin-postgresql", c.BuiltinPostgreSQL, BuiltinPostgreSQLAuto},
		{"pachctl-version-check", c.PachctlVersionCheck, true},
		{"pachctl-download-url", c.PachctlDownloadURL, DefaultPachctlDownloadURL},
		{"comment", c.Comment, true},
		{"changelog-repo", c.ChangelogRepo, "pachyderm/pachyderm"},
		{"changelog-path", c.ChangelogPath, "CHANGELOG.md"},
		{"secret names", len(c.SecretNames), 0},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestParseAcceptsEveryInput(t *testing.T) {
	dir := t.TempDir()
	vf := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(vf, []byte("pachd:\n  replicas: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	raw := map[string]string{
		InputTargetVersion:          "latest-patch",
		InputRelease:                "pach",
		InputNamespace:              "pachyderm-staging",
		InputChart:                  "pachyderm",
		InputChartRepo:              "http://127.0.0.1:8080/charts/",
		InputChartVersion:           "2.11.6",
		InputValuesFile:             vf,
		InputValues:                 "console:\n  enabled: false\n",
		InputKubeconfig:             validKubeconfig,
		InputKubeContext:            "prod",
		InputHelmDriver:             "configmaps",
		InputAllowExecPlugins:       "oci, /opt/bin/vault-kube\n",
		InputAllowCredentialHosts:   "STS.Corp.example,token.corp.example",
		InputMode:                   "plan",
		InputAllowMinor:             "False",
		InputAllowPrerelease:        "TRUE",
		InputTimeout:                "1h30m",
		InputRollbackOnFailure:      "false",
		InputRecoverPending:         "true",
		InputForceConflicts:         "true",
		InputBackupCommand:          "velero backup create pach",
		InputBackupDir:              dir,
		InputRootTokenSecret:        "root-token",
		InputEnterpriseRootToken:    "ent-root",
		InputPostgresqlSecret:       "my.pg",
		InputPostgresqlSecretKey:    "password_1",
		InputConsoleOAuthSecret:     "console-oauth",
		InputEnterpriseLicenseKey:   "license",
		InputPachdOAuthClientSecret: "pachd-oauth",
		InputEnterpriseSecret:       "ent",
		InputUpstreamIDPsSecret:     "idps",
		InputBuiltinPostgreSQL:      "false",
		InputRegenerate:             " Secret/pachyderm-session , Deployment/pachd/spec.template.metadata.annotations[\"x.y\"],",
		InputPachctlVersionCheck:    "false",
		InputPachdAddress:           "grpc://127.0.0.1:30650",
		InputPachctlDownloadURL:     "https://mirror.example/pachctl/{version}/pachctl_{version}_linux_{arch}.tar.gz",
		InputPachctlSHA256:          "sha256:" + strings.Repeat("AB", 32),
		InputAllowUnverifiedPachctl: "true",
		InputGitHubToken:            "ghs_token",
		InputComment:                "false",
		InputPRNumber:               "42",
		InputChangelogRepo:          "pachyderm/pachyderm",
		InputChangelogPath:          "docs/CHANGELOG.md",
		InputVersionFile:            "deploy/values.yaml#pachyderm.version",
		InputExpectCurrentVersion:   "v2.11.5",
		InputDatabaseBackup:         "false",
		InputDatabaseDumpFormat:     "plain",
		InputQuiesce:                "false",
	}
	if len(raw) != len(Options()) {
		t.Fatalf("test covers %d inputs, table has %d: cover the new input", len(raw), len(Options()))
	}
	c, err := Parse(raw)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Target.Kind != TargetLatestPatch || c.Mode != ModePlan || c.AllowMinor || !c.AllowPrerelease ||
		c.Timeout != 90*time.Minute || c.RollbackOnFailure || !c.RecoverPending || !c.ForceConflicts || c.KubeContext != "prod" ||
		c.ChartRepo != "http://127.0.0.1:8080/charts" || c.ChartVersion.String() != "2.11.6" || c.PRNumber != 42 ||
		c.PachctlSHA256 != strings.Repeat("ab", 32) || c.BuiltinPostgreSQL != BuiltinPostgreSQLFalse ||
		c.ChangelogPath != "docs/CHANGELOG.md" || c.Comment || !c.AllowUnverifiedPachctl ||
		c.VersionFile == nil || c.HelmDriver != HelmDriverConfigMap || c.VersionFile.String() != "deploy/values.yaml#pachyderm.version" ||
		c.ExpectCurrentVersion == nil || c.ExpectCurrentVersion.String() != "2.11.5" {
		t.Errorf("parsed config does not reflect inputs: %+v", c)
	}
	if want := []string{"oci", "/opt/bin/vault-kube"}; !slices.Equal(c.AllowExecPlugins, want) {
		t.Errorf("allow-exec-plugins = %q, want %q", c.AllowExecPlugins, want)
	}
	if want := []string{"sts.corp.example", "token.corp.example"}; !slices.Equal(c.AllowCredentialHosts, want) {
		t.Errorf("allow-credential-hosts = %q, want %q", c.AllowCredentialHosts, want)
	}
	if _, err := Parse(map[string]string{InputTargetVersion: "2.11.6", InputAllowCredentialHosts: "https://evil.example/token"}); err == nil ||
		!strings.Contains(err.Error(), InputAllowCredentialHosts) {
		t.Errorf("a URL in allow-credential-hosts: error %v, want the input named", err)
	}
	if c.Database != (DatabaseOptions{Backup: false, DumpFormat: "plain", Quiesce: false}) {
		t.Errorf("database options = %+v, want no backup, plain, no quiesce", c.Database)
	}
	if want := []string{"Secret/pachyderm-session", `Deployment/pachd/spec.template.metadata.annotations["x.y"]`}; !slices.Equal(c.Regenerate, want) {
		t.Errorf("regenerate = %q, want %q", c.Regenerate, want)
	}
	if got := c.ValuesFromFile["pachd"].(map[string]any)["replicas"]; got != float64(2) {
		t.Errorf("values-file not parsed: pachd.replicas = %v", got)
	}
	if got := c.Values["console"].(map[string]any)["enabled"]; got != false {
		t.Errorf("inline values not parsed: console.enabled = %v", got)
	}
	if len(c.SecretNames) != len(SecretInputs()) || c.SecretNames[InputPostgresqlSecret] != "my.pg" {
		t.Errorf("secret names = %v", c.SecretNames)
	}
	masks := strings.Join(c.SecretValues(), "\n")
	for _, s := range []string{"ghs_token", "kube-token-s3cr3t"} {
		if !strings.Contains(masks, s) {
			t.Errorf("SecretValues misses %q", s)
		}
	}
}

func TestParseRejectsBadInputs(t *testing.T) {
	dir := t.TempDir()
	badYAML := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badYAML, []byte("pachd: [unclosed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listYAML := filepath.Join(dir, "list.yaml")
	if err := os.WriteFile(listYAML, []byte("- a\n- b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		input string
		value string
		extra map[string]string
	}{
		{"empty target", InputTargetVersion, "", nil},
		{"regenerate without a name", InputRegenerate, "Secret/a/data.x,Secret", nil},
		{"unknown dump format", InputDatabaseDumpFormat, "directory", nil},
		{"partial version", InputTargetVersion, "3.0", nil},
		{"major only", InputTargetVersion, "2", nil},
		{"latest", InputTargetVersion, "latest", nil},
		{"garbage target", InputTargetVersion, "two.eleven", nil},
		{"leading zero", InputTargetVersion, "2.011.6", nil},
		{"double v", InputTargetVersion, "vv2.11.6", nil},
		{"build metadata", InputTargetVersion, "2.11.6+build.1", nil},
		{"prerelease not allowed", InputTargetVersion, "v2.11.6-rc.1", nil},
		{"unknown mode", InputMode, "yolo", nil},
		{"mode upper case", InputMode, "APPLY", nil},
		{"negative timeout", InputTimeout, "-5m", nil},
		{"zero timeout", InputTimeout, "0s", nil},
		{"garbage timeout", InputTimeout, "ten minutes", nil},
		{"unitless timeout", InputTimeout, "600", nil},
		{"timeout over job limit", InputTimeout, "7h", nil},
		{"timeout of 1ns", InputTimeout, "1ns", nil},
		{"timeout in ms for minutes", InputTimeout, "10ms", nil},
		{"timeout under a second", InputTimeout, "999ms", nil},
		{"bad boolean allow-minor", InputAllowMinor, "yes", nil},
		{"bad boolean rollback", InputRollbackOnFailure, "1", nil},
		{"bad boolean comment", InputComment, "sometimes", nil},
		{"inline values do not parse", InputValues, "pachd: {image: [}", nil},
		{"inline values not a map", InputValues, "- a\n- b", nil},
		{"values-file missing", InputValuesFile, filepath.Join(dir, "nope.yaml"), nil},
		{"values-file bad yaml", InputValuesFile, badYAML, nil},
		{"values-file a list", InputValuesFile, listYAML, nil},
		{"kubeconfig does not parse", InputKubeconfig, "this: is: not: yaml: [", nil},
		{"kubeconfig without contexts", InputKubeconfig, "apiVersion: v1\nkind: Config\n", nil},
		{"kube-context unknown", InputKubeContext, "nope", map[string]string{InputKubeconfig: validKubeconfig}},
		{"release upper case", InputRelease, "Pachd", nil},
		{"release too long", InputRelease, strings.Repeat("a", 54), nil},
		{"release with underscore", InputRelease, "pach_d", nil},
		{"namespace with dot", InputNamespace, "pach.prod", nil},
		{"namespace too long", InputNamespace, strings.Repeat("n", 64), nil},
		{"secret name upper case", InputRootTokenSecret, "RootToken", nil},
		{"secret name with slash", InputPostgresqlSecret, "ns/postgres", nil},
		{"secret name with space", InputUpstreamIDPsSecret, "my idps", nil},
		{"secret name too long", InputEnterpriseSecret, strings.Repeat("s", 254), nil},
		{"secret key with slash", InputPostgresqlSecretKey, "a/b", nil},
		{"builtin-postgresql unknown", InputBuiltinPostgreSQL, "maybe", nil},
		{"builtin-postgresql true with secret", InputBuiltinPostgreSQL, "true", map[string]string{InputPostgresqlSecret: "pg"}},
		{"chart-repo not a URL", InputChartRepo, "helm.pachyderm.com", nil},
		{"chart-repo ftp", InputChartRepo, "ftp://charts.example/", nil},
		{"chart name with space", InputChart, "pachyderm chart", nil},
		{"local chart missing", InputChart, "./no/such/chart", nil},
		{"chart-version partial", InputChartVersion, "2.11", nil},
		{"expect-current-version partial", InputExpectCurrentVersion, "2.11", nil},
		{"expect-current-version a selector", InputExpectCurrentVersion, "latest-patch", nil},
		{"expect-current-version with propose", InputExpectCurrentVersion, "2.11.5", map[string]string{InputMode: "propose", InputGitHubToken: "t", InputVersionFile: "PACHYDERM_VERSION"}},
		{"pachd-address no port", InputPachdAddress, "grpc://pachd", nil},
		{"pachd-address bad scheme", InputPachdAddress, "ftp://pachd:30650", nil},
		{"pachd-address port out of range", InputPachdAddress, "pachd:70000", nil},
		{"pachd-address bare IPv6 without brackets", InputPachdAddress, "::1:30650", nil},
		{"pachd-address with a path", InputPachdAddress, "grpc://pachd:30650/x", nil},
		{"pachd-address with user info", InputPachdAddress, "grpc://u:p@pachd:30650", nil},
		{"pachd-address with a query", InputPachdAddress, "grpcs://pachd:443?insecure=1", nil},
		{"pachd-address empty host", InputPachdAddress, "grpc://:30650", nil},
		{"pachd-address port zero", InputPachdAddress, "pachd:0", nil},
		{"pachd-address named port", InputPachdAddress, "pachd:grpc", nil},
		{"download URL without version", InputPachctlDownloadURL, "https://mirror.example/pachctl.tar.gz", nil},
		{"download URL not http", InputPachctlDownloadURL, "file:///tmp/{version}.tgz", nil},
		{"sha256 too short", InputPachctlSHA256, "abc123", nil},
		{"sha256 not hex", InputPachctlSHA256, strings.Repeat("z", 64), nil},
		{"pr-number negative", InputPRNumber, "-3", nil},
		{"pr-number garbage", InputPRNumber, "#12", nil},
		{"changelog-repo without owner", InputChangelogRepo, "pachyderm", nil},
		{"changelog-path escapes repo", InputChangelogPath, "../secrets", nil},
		{"changelog-path absolute", InputChangelogPath, "/etc/passwd", nil},
		{"unknown input", "target-versoin", "2.11.6", nil},
		{"helm-driver memory", InputHelmDriver, "memory", nil},
		{"helm-driver unknown", InputHelmDriver, "etcd", nil},
		{"propose without version-file", InputVersionFile, "", map[string]string{InputMode: "propose", InputGitHubToken: "t"}},
		{"from-file without version-file", InputVersionFile, "", map[string]string{InputTargetVersion: "from-file"}},
		{"version-file outside the repo", InputVersionFile, "../values.yaml#a.b", nil},
		{"version-file empty key", InputVersionFile, "values.yaml#a..b", nil},
		{"propose without token", InputGitHubToken, "", map[string]string{InputMode: "propose", InputVersionFile: "V"}},
		{"propose from-file", InputTargetVersion, "from-file", map[string]string{InputMode: "propose", InputVersionFile: "V", InputGitHubToken: "t"}},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d bad-input cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := map[string]string{InputTargetVersion: "2.11.6"}
			if tc.input == InputTargetVersion {
				delete(raw, InputTargetVersion)
			}
			for k, v := range tc.extra {
				raw[k] = v
			}
			raw[tc.input] = tc.value
			_, err := Parse(raw)
			if err == nil {
				t.Fatalf("Parse accepted %s=%q", tc.input, tc.value)
			}
			if !IsInputError(err) {
				t.Fatalf("error %v is not an InputError", err)
			}
			var errs InputErrors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("want exactly one input error, got %v", err)
			}
			if errs[0].Input != tc.input {
				t.Errorf("error names input %q, want %q: %v", errs[0].Input, tc.input, err)
			}
			if !strings.Contains(err.Error(), tc.input) || errs[0].Accepted == "" {
				t.Errorf("error %q should name the input and say what is accepted", err)
			}
		})
	}
}

func TestParseReportsAllBadInputsAtOnce(t *testing.T) {
	_, err := Parse(map[string]string{InputTargetVersion: "latest", InputMode: "x", InputTimeout: "-1s"})
	var errs InputErrors
	if !errors.As(err, &errs) || len(errs) != 3 {
		t.Fatalf("want 3 input errors, got %v", err)
	}
}

func TestSecretInputValuesNeverInErrors(t *testing.T) {
	const token = "kube-token-s3cr3t"
	_, err := Parse(map[string]string{
		InputTargetVersion: "2.11.6",
		InputKubeconfig:    strings.Replace(validKubeconfig, "current-context: staging", "current-context: [", 1),
		InputValues:        "password: " + token + "\n  bad: [",
	})
	if err == nil {
		t.Fatal("want errors")
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error leaks a credential: %v", err)
	}
}

func TestActionsAndFlagsAgree(t *testing.T) {
	env := map[string]string{
		"GITHUB_ACTIONS":              "true",
		"INPUT_TARGET-VERSION":        "2.11.6",
		"INPUT_NAMESPACE":             "pach",
		"INPUT_TIMEOUT":               "5m",
		"INPUT_ROOT-TOKEN-SECRET":     "root",
		"INPUT_MODE":                  "plan",
		"INPUT_ALLOW-MINOR":           "false",
		"INPUT_PACHD-ADDRESS":         "127.0.0.1:30650",
		"INPUT_BUILTIN-POSTGRESQL":    "true",
		"INPUT_CHANGELOG-PATH":        "CHANGELOG.md",
		"INPUT_BACKUP-COMMAND":        "true",
		"INPUT_VALUES":                "a: 1",
		"INPUT_PACHCTL-VERSION-CHECK": "false",
	}
	getenv := func(k string) string { return env[k] }
	if !InActions(getenv) {
		t.Fatal("InActions = false with GITHUB_ACTIONS=true")
	}
	fromEnv, err := FromActions(context.Background(), getenv)
	if err != nil {
		t.Fatalf("FromActions: %v", err)
	}
	var args []string
	for k, v := range env {
		if name, ok := strings.CutPrefix(k, "INPUT_"); ok {
			args = append(args, "--"+strings.ToLower(name), v)
		}
	}
	fromFlags, err := FromFlags(context.Background(), args, getenv, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("FromFlags: %v", err)
	}
	if !reflect.DeepEqual(fromEnv, fromFlags) {
		t.Errorf("Actions and flags disagree:\nenv   %+v\nflags %+v", fromEnv, fromFlags)
	}
	if fromEnv.Namespace != "pach" || fromEnv.Mode != ModePlan || fromEnv.SecretNames[InputRootTokenSecret] != "root" {
		t.Errorf("inputs not read: %+v", fromEnv)
	}
}

func TestFlagsUsageAndErrors(t *testing.T) {
	var out bytes.Buffer
	if _, err := FromFlags(context.Background(), []string{"--help"}, noEnv, &out); !errors.Is(err, ErrHelp) {
		t.Fatalf("--help: err = %v, want ErrHelp", err)
	}
	for _, o := range Options() {
		if !strings.Contains(out.String(), "--"+o.Name) {
			t.Errorf("usage lacks --%s", o.Name)
		}
		if o.Default != "" && !strings.Contains(out.String(), o.Default) {
			t.Errorf("usage lacks the default of --%s (%s)", o.Name, o.Default)
		}
	}
	for _, args := range [][]string{{"--no-such-flag", "x"}, {"--target-version", "2.11.6", "extra"}} {
		if _, err := FromFlags(context.Background(), args, noEnv, &out); !IsInputError(err) {
			t.Errorf("FromFlags(context.Background(), %q) = %v, want an InputError", args, err)
		}
	}
}

// TestPachdAddressForms: every form pachctl takes is accepted, IPv6
// literals included.
func TestPachdAddressForms(t *testing.T) {
	for _, a := range []string{
		"grpc://[::1]:30650", "[::1]:30650", "grpcs://[2001:db8::7]:443", "grpc://pachd.example.com:30650",
		"pachd:30650", "127.0.0.1:30650", "https://pachd.example.com:443", "grpc://pachd:30650/",
	} {
		c, err := Parse(map[string]string{InputTargetVersion: "2.11.6", InputPachdAddress: a})
		if err != nil {
			t.Errorf("pachd-address %q refused: %v", a, err)
			continue
		}
		if c.PachdAddress != a {
			t.Errorf("pachd-address %q read as %q", a, c.PachdAddress)
		}
	}
}

func TestTimeoutBounds(t *testing.T) {
	for s, want := range map[string]time.Duration{"1s": time.Second, "10m": 10 * time.Minute, "6h": 6 * time.Hour} {
		c, err := Parse(map[string]string{InputTargetVersion: "2.11.6", InputTimeout: s})
		if err != nil || c.Timeout != want {
			t.Errorf("timeout %q: %v, %v", s, c, err)
		}
	}
	_, err := Parse(map[string]string{InputTargetVersion: "2.11.6", InputTimeout: "1ns"})
	if err == nil || !strings.Contains(err.Error(), "minimum of 1s") {
		t.Errorf("timeout 1ns: %v, want an error naming the minimum", err)
	}
}

func noEnv(string) string { return "" }

// TestHelmDriver: helm-driver, else HELM_DRIVER, else secret, in both
// modes; what cannot hold a release in the cluster is refused.
func TestHelmDriver(t *testing.T) {
	cases := []struct {
		input, env, want string
	}{
		{"", "", HelmDriverSecret},
		{"", "configmap", HelmDriverConfigMap},
		{"", "secrets", HelmDriverSecret},
		{"configmaps", "", HelmDriverConfigMap},
		{"secret", "configmap", HelmDriverSecret},
	}
	for _, tc := range cases {
		env := map[string]string{"GITHUB_ACTIONS": "true", "INPUT_TARGET-VERSION": "2.11.6", "HELM_DRIVER": tc.env, "INPUT_HELM-DRIVER": tc.input}
		getenv := func(k string) string { return env[k] }
		c, err := FromActions(context.Background(), getenv)
		if err != nil || c.HelmDriver != tc.want {
			t.Errorf("helm-driver %q, HELM_DRIVER %q: Actions %v, %v; want %s", tc.input, tc.env, c, err, tc.want)
		}
		args := []string{"--target-version", "2.11.6"}
		if tc.input != "" {
			args = append(args, "--helm-driver", tc.input)
		}
		c, err = FromFlags(context.Background(), args, getenv, &bytes.Buffer{})
		if err != nil || c.HelmDriver != tc.want {
			t.Errorf("helm-driver %q, HELM_DRIVER %q: flags %v, %v; want %s", tc.input, tc.env, c, err, tc.want)
		}
	}
	for _, bad := range []string{"memory", "sql", "Secret", "etcd"} {
		env := map[string]string{"HELM_DRIVER": bad}
		_, err := FromFlags(context.Background(), []string{"--target-version", "2.11.6"}, func(k string) string { return env[k] }, &bytes.Buffer{})
		var errs InputErrors
		if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Input != InputHelmDriver || !strings.Contains(err.Error(), "HELM_DRIVER") {
			t.Errorf("HELM_DRIVER=%s: %v, want one helm-driver error naming HELM_DRIVER", bad, err)
		}
	}
}
