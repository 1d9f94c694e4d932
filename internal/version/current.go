package version

import (
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Current is the version the release runs now.
type Current struct {
	// Version is the release's chart appVersion: the version Helm believes
	// it installed, and the one the policy compares against.
	Version *semver.Version
	// Warning is non-empty when the pachd image tag does not confirm
	// Version (for example pachd.image.tag is pinned in the values). It is
	// not an error: the caller reports it and carries on.
	Warning string
}

// CurrentVersion reads the running version from the Helm release's chart
// appVersion and cross-checks it with the pachd Deployment's image tag
// (pass "" when the Deployment or its tag could not be read).
func CurrentVersion(chartAppVersion, pachdImageTag string) (Current, error) {
	v, err := Parse(chartAppVersion)
	if err != nil {
		return Current{}, fmt.Errorf("current version from the release's chart appVersion: %w", err)
	}
	cur := Current{Version: v}
	tag := strings.TrimSpace(pachdImageTag)
	switch {
	case tag == "":
		cur.Warning = fmt.Sprintf("could not read the pachd image tag to confirm the release's version %s", v)
	default:
		iv, err := Parse(tag)
		switch {
		case err != nil:
			cur.Warning = fmt.Sprintf("pachd image tag %q is not a version; assuming the release's version %s", tag, v)
		case !iv.Equal(v):
			cur.Warning = fmt.Sprintf("pachd runs image tag %s but the release's chart appVersion is %s; using %s", iv, v, v)
		}
	}
	return cur, nil
}

// ImageTag returns the tag of a container image reference such as
// "registry:5000/pachyderm/pachd:2.11.6@sha256:…", or "" when it has none.
func ImageTag(image string) string {
	ref, _, _ := strings.Cut(image, "@")
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	// A colon before the last slash belongs to a registry port.
	if colon <= slash {
		return ""
	}
	return ref[colon+1:]
}
