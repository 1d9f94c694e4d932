package values

// SecretSetting is one row of the seed's secrets table: a credential that
// can come either from an existing Secret (column A) or as a plain value
// in the Helm values (column B), never both.
type SecretSetting struct {
	// Input is the action input naming the user's Secret.
	Input string
	// NameKey is the chart value that receives the Secret's name.
	NameKey string
	// Keys are the keys the chart reads from the Secret; at least one must
	// be present. Empty when KeyInput names the key instead.
	Keys []string
	// PlainKey is the chart value holding the same credential in plain
	// text; setting it together with Input is an error.
	PlainKey string
	// KeyInput is the input naming the key in the Secret, when the user
	// chooses it; its value goes to KeyChartKey, DefaultKey when not given.
	KeyInput    string
	KeyChartKey string
	DefaultKey  string
}

// SecretTable returns the seed's secrets table, in its order. It is a
// function so no caller can change the table for another.
//
// The chart (2.11) reads the enterprise root token from key
// "enterprise-root-token" while the seed's table says "root-token"; either
// is accepted.
func SecretTable() []SecretSetting {
	return []SecretSetting{
		{Input: "root-token-secret", NameKey: "pachd.rootTokenSecretName",
			Keys: []string{"root-token"}, PlainKey: "pachd.rootToken"},
		{Input: "enterprise-root-token-secret", NameKey: "pachd.enterpriseRootTokenSecretName",
			Keys: []string{"root-token", "enterprise-root-token"}, PlainKey: "pachd.enterpriseRootToken"},
		{Input: "postgresql-secret", NameKey: "global.postgresql.postgresqlExistingSecretName",
			PlainKey: "global.postgresql.postgresqlPassword", KeyInput: "postgresql-secret-key",
			KeyChartKey: "global.postgresql.postgresqlExistingSecretKey", DefaultKey: "postgresql-password"},
		{Input: "console-oauth-client-secret", NameKey: "console.config.oauthClientSecretSecretName",
			Keys: []string{"OAUTH_CLIENT_SECRET"}, PlainKey: "console.config.oauthClientSecret"},
		{Input: "enterprise-license-key-secret", NameKey: "pachd.enterpriseLicenseKeySecretName",
			Keys: []string{"enterprise-license-key"}, PlainKey: "pachd.enterpriseLicenseKey"},
		{Input: "pachd-oauth-client-secret", NameKey: "pachd.oauthClientSecretSecretName",
			Keys: []string{"pachd-oauth-client-secret"}, PlainKey: "pachd.oauthClientSecret"},
		{Input: "enterprise-secret", NameKey: "pachd.enterpriseSecretSecretName",
			Keys: []string{"enterprise-secret"}, PlainKey: "pachd.enterpriseSecret"},
		{Input: "upstream-idps-secret", NameKey: "oidc.upstreamIDPsSecretName",
			Keys: []string{"upstream-idps"}, PlainKey: "oidc.upstreamIDPs"},
	}
}

// Built-in PostgreSQL: the chart's subchart generates this Secret on the
// first install, and the seed says to carry its password over on every
// upgrade.
const (
	BuiltinSecretName  = "postgres"
	BuiltinSecretKey   = "postgresql-password"
	BuiltinPasswordKey = "global.postgresql.postgresqlPassword"
)
