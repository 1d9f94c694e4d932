package config

import (
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/pach-upgrade/pach-upgrade/internal/versionfile"
)

// Mode says whether the run changes the cluster.
type Mode string

const (
	// ModeApply upgrades the release.
	ModeApply Mode = "apply"
	// ModePlan renders the upgrade and reports it without changing anything.
	ModePlan Mode = "plan"
	// ModePropose opens (or updates) a pull request that bumps the version
	// pinned in version-file, leaving the cluster unchanged.
	ModePropose Mode = "propose"
)

// TargetKind says how the target version is chosen.
type TargetKind string

const (
	// TargetExact is an exact version such as 2.11.6.
	TargetExact TargetKind = "exact"
	// TargetLatestPatch is the newest patch release of the current minor.
	TargetLatestPatch TargetKind = "latest-patch"
	// TargetLatestMinor is the newest release of the current major.
	TargetLatestMinor TargetKind = "latest-minor"
	// TargetFromFile is the version pinned in version-file, as a merged
	// bump pull request left it.
	TargetFromFile TargetKind = "from-file"
)

// Target is the requested Pachyderm version.
type Target struct {
	Kind TargetKind
	// Version is set for TargetExact only.
	Version *semver.Version
}

// String returns the target as the user would write it.
func (t Target) String() string {
	if t.Kind == TargetExact && t.Version != nil {
		return t.Version.String()
	}
	return string(t.Kind)
}

// BuiltinPostgreSQL says whether the release uses the chart's own PostgreSQL,
// whose generated password must be carried over on every upgrade.
type BuiltinPostgreSQL string

const (
	BuiltinPostgreSQLAuto  BuiltinPostgreSQL = "auto"
	BuiltinPostgreSQLTrue  BuiltinPostgreSQL = "true"
	BuiltinPostgreSQLFalse BuiltinPostgreSQL = "false"
)

// Helm storage drivers a release in a cluster can be kept in. Helm's memory
// driver keeps nothing between runs, so there is no release to upgrade in
// it; its sql driver keeps releases in an external PostgreSQL database,
// which this action does not reach (and cannot be tested here).
const (
	HelmDriverSecret    = "secret"
	HelmDriverConfigMap = "configmap"
)

// Config is the validated set of inputs for one run.
type Config struct {
	Target       Target
	Release      string
	Namespace    string
	Chart        string
	ChartRepo    string
	ChartVersion *semver.Version

	// VersionFile is where the repository pins the Pachyderm version, for
	// mode propose and target-version from-file; nil when not given.
	VersionFile *versionfile.Spec

	ValuesFile string
	// Values is the inline `values` input, parsed.
	Values map[string]any
	// ValuesFromFile is the content of ValuesFile, parsed.
	ValuesFromFile map[string]any

	// Kubeconfig is the content of a kubeconfig file; empty means KUBECONFIG
	// or in-cluster configuration.
	Kubeconfig  string
	KubeContext string
	// HelmDriver is Helm's release storage: HelmDriverSecret or
	// HelmDriverConfigMap.
	HelmDriver string
	// AllowExecPlugins are the programs (base names or paths) that a
	// kubeconfig exec plugin, an AWS credential_process or a Google
	// executable credential source may run; every other one is refused.
	AllowExecPlugins []string
	// AllowCredentialHosts are host names, beyond the clouds' own, that
	// cloud credentials may be sent to.
	AllowCredentialHosts []string

	Mode              Mode
	AllowMinor        bool
	AllowPrerelease   bool
	Timeout           time.Duration
	RollbackOnFailure bool
	RecoverPending    bool
	ForceConflicts    bool
	BackupCommand     string
	BackupDir         string
	Database          DatabaseOptions

	// SecretNames maps a secret input (see SecretInputs) to the name of the
	// Kubernetes Secret the user gave for it; unset inputs are absent.
	SecretNames         map[string]string
	PostgresqlSecretKey string
	BuiltinPostgreSQL   BuiltinPostgreSQL
	// Regenerate lists generated fields (Kind/name/path or Kind/name) the
	// user accepts to have replaced.
	Regenerate []string

	PachctlVersionCheck    bool
	PachdAddress           string
	PachctlDownloadURL     string
	PachctlSHA256          string
	AllowUnverifiedPachctl bool

	GitHubToken   string
	Comment       bool
	PRNumber      int
	ChangelogRepo string
	ChangelogPath string

	// ExpectCurrentVersion is the version the cluster must run before the
	// run changes anything; nil when not given.
	ExpectCurrentVersion *semver.Version

	kubeCredentials []string
	urlCredentials  []string
}

// SecretValues returns every credential among the inputs, each once, so
// the logger can mask them before anything is printed.
func (c *Config) SecretValues() []string {
	// Not the kubeconfig itself: only its credential fields (see
	// kubeCredentials).
	out := []string{c.GitHubToken}
	out = append(out, c.kubeCredentials...)
	return onceEach(append(out, c.urlCredentials...))
}
