package versionfile

import (
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

// TestRefusesSharedOrAmbiguousPins performs issue 21 item 12: a pin reached
// through a YAML alias (or one that others alias) would rewrite the anchor
// and so silently bump every alias of it; a duplicate key is read and
// written last-wins while other readers take the first. Each is refused,
// naming the key, for reading and for writing.
func TestRefusesSharedOrAmbiguousPins(t *testing.T) {
	for name, tc := range map[string]struct{ file, spec, want string }{
		"alias on the path": {"base: &base\n  version: 2.11.5\nstaging: *base\nproduction: *base\n",
			"v.yaml#staging.version", "staging is an alias (*base"},
		"alias as the value": {"shared: &v 2.11.5\nstaging:\n  version: *v\nproduction:\n  version: *v\n",
			"v.yaml#staging.version", "staging.version is an alias (*v"},
		"anchored value": {"staging:\n  version: &v 2.11.5\nproduction:\n  version: *v\n",
			"v.yaml#staging.version", "carries the anchor &v"},
		"anchored mapping": {"staging: &s\n  version: 2.11.5\nproduction: *s\n",
			"v.yaml#staging.version", "carries the anchor &s"},
		"duplicate key": {"pachyderm:\n  version: 2.11.5\npachyderm:\n  version: 2.11.4\n",
			"v.yaml#pachyderm.version", "key pachyderm appears twice (lines 1 and 3)"},
		"duplicate leaf": {"pachyderm:\n  version: 2.11.5\n  version: 2.11.4\n",
			"v.yaml#pachyderm.version", "pachyderm.version appears twice"},
	} {
		t.Run(name, func(t *testing.T) {
			s := mustSpec(t, tc.spec)
			if _, err := Read(s, []byte(tc.file)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Read: %v; want an error containing %q", err, tc.want)
			}
			out, err := Write(s, []byte(tc.file), semver.MustParse("2.11.6"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Write: %v, wrote\n%s\nwant an error containing %q", err, out, tc.want)
			}
		})
	}
	// An anchor elsewhere in the file is no concern of the pin's.
	ok := "defaults: &d\n  channel: stable\npachyderm:\n  version: 2.11.5\n  extra: *d\n"
	out, err := Write(mustSpec(t, "v.yaml#pachyderm.version"), []byte(ok), semver.MustParse("2.11.6"))
	if err != nil || !strings.Contains(string(out), "version: 2.11.6") {
		t.Errorf("unrelated anchor: %v\n%s", err, out)
	}
}
