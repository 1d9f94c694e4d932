// Package config reads the action's inputs — from GitHub Actions or from
// command-line flags — into one validated Config.
//
// Both sources are driven by the single table returned by Options, so the
// Action inputs, the CLI flags, action.yml and the README cannot drift apart:
// tests compare action.yml and the README against this table.
package config

import "github.com/pach-upgrade/pach-upgrade/internal/pachctl"

// Option describes one input of the action (and the CLI flag of the same name).
type Option struct {
	Name        string
	Default     string
	Description string
	Required    bool
	// Secret marks inputs whose value is a credential: it is masked in logs
	// before anything else is printed.
	Secret bool
	// Env is an environment variable read when the input is empty, as the
	// tool the input mirrors reads it (HELM_DRIVER for helm-driver).
	Env string
}

// Output describes one output of the action.
type Output struct {
	Name        string
	Description string
}

// Names of the inputs, so that code refers to them without string literals.
const (
	InputTargetVersion          = "target-version"
	InputRelease                = "release"
	InputNamespace              = "namespace"
	InputChart                  = "chart"
	InputChartRepo              = "chart-repo"
	InputChartVersion           = "chart-version"
	InputValuesFile             = "values-file"
	InputValues                 = "values"
	InputKubeconfig             = "kubeconfig"
	InputKubeContext            = "kube-context"
	InputHelmDriver             = "helm-driver"
	InputAllowExecPlugins       = "allow-exec-plugins"
	InputAllowCredentialHosts   = "allow-credential-hosts"
	InputMode                   = "mode"
	InputAllowMinor             = "allow-minor"
	InputAllowPrerelease        = "allow-prerelease"
	InputTimeout                = "timeout"
	InputRollbackOnFailure      = "rollback-on-failure"
	InputRecoverPending         = "recover-pending"
	InputForceConflicts         = "force-conflicts"
	InputBackupCommand          = "backup-command"
	InputBackupDir              = "backup-dir"
	InputRootTokenSecret        = "root-token-secret"
	InputEnterpriseRootToken    = "enterprise-root-token-secret"
	InputPostgresqlSecret       = "postgresql-secret"
	InputPostgresqlSecretKey    = "postgresql-secret-key"
	InputConsoleOAuthSecret     = "console-oauth-client-secret"
	InputEnterpriseLicenseKey   = "enterprise-license-key-secret"
	InputPachdOAuthClientSecret = "pachd-oauth-client-secret"
	InputEnterpriseSecret       = "enterprise-secret"
	InputUpstreamIDPsSecret     = "upstream-idps-secret"
	InputBuiltinPostgreSQL      = "builtin-postgresql"
	InputRegenerate             = "regenerate"
	InputPachctlVersionCheck    = "pachctl-version-check"
	InputPachdAddress           = "pachd-address"
	InputPachctlDownloadURL     = "pachctl-download-url"
	InputPachctlSHA256          = "pachctl-sha256"
	InputAllowUnverifiedPachctl = "allow-unverified-pachctl"
	InputGitHubToken            = "github-token"
	InputComment                = "comment"
	InputPRNumber               = "pr-number"
	InputChangelogRepo          = "changelog-repo"
	InputChangelogPath          = "changelog-path"
	InputVersionFile            = "version-file"
	InputExpectCurrentVersion   = "expect-current-version"
)

// Names of the outputs.
const (
	OutputResult          = "result"
	OutputPreviousVersion = "previous-version"
	OutputTargetVersion   = "target-version"
	OutputChartVersion    = "chart-version"
	OutputBackupPath      = "backup-path"
	OutputPRNumber        = "pr-number"
	OutputPRURL           = "pr-url"
	OutputVerifiedVersion = "verified-version"
)

// DefaultPachctlDownloadURL is where Pachyderm publishes pachctl release
// archives; {version} and {arch} are filled in at install time.
const DefaultPachctlDownloadURL = pachctl.DefaultURLTemplate

// SecretInputs are the inputs that name a Kubernetes Secret from the seed's
// secrets table (column A), in the table's order.
func SecretInputs() []string {
	return []string{
		InputRootTokenSecret,
		InputEnterpriseRootToken,
		InputPostgresqlSecret,
		InputConsoleOAuthSecret,
		InputEnterpriseLicenseKey,
		InputPachdOAuthClientSecret,
		InputEnterpriseSecret,
		InputUpstreamIDPsSecret,
	}
}

// Options is the one table of the action's inputs, in the order they are
// documented.
func Options() []Option {
	return []Option{
		{Name: InputTargetVersion, Required: true,
			Description: "Pachyderm version to upgrade to: an exact version (`2.11.6` or `v2.11.6`), `latest-patch` (newest patch of the current minor), `latest-minor` (newest release of the current major), or `from-file` (the version pinned in `version-file`)."},
		{Name: InputRelease, Default: "pachd",
			Description: "Name of the Helm release of Pachyderm."},
		{Name: InputNamespace, Default: "default",
			Description: "Kubernetes namespace of the release."},
		{Name: InputChart, Default: "pachyderm",
			Description: "Chart name in `chart-repo`, or a path to a local chart directory or archive."},
		{Name: InputChartRepo, Default: "https://helm.pachyderm.com",
			Description: "URL of the Helm chart repository that serves `index.yaml`."},
		{Name: InputChartVersion,
			Description: "Chart version to install, overriding the one the repository index maps to the target version."},
		{Name: InputValuesFile,
			Description: "Path to a values file merged over the release's current values: a regular text file of at most 4 MiB."},
		{Name: InputValues,
			Description: "Inline YAML values merged over `values-file` (highest precedence)."},
		{Name: InputKubeconfig, Secret: true,
			Description: "Content of a kubeconfig file. When empty, KUBECONFIG or the in-cluster configuration is used."},
		{Name: InputKubeContext,
			Description: "Context of the kubeconfig to use; empty means its current context."},
		{Name: InputAllowExecPlugins,
			Description: "Comma-separated programs (command names such as `oci`, or full paths) that configuration may make pach-upgrade run: a kubeconfig exec plugin, an AWS profile's `credential_process`, a Google credential file's `executable` source. Empty means none: an exec plugin that pach-upgrade does not replace with its own sign-in (EKS, GKE, AKS), and every such credential program, is refused, naming it, and never runs."},
		{Name: InputAllowCredentialHosts,
			Description: "Comma-separated host names, beyond the clouds' own, that cloud credential files and variables may send tokens to or read them from (a Google `token_url` or `credential_source.url`, an STS endpoint, an Entra ID authority host). Empty means only Google's, AWS's and Microsoft's sign-in hosts (and, for a Google credential source, the metadata servers and the job's OIDC endpoint)."},
		{Name: InputHelmDriver, Env: "HELM_DRIVER",
			Description: "Where Helm keeps the release's records: `secret` or `configmap` (`secrets` and `configmaps` too), as `HELM_DRIVER` for the Helm CLIs. Empty means the `HELM_DRIVER` environment variable, else `secret`. `memory` (keeps no release between runs) and `sql` (an external database) are refused."},
		{Name: InputMode, Default: "apply",
			Description: "`apply` upgrades the cluster; `plan` only renders the upgrade and reports the diff, changing nothing; `propose` opens or updates a pull request that bumps the version pinned in `version-file`, changing nothing in the cluster."},
		{Name: InputAllowMinor, Default: "true",
			Description: "Allow minor upgrades (2.10 to 2.11). Set to false for scheduled patch-only bumps."},
		{Name: InputAllowPrerelease, Default: "false",
			Description: "Allow an exact pre-release target such as `2.12.0-rc.1`."},
		{Name: InputTimeout, Default: "10m",
			Description: "How long the upgrade may take until every pod is Ready (Go duration, e.g. `10m`, `1h`)."},
		{Name: InputRollbackOnFailure, Default: "true",
			Description: "Roll back to the previous revision when the upgrade or its verification fails."},
		{Name: InputRecoverPending, Default: "false",
			Description: "When the release is stuck pending, roll it back to its last deployed revision before upgrading."},
		{Name: InputForceConflicts, Default: "false",
			Description: "Take over fields that another field manager owns (set by `kubectl scale`, an autoscaler or another tool), as `helm upgrade --force-conflicts` does. When false, such conflicts stop the upgrade before anything changes."},
		{Name: InputBackupCommand,
			Description: "Shell command that backs up the cluster; it runs before any change and a failure aborts the upgrade."},
		{Name: InputBackupDir,
			Description: "Directory for the release snapshot; defaults to the runner's temporary directory."},
		{Name: InputDatabaseBackup, Default: "true",
			Description: "Dump databases `pachyderm` and `dex` of the built-in PostgreSQL (`pg_dump` in pod `postgres-0`) into the backup folder before any change; a failed or empty dump aborts the upgrade. A failed upgrade whose new pachd added schema migrations is recovered by restoring this dump. With an external database nothing is dumped: back it up with `backup-command`."},
		{Name: InputDatabaseDumpFormat, Default: "custom",
			Description: "`pg_dump` format of the database dumps: `custom` (compressed, restored by `pg_restore`), `tar` or `plain` (SQL)."},
		{Name: InputQuiesce, Default: "true",
			Description: "Pause pachd with `pachctl enterprise pause` where enterprise is active, else scale pachd and the pipeline workers to zero, while the databases are dumped, so that nothing writes to them, and give their replica counts back afterwards (on failure and cancel too); the summary reports the downtime. `false` takes a live dump."},
		{Name: InputRootTokenSecret,
			Description: "Secret holding key `root-token` (sets `pachd.rootTokenSecretName`). Where Pachyderm auth is active (enterprise with `pachd.activateAuth`), pachctl signs in with this root token on every call to pachd (version check, health, pipelines, pause); without the input it is read from `pachd.rootTokenSecretName`, `pachd.rootToken` or the Secret `pachyderm-auth` that the chart generates, and a run that finds none refuses before any change."},
		{Name: InputEnterpriseRootToken,
			Description: "Secret holding key `root-token` for an Enterprise Server (sets `pachd.enterpriseRootTokenSecretName`)."},
		{Name: InputPostgresqlSecret,
			Description: "Secret holding your PostgreSQL password (sets `global.postgresql.postgresqlExistingSecretName`)."},
		{Name: InputPostgresqlSecretKey, Default: "postgresql-password",
			Description: "Key of the password in `postgresql-secret` (sets `global.postgresql.postgresqlExistingSecretKey`)."},
		{Name: InputConsoleOAuthSecret,
			Description: "Secret holding key `OAUTH_CLIENT_SECRET` (sets `console.config.oauthClientSecretSecretName`)."},
		{Name: InputEnterpriseLicenseKey,
			Description: "Secret holding key `enterprise-license-key` (sets `pachd.enterpriseLicenseKeySecretName`)."},
		{Name: InputPachdOAuthClientSecret,
			Description: "Secret holding key `pachd-oauth-client-secret` (sets `pachd.oauthClientSecretSecretName`)."},
		{Name: InputEnterpriseSecret,
			Description: "Secret holding key `enterprise-secret` (sets `pachd.enterpriseSecretSecretName`)."},
		{Name: InputUpstreamIDPsSecret,
			Description: "Secret holding key `upstream-idps` (sets `oidc.upstreamIDPsSecretName`)."},
		{Name: InputBuiltinPostgreSQL, Default: "auto",
			Description: "`auto`, `true` or `false`: carry the built-in PostgreSQL password from Secret `postgres` over into `global.postgresql.postgresqlPassword`; `auto` detects the built-in database from the release values."},
		{Name: InputRegenerate,
			Description: "Comma-separated generated fields (`Kind/name/path`, or `Kind/name` for all of an object's) the upgrade may regenerate; every other field the chart generates keeps its live value or fails the run."},
		{Name: InputPachctlVersionCheck, Default: "true",
			Description: "Install pachctl at the target version and require pachctl and pachd to report it after the upgrade."},
		{Name: InputPachdAddress,
			Description: "pachd address for the version check (e.g. `grpc://pachd.example.com:30650`); empty opens a port-forward to the `pachd` Service."},
		{Name: InputPachctlDownloadURL, Default: DefaultPachctlDownloadURL,
			Description: "URL template of the pachctl release archive; `{version}` and `{arch}` are replaced."},
		{Name: InputPachctlSHA256,
			Description: "Expected SHA-256 of the pachctl archive; empty means the digest the GitHub releases API reports."},
		{Name: InputAllowUnverifiedPachctl, Default: "false",
			Description: "Install a pachctl archive even when no checksum is available to verify it."},
		{Name: InputGitHubToken, Secret: true,
			Description: "Token for the GitHub API (PR comment, CHANGELOG, release digests); usually the workflow's `GITHUB_TOKEN`."},
		{Name: InputComment, Default: "true",
			Description: "Post or update one sticky comment with the result on the pull request."},
		{Name: InputPRNumber,
			Description: "Pull request to comment on; defaults to the one in the triggering event."},
		{Name: InputChangelogRepo, Default: "pachyderm/pachyderm",
			Description: "Repository (`owner/name`) whose CHANGELOG and releases are quoted in the job summary."},
		{Name: InputChangelogPath, Default: "CHANGELOG.md",
			Description: "Path of the CHANGELOG file in `changelog-repo`."},
		{Name: InputVersionFile,
			Description: "Where this repository pins the Pachyderm version, read through the GitHub API: a file holding only the version (`PACHYDERM_VERSION`) or a YAML key (`deploy/values.yaml#pachyderm.version`). Required by `mode: propose` and `target-version: from-file`."},
		{Name: InputExpectCurrentVersion,
			Description: "Pachyderm version the cluster must run before the run (e.g. the `previous-version` a plan job reported): any other version stops the run before anything changes. For rollouts across clusters, where a cluster changed by hand must not be upgraded blindly. Not with `mode: propose`."},
	}
}

// Outputs is the table of the action's outputs.
func Outputs() []Output {
	return []Output{
		{Name: OutputResult, Description: "`upgraded`, `no-op`, `planned`, `proposed`, `rolled-back`, `failed` or `cancelled` (stopped by a signal; the summary says how the next run recovers)."},
		{Name: OutputPreviousVersion, Description: "Pachyderm version before the run."},
		{Name: OutputTargetVersion, Description: "Pachyderm version the run upgraded (or planned) to."},
		{Name: OutputChartVersion, Description: "Chart version the run installed (or planned)."},
		{Name: OutputBackupPath, Description: "Path of the release snapshot written before the upgrade."},
		{Name: OutputDatabaseBackupPath, Description: "Folder of the database dumps written before the upgrade (their SHA-256 and size are in the release snapshot); empty when none was taken."},
		{Name: OutputPRNumber, Description: "Number of the bump pull request `propose` opened or updated."},
		{Name: OutputPRURL, Description: "Web address of the bump pull request `propose` opened or updated."},
		{Name: OutputVerifiedVersion, Description: "Pachyderm version pachctl and pachd both reported after the run: set only when `result` is `upgraded`, or `no-op` with the version check passed; empty otherwise. Pass it to the next clusters as their `target-version`."},
	}
}
