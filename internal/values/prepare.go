package values

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// ErrSecretNotFound is what a SecretReader wraps when the Secret does not
// exist; a Kubernetes NotFound API error is recognised too.
var ErrSecretNotFound = errors.New("secret not found")

// SecretReader reads a Secret's data. The cluster package implements it
// with client-go.
type SecretReader interface {
	SecretData(ctx context.Context, namespace, name string) (map[string][]byte, error)
}

// BuiltinMode is the builtin-postgresql input.
type BuiltinMode string

const (
	BuiltinAuto  BuiltinMode = "auto"
	BuiltinTrue  BuiltinMode = "true"
	BuiltinFalse BuiltinMode = "false"
)

// Input is what step 2 starts from.
type Input struct {
	Namespace string
	// ReleaseValues are the release's current user-supplied values (not the
	// chart defaults), ValuesFile the parsed values-file input, Inline the
	// parsed values input; see Merge for the precedence.
	ReleaseValues map[string]any
	ValuesFile    map[string]any
	Inline        map[string]any
	// SecretNames maps a secret input of SecretTable to the Secret's name.
	SecretNames map[string]string
	// PostgresqlSecretKey is the postgresql-secret-key input; empty means
	// the chart's default key.
	PostgresqlSecretKey string
	Builtin             BuiltinMode
}

// AppliedSecret records that a chart value now points at a user's Secret.
type AppliedSecret struct {
	Input    string
	Secret   string
	ChartKey string
}

// Result is the values to upgrade with and what was decided on the way.
type Result struct {
	// Values are the merged values with the secret settings and the
	// PostgreSQL password applied. They print redacted.
	Values Values
	// BuiltinPostgreSQL says whether the password was carried over, and
	// BuiltinReason why it was or was not (for the report).
	BuiltinPostgreSQL bool
	BuiltinReason     string
	Applied           []AppliedSecret
	// Carried lists the generated values carried over into the values
	// (the built-in PostgreSQL password), by object and field, never the
	// value: the same record the chart's other generated values get.
	Carried []CarriedValue
	// Secrets must be registered with the logger's masking before anything
	// else is logged.
	Secrets Masked
}

// CarriedValue is a value the chart generated at install that now lives in
// the values key that pins it.
type CarriedValue struct {
	Object, Path, ValuesKey string
}

// Prepare builds the values of the upgrade: it merges the layers, checks
// each Secret named by a secret input and points the chart at it, and, for
// the built-in PostgreSQL, carries the generated password over from Secret
// "postgres". Every problem found is reported together, so one run shows
// the user everything to fix. No credential value ever appears in an error.
func Prepare(ctx context.Context, r SecretReader, in Input) (*Result, error) {
	if in.Namespace == "" {
		return nil, errors.New("prepare values: namespace is required")
	}
	vals := Merge(in.ReleaseValues, in.ValuesFile, in.Inline)
	res := &Result{Values: vals}

	var errs []error
	known := map[string]bool{}
	for _, s := range SecretTable() {
		known[s.Input] = true
		name := in.SecretNames[s.Input]
		if name == "" {
			continue
		}
		applied, err := applySecret(ctx, r, in, vals, s, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		res.Applied = append(res.Applied, applied)
	}
	var unknown []string
	for input, name := range in.SecretNames {
		if !known[input] && name != "" {
			unknown = append(unknown, input)
		}
	}
	sort.Strings(unknown)
	for _, input := range unknown {
		errs = append(errs, fmt.Errorf("secret input %q is not in the secrets table", input))
	}

	builtin, reason, err := detectBuiltin(in, vals)
	res.BuiltinPostgreSQL, res.BuiltinReason = builtin, reason
	if err != nil {
		errs = append(errs, err)
	} else if builtin {
		pw, err := builtinPassword(ctx, r, in.Namespace)
		if err != nil {
			errs = append(errs, err)
		} else {
			Set(vals, BuiltinPasswordKey, pw)
			res.Secrets = append(res.Secrets, pw)
			// Listed only when the release's values did not pin it already,
			// as for the chart's other generated values.
			if prev, _ := Lookup(in.ReleaseValues, BuiltinPasswordKey); prev != pw {
				res.Carried = append(res.Carried, CarriedValue{Object: "Secret/" + BuiltinSecretName,
					Path: "data." + BuiltinSecretKey, ValuesKey: BuiltinPasswordKey})
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("prepare Helm values: %w", err)
	}
	return res, nil
}

func applySecret(ctx context.Context, r SecretReader, in Input, vals map[string]any, s SecretSetting, name string) (AppliedSecret, error) {
	if isSet(vals, s.PlainKey) {
		return AppliedSecret{}, fmt.Errorf("input %s (Secret %q) and value %s both set the same credential: keep one (set %s to null in the values input to drop it from the release)",
			s.Input, name, s.PlainKey, s.PlainKey)
	}
	keys := s.Keys
	if s.KeyInput != "" {
		key := in.PostgresqlSecretKey
		if key == "" {
			key = s.DefaultKey
		}
		keys = []string{key}
	}
	if _, err := SecretValue(ctx, r, in.Namespace, "input "+s.Input, name, keys); err != nil {
		return AppliedSecret{}, err
	}
	Set(vals, s.NameKey, name)
	if s.KeyChartKey != "" {
		Set(vals, s.KeyChartKey, keys[0])
	}
	return AppliedSecret{Input: s.Input, Secret: name, ChartKey: s.NameKey}, nil
}

// SecretValue reads the first of keys present in Secret ns/name, which
// source (an input, "input root-token-secret", or a value) names: the one
// check of a named Secret, which Prepare applies to every secret input.
// Its errors name source, the Secret and the keys, never a value.
func SecretValue(ctx context.Context, r SecretReader, ns, source, name string, keys []string) (string, error) {
	data, err := r.SecretData(ctx, ns, name)
	if err != nil {
		if isNotFound(err) {
			return "", fmt.Errorf("%s: Secret %s/%s not found: %w", source, ns, name, ErrSecretNotFound)
		}
		return "", fmt.Errorf("%s: read Secret %s/%s: %w", source, ns, name, err)
	}
	if err := requireKey(data, keys); err != nil {
		return "", fmt.Errorf("%s: Secret %s/%s: %w", source, ns, name, err)
	}
	for _, k := range keys {
		if v, ok := data[k]; ok {
			return string(v), nil
		}
	}
	return "", nil // requireKey found one
}

// requireKey checks that one of keys is present and not empty. It names
// keys but never prints a value.
func requireKey(data map[string][]byte, keys []string) error {
	for _, k := range keys {
		if v, ok := data[k]; ok {
			if len(v) == 0 {
				return fmt.Errorf("key %q is empty", k)
			}
			return nil
		}
	}
	have := make([]string, 0, len(data))
	for k := range data {
		have = append(have, k)
	}
	sort.Strings(have)
	want := `key "` + strings.Join(keys, `" or "`) + `"`
	if len(have) == 0 {
		return missingKeyError(fmt.Sprintf("%s missing (the Secret has no keys)", want))
	}
	return missingKeyError(fmt.Sprintf("%s missing (the Secret has keys %s)", want, strings.Join(have, ", ")))
}

// ErrSecretKeyMissing is what an error of SecretValue matches when the
// Secret exists but holds none of the keys.
var ErrSecretKeyMissing = errors.New("secret key missing")

type missingKeyError string

func (e missingKeyError) Error() string        { return string(e) }
func (e missingKeyError) Is(target error) bool { return target == ErrSecretKeyMissing }

// detectBuiltin decides whether the release uses the chart's own
// PostgreSQL. In auto mode it does when postgresql.enabled is not false
// (the chart's default is true) and nothing points at an external
// database's Secret.
func detectBuiltin(in Input, vals map[string]any) (bool, string, error) {
	external := in.SecretNames["postgresql-secret"]
	existing, _ := Lookup(vals, "global.postgresql.postgresqlExistingSecretName")
	existingName, _ := existing.(string)
	switch in.Builtin {
	case BuiltinFalse:
		return false, "builtin-postgresql is false", nil
	case BuiltinTrue:
		if external != "" {
			return false, "", fmt.Errorf("builtin-postgresql true conflicts with input postgresql-secret (Secret %q): the built-in PostgreSQL cannot take its password from a Secret", external)
		}
		if existingName != "" {
			return false, "", fmt.Errorf("builtin-postgresql true conflicts with value global.postgresql.postgresqlExistingSecretName (%q): the built-in PostgreSQL cannot take its password from a Secret", existingName)
		}
		return true, "builtin-postgresql is true", nil
	case BuiltinAuto, "":
	default:
		return false, "", fmt.Errorf("builtin-postgresql %q: want auto, true or false", in.Builtin)
	}
	if v, ok := Lookup(vals, "postgresql.enabled"); ok && !truthy(v) {
		return false, "postgresql.enabled is false in the values", nil
	}
	if external != "" {
		return false, "input postgresql-secret names the database password's Secret", nil
	}
	if existingName != "" {
		return false, "global.postgresql.postgresqlExistingSecretName is set in the values", nil
	}
	return true, "postgresql.enabled is true or left at the chart's default (true)", nil
}

// truthy reads a chart condition the way Helm does for a bool value; a
// null or missing value leaves the chart default (true) in place.
func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case bool:
		return t
	case string:
		return !slices.Contains([]string{"false", "False", "FALSE", ""}, t)
	}
	return true
}

func builtinPassword(ctx context.Context, r SecretReader, ns string) (string, error) {
	data, err := r.SecretData(ctx, ns, BuiltinSecretName)
	if err != nil {
		if isNotFound(err) {
			return "", fmt.Errorf("built-in PostgreSQL: Secret %s/%s not found; it should hold the generated password under key %q (set builtin-postgresql to false if the release uses an external database): %w",
				ns, BuiltinSecretName, BuiltinSecretKey, ErrSecretNotFound)
		}
		return "", fmt.Errorf("built-in PostgreSQL: read Secret %s/%s: %w", ns, BuiltinSecretName, err)
	}
	pw, ok := data[BuiltinSecretKey]
	if !ok || len(pw) == 0 {
		state := "missing"
		if ok {
			state = "empty"
		}
		return "", fmt.Errorf("built-in PostgreSQL: Secret %s/%s: key %q %s", ns, BuiltinSecretName, BuiltinSecretKey, state)
	}
	return string(pw), nil
}

func isNotFound(err error) bool {
	return errors.Is(err, ErrSecretNotFound) || apierrors.IsNotFound(err)
}
