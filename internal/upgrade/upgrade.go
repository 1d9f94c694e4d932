// Package upgrade runs the seed procedure's steps, in order, each a small
// function: lock, check the release, resolve the target under the version
// policy, release notes, backup, Helm values, pachctl, Helm upgrade with a
// readiness watch, version verification, and rollback on failure.
package upgrade
