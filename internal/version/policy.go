// Package version holds the version policy of an upgrade (which moves between
// Pachyderm versions are safe) and resolves the requested target against a
// Helm chart repository index.
package version

import (
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Parse reads a Pachyderm version such as "2.11.6" or "v2.11.6". All three
// components are required, because "2.11" would silently mean 2.11.0.
func Parse(s string) (*semver.Version, error) {
	v, err := semver.StrictNewVersion(strings.TrimPrefix(strings.TrimSpace(s), "v"))
	if err != nil {
		return nil, fmt.Errorf("parse version %q: want MAJOR.MINOR.PATCH, e.g. 2.11.6: %w", s, err)
	}
	return v, nil
}

// Kind is the size of a move between two versions.
type Kind string

const (
	// NoOp means the release already runs the target version.
	NoOp Kind = "no-op"
	// Patch is an upgrade within one minor version.
	Patch Kind = "patch"
	// Minor is an upgrade to a newer minor version of the same major.
	Minor Kind = "minor"
)

// Decision is an upgrade the policy allows.
type Decision struct {
	Kind Kind
	From *semver.Version
	To   *semver.Version
}

// Policy says which upgrades are allowed beyond patch upgrades.
type Policy struct {
	// AllowMinor allows an upgrade to a newer minor version.
	AllowMinor bool
	// AllowPrerelease allows a pre-release target. The caller sets it only
	// when the user asked for that exact pre-release, so that a pre-release
	// is never picked up by accident.
	AllowPrerelease bool
}

// Refusal says why the policy refused an upgrade.
type Refusal string

const (
	RefuseMajor      Refusal = "major"
	RefuseDowngrade  Refusal = "downgrade"
	RefuseMinor      Refusal = "minor-not-allowed"
	RefusePrerelease Refusal = "prerelease-not-allowed"
)

// PolicyError is an upgrade the policy refused; nothing has been changed
// when it is returned.
type PolicyError struct {
	Reason Refusal
	From   *semver.Version
	To     *semver.Version
}

func (e *PolicyError) Error() string {
	switch e.Reason {
	case RefuseMajor:
		return fmt.Sprintf("refusing the major upgrade from %s to %s: the Pachyderm upgrade procedure must not be used between major versions, as it may corrupt data", e.From, e.To)
	case RefuseDowngrade:
		return fmt.Sprintf("refusing to downgrade from %s to %s: Pachyderm does not support downgrades and its database may be corrupted; restore a backup instead", e.From, e.To)
	case RefuseMinor:
		return fmt.Sprintf("refusing the minor upgrade from %s to %s: set allow-minor to true to allow it", e.From, e.To)
	case RefusePrerelease:
		return fmt.Sprintf("refusing the upgrade from %s to pre-release %s: set allow-prerelease to true and ask for the exact version", e.From, e.To)
	default:
		return fmt.Sprintf("refusing the upgrade from %s to %s: %s", e.From, e.To, e.Reason)
	}
}

// Check decides whether moving from the running version to the target is
// allowed. Build metadata is ignored, as semver says.
func (p Policy) Check(from, to *semver.Version) (Decision, error) {
	if from == nil || to == nil {
		return Decision{}, fmt.Errorf("check upgrade: both the current and the target version are required")
	}
	refuse := func(r Refusal) (Decision, error) {
		return Decision{}, &PolicyError{Reason: r, From: from, To: to}
	}
	switch c := to.Compare(from); {
	case c == 0:
		return Decision{Kind: NoOp, From: from, To: to}, nil
	case c < 0:
		return refuse(RefuseDowngrade)
	}
	if to.Major() != from.Major() {
		return refuse(RefuseMajor)
	}
	if to.Prerelease() != "" && !p.AllowPrerelease {
		return refuse(RefusePrerelease)
	}
	if to.Minor() != from.Minor() {
		if !p.AllowMinor {
			return refuse(RefuseMinor)
		}
		return Decision{Kind: Minor, From: from, To: to}, nil
	}
	return Decision{Kind: Patch, From: from, To: to}, nil
}
