package values

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const ns = "pachyderm"

// fakeSecrets is a SecretReader over fixed Secrets in one namespace.
type fakeSecrets struct {
	secrets map[string]map[string][]byte
	// apiNotFound makes a missing Secret look like client-go's NotFound
	// rather than the package's sentinel.
	apiNotFound bool
	// fail makes reading the named Secret fail with a transport error.
	fail  map[string]error
	reads []string
}

func (f *fakeSecrets) SecretData(_ context.Context, namespace, name string) (map[string][]byte, error) {
	f.reads = append(f.reads, namespace+"/"+name)
	if err := f.fail[name]; err != nil {
		return nil, err
	}
	d, ok := f.secrets[name]
	if namespace != ns || !ok {
		if f.apiNotFound {
			return nil, fmt.Errorf("get secret: %w", apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name))
		}
		return nil, fmt.Errorf("get secret %s/%s: %w", namespace, name, ErrSecretNotFound)
	}
	return d, nil
}

func secret(kv ...string) map[string][]byte {
	m := map[string][]byte{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

// allSecrets holds a valid Secret for every row of the table.
func allSecrets() map[string]map[string][]byte {
	return map[string]map[string][]byte{
		"rt":      secret("root-token", "t1"),
		"ert":     secret("enterprise-root-token", "t2"),
		"pg":      secret("postgresql-password", "p1"),
		"pg-cust": secret("password", "p2"),
		"console": secret("OAUTH_CLIENT_SECRET", "c1"),
		"license": secret("enterprise-license-key", "l1"),
		"pachd":   secret("pachd-oauth-client-secret", "o1"),
		"ent":     secret("enterprise-secret", "e1"),
		"idps":    secret("upstream-idps", "[]"),
		"empty":   secret("root-token", ""),
		"nokeys":  {},
		"other":   secret("token", "x", "alpha", "y"),
	}
}

func TestSecretTableShape(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range SecretTable() {
		if seen[s.Input] {
			t.Errorf("input %s listed twice", s.Input)
		}
		seen[s.Input] = true
		if s.Input == "" || s.NameKey == "" || s.PlainKey == "" || s.NameKey == s.PlainKey {
			t.Errorf("incomplete row %+v", s)
		}
		if (len(s.Keys) == 0) == (s.KeyInput == "") {
			t.Errorf("row %s must have either fixed keys or a key input", s.Input)
		}
		if s.KeyInput != "" && (s.KeyChartKey == "" || s.DefaultKey == "") {
			t.Errorf("row %s has a key input without chart key or default", s.Input)
		}
	}
	if len(seen) != 8 {
		t.Errorf("table has %d rows, the seed has 8", len(seen))
	}
	a, b := SecretTable(), SecretTable()
	a[0].Keys[0] = "changed"
	if b[0].Keys[0] == "changed" {
		t.Error("SecretTable shares state between callers")
	}
}

func TestPrepareSecrets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		names  map[string]string
		pgKey  string
		values string // inline values
		set    map[string]string
		errs   []string // substrings the error must contain; nil means success
		apiNF  bool
	}{
		{name: "no secret inputs", set: map[string]string{"pachd.rootTokenSecretName": ""}},
		{name: "every row", names: map[string]string{
			"root-token-secret": "rt", "enterprise-root-token-secret": "ert", "postgresql-secret": "pg",
			"console-oauth-client-secret": "console", "enterprise-license-key-secret": "license",
			"pachd-oauth-client-secret": "pachd", "enterprise-secret": "ent", "upstream-idps-secret": "idps"},
			set: map[string]string{
				"pachd.rootTokenSecretName":                      "rt",
				"pachd.enterpriseRootTokenSecretName":            "ert",
				"global.postgresql.postgresqlExistingSecretName": "pg",
				"global.postgresql.postgresqlExistingSecretKey":  "postgresql-password",
				"console.config.oauthClientSecretSecretName":     "console",
				"pachd.enterpriseLicenseKeySecretName":           "license",
				"pachd.oauthClientSecretSecretName":              "pachd",
				"pachd.enterpriseSecretSecretName":               "ent",
				"oidc.upstreamIDPsSecretName":                    "idps",
			}},
		{name: "postgres with a custom key", names: map[string]string{"postgresql-secret": "pg-cust"}, pgKey: "password",
			set: map[string]string{"global.postgresql.postgresqlExistingSecretKey": "password"}},
		{name: "postgres default key missing", names: map[string]string{"postgresql-secret": "pg-cust"},
			errs: []string{"postgresql-secret", "pachyderm/pg-cust", `"postgresql-password"`, "has keys password"}},
		{name: "enterprise root token under the seed's key", names: map[string]string{"enterprise-root-token-secret": "rt"},
			set: map[string]string{"pachd.enterpriseRootTokenSecretName": "rt"}},
		{name: "secret missing", names: map[string]string{"root-token-secret": "nope"},
			errs: []string{"root-token-secret", "pachyderm/nope", "not found"}},
		{name: "secret missing, client-go NotFound", names: map[string]string{"root-token-secret": "nope"}, apiNF: true,
			errs: []string{"root-token-secret", "pachyderm/nope", "not found"}},
		{name: "key missing", names: map[string]string{"root-token-secret": "other"},
			errs: []string{"root-token-secret", `"root-token"`, "alpha, token"}},
		{name: "no keys", names: map[string]string{"console-oauth-client-secret": "nokeys"},
			errs: []string{"console-oauth-client-secret", "OAUTH_CLIENT_SECRET", "no keys"}},
		{name: "key empty", names: map[string]string{"root-token-secret": "empty"},
			errs: []string{"root-token-secret", `"root-token" is empty`}},
		{name: "secret and plain value", names: map[string]string{"root-token-secret": "rt"}, values: "pachd: {rootToken: tok}",
			errs: []string{"root-token-secret", "pachd.rootToken"}},
		{name: "plain value nulled is no conflict", names: map[string]string{"root-token-secret": "rt"}, values: "pachd: {rootToken: null}",
			set: map[string]string{"pachd.rootTokenSecretName": "rt"}},
		{name: "plain empty is no conflict", names: map[string]string{"upstream-idps-secret": "idps"}, values: "oidc: {upstreamIDPs: ''}",
			set: map[string]string{"oidc.upstreamIDPsSecretName": "idps"}},
		{name: "list plain value conflicts", names: map[string]string{"upstream-idps-secret": "idps"}, values: "oidc: {upstreamIDPs: [{id: x}]}",
			errs: []string{"upstream-idps-secret", "oidc.upstreamIDPs"}},
		{name: "every problem reported at once",
			names: map[string]string{"root-token-secret": "nope", "enterprise-secret": "other", "bogus-secret": "x"},
			errs:  []string{"root-token-secret", "enterprise-secret", `"bogus-secret" is not in the secrets table`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &fakeSecrets{secrets: allSecrets(), apiNotFound: tc.apiNF}
			res, err := Prepare(context.Background(), r, Input{
				Namespace: ns, Inline: parseYAML(t, tc.values), SecretNames: tc.names,
				PostgresqlSecretKey: tc.pgKey, Builtin: BuiltinFalse,
			})
			if tc.errs != nil {
				if err == nil {
					t.Fatalf("Prepare succeeded with %v, want an error", res.Values)
				}
				for _, s := range tc.errs {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				if tc.errs[len(tc.errs)-1] == "not found" && !errors.Is(err, ErrSecretNotFound) {
					t.Errorf("error %v does not wrap ErrSecretNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for path, want := range tc.set {
				got, _ := Lookup(res.Values, path)
				if want == "" {
					if got != nil {
						t.Errorf("%s = %v, want unset", path, got)
					}
					continue
				}
				if got != want {
					t.Errorf("%s = %v, want %q", path, got, want)
				}
			}
			if len(res.Applied) != len(tc.names) {
				t.Errorf("applied %d secrets, want %d: %+v", len(res.Applied), len(tc.names), res.Applied)
			}
			if len(r.reads) != len(tc.names) {
				t.Errorf("read %v, want one read per secret input", r.reads)
			}
			if res.BuiltinPostgreSQL || len(res.Secrets) != 0 {
				t.Errorf("builtin-postgresql false still carried a password over")
			}
		})
	}
}

func TestPrepareReaderError(t *testing.T) {
	boom := errors.New("connection refused")
	r := &fakeSecrets{secrets: allSecrets(), fail: map[string]error{"rt": boom, "postgres": boom}}
	_, err := Prepare(context.Background(), r, Input{Namespace: ns, SecretNames: map[string]string{"root-token-secret": "rt"}, Builtin: BuiltinTrue})
	if !errors.Is(err, boom) || errors.Is(err, ErrSecretNotFound) {
		t.Fatalf("err = %v, want the reader's error wrapped, not a not-found", err)
	}
	for _, s := range []string{"read Secret pachyderm/rt", "read Secret pachyderm/postgres"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

func TestPrepareBuiltin(t *testing.T) {
	const pw = "generated-Pg-pass"
	for _, tc := range []struct {
		name     string
		mode     BuiltinMode
		release  string
		inline   string
		names    map[string]string
		postgres map[string][]byte // nil: no postgres Secret
		builtin  bool
		errs     []string
	}{
		{name: "auto, chart default", mode: BuiltinAuto, postgres: secret("postgresql-password", pw, "postgresql-postgres-password", "root"), builtin: true},
		{name: "empty mode means auto", postgres: secret("postgresql-password", pw), builtin: true},
		{name: "auto, enabled", mode: BuiltinAuto, release: "postgresql: {enabled: true}", postgres: secret("postgresql-password", pw), builtin: true},
		{name: "auto, old password in release values is replaced", mode: BuiltinAuto,
			release: "global: {postgresql: {postgresqlPassword: stale}}", postgres: secret("postgresql-password", pw), builtin: true},
		{name: "auto, already pinned by the release values", mode: BuiltinAuto,
			release: "global: {postgresql: {postgresqlPassword: " + pw + "}}", postgres: secret("postgresql-password", pw), builtin: true},
		{name: "auto, disabled in release", mode: BuiltinAuto, release: "postgresql: {enabled: false}", builtin: false},
		{name: "auto, disabled by the values input", mode: BuiltinAuto, release: "postgresql: {enabled: true}", inline: "postgresql: {enabled: false}", builtin: false},
		{name: "auto, existing secret in values", mode: BuiltinAuto,
			release: "global: {postgresql: {postgresqlExistingSecretName: pg}}", builtin: false},
		{name: "auto, postgresql-secret input", mode: BuiltinAuto, names: map[string]string{"postgresql-secret": "pg"}, builtin: false},
		{name: "false never reads postgres", mode: BuiltinFalse, builtin: false},
		{name: "true despite disabled", mode: BuiltinTrue, release: "postgresql: {enabled: false}", postgres: secret("postgresql-password", pw), builtin: true},
		{name: "true with postgresql-secret", mode: BuiltinTrue, names: map[string]string{"postgresql-secret": "pg"},
			postgres: secret("postgresql-password", pw), errs: []string{"builtin-postgresql", "postgresql-secret"}},
		{name: "true with existing secret value", mode: BuiltinTrue, release: "global: {postgresql: {postgresqlExistingSecretName: pg}}",
			postgres: secret("postgresql-password", pw), errs: []string{"builtin-postgresql", "postgresqlExistingSecretName"}},
		{name: "postgres secret missing", mode: BuiltinAuto,
			errs: []string{"Secret pachyderm/postgres not found", `"postgresql-password"`}},
		{name: "postgres key missing", mode: BuiltinAuto, postgres: secret("postgresql-postgres-password", "root"),
			errs: []string{"Secret pachyderm/postgres", `key "postgresql-password" missing`}},
		{name: "postgres key empty", mode: BuiltinTrue, postgres: secret("postgresql-password", ""),
			errs: []string{"Secret pachyderm/postgres", `key "postgresql-password" empty`}},
		{name: "bad mode", mode: "yes", errs: []string{`builtin-postgresql "yes"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secrets := allSecrets()
			if tc.postgres != nil {
				secrets["postgres"] = tc.postgres
			}
			r := &fakeSecrets{secrets: secrets}
			res, err := Prepare(context.Background(), r, Input{
				Namespace: ns, ReleaseValues: parseYAML(t, tc.release), Inline: parseYAML(t, tc.inline),
				SecretNames: tc.names, Builtin: tc.mode,
			})
			if tc.errs != nil {
				if err == nil {
					t.Fatalf("Prepare succeeded, want an error")
				}
				for _, s := range tc.errs {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := Lookup(res.Values, BuiltinPasswordKey)
			if res.BuiltinPostgreSQL != tc.builtin || res.BuiltinReason == "" {
				t.Fatalf("builtin = %v (%q), want %v", res.BuiltinPostgreSQL, res.BuiltinReason, tc.builtin)
			}
			if tc.builtin {
				if got != pw || len(res.Secrets) != 1 || res.Secrets[0] != pw {
					t.Errorf("password not carried over or not listed for masking (secrets: %d)", len(res.Secrets))
				}
				// Listed as a carried generated value unless the release's
				// values pinned it already.
				pinned := strings.Contains(tc.release, pw)
				want := []CarriedValue{{Object: "Secret/postgres", Path: "data.postgresql-password", ValuesKey: BuiltinPasswordKey}}
				if pinned {
					want = nil
				}
				if !reflect.DeepEqual(res.Carried, want) {
					t.Errorf("carried = %+v, want %+v", res.Carried, want)
				}
				return
			}
			if len(res.Secrets) != 0 {
				t.Errorf("secrets to mask = %d, want none", len(res.Secrets))
			}
			if got == pw {
				t.Error("password set without built-in PostgreSQL")
			}
			for _, read := range r.reads {
				if read == ns+"/postgres" {
					t.Error("read Secret postgres without built-in PostgreSQL")
				}
			}
		})
	}
}

// TestPasswordNeverPrinted runs Prepare through successes and failures with
// a distinctive password and looks for it in every error and every way the
// result can be printed.
func TestPasswordNeverPrinted(t *testing.T) {
	const pw = "Sup3r-Secret-PG-Pa55"
	scenarios := []Input{
		{Builtin: BuiltinAuto},
		{Builtin: BuiltinTrue, SecretNames: map[string]string{"root-token-secret": "missing"}},
		{Builtin: BuiltinAuto, SecretNames: map[string]string{"enterprise-secret": "other"}},
		{Builtin: BuiltinTrue, SecretNames: map[string]string{"postgresql-secret": "pg"}},
		// The password already sits in the release's values in plain text,
		// as it does after an earlier upgrade, and conflicts with a Secret.
		{Builtin: BuiltinFalse, SecretNames: map[string]string{"postgresql-secret": "pg"},
			ReleaseValues: map[string]any{"global": map[string]any{"postgresql": map[string]any{"postgresqlPassword": pw}}}},
		{Builtin: BuiltinTrue, ReleaseValues: map[string]any{"global": map[string]any{"postgresql": map[string]any{"postgresqlExistingSecretName": "pg"}}}},
	}
	var succeeded, failed int
	for i, in := range scenarios {
		in.Namespace = ns
		secrets := allSecrets()
		secrets["postgres"] = secret("postgresql-password", pw)
		res, err := Prepare(context.Background(), &fakeSecrets{secrets: secrets}, in)
		if err != nil {
			failed++
			for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				if strings.Contains(s, pw) {
					t.Errorf("scenario %d: error shows the password: %s", i, s)
				}
			}
			continue
		}
		succeeded++
		if v, _ := Lookup(res.Values, BuiltinPasswordKey); v != pw {
			t.Fatalf("scenario %d: password not in the values, so this test proves nothing", i)
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%T %[1]v"} {
			for _, x := range []any{res, *res, res.Values, res.Secrets} {
				if s := fmt.Sprintf(verb, x); strings.Contains(s, pw) || strings.Contains(s, fmt.Sprintf("%x", pw)) {
					t.Errorf("scenario %d: %s of %T shows the password: %s", i, verb, x, s)
				}
			}
		}
		for _, s := range []string{fmt.Sprint(res), fmt.Sprintln(res.Values), fmt.Sprint(Redact(res.Values))} {
			if strings.Contains(s, pw) {
				t.Errorf("scenario %d: printing shows the password: %s", i, s)
			}
		}
	}
	if succeeded == 0 || failed == 0 {
		t.Fatalf("want both successful and failing scenarios, got %d and %d", succeeded, failed)
	}
}
