package versionfile

import (
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

const values = `# Pachyderm on the staging cluster.
# Bumped by pach-upgrade; review the PR before merging.

deployTarget: LOCAL   # keep: no cloud storage here

pachyderm:
    # The version the upgrade workflow applies.
    version: v2.11.5  # pinned
    channel: stable

console:
  image:
    tag: "2.11.5"
other: '2.11.5'
`

func mustSpec(t *testing.T, s string) Spec {
	t.Helper()
	spec, err := ParseSpec(s)
	if err != nil {
		t.Fatalf("ParseSpec(%q): %v", s, err)
	}
	return spec
}

func TestYAMLRewriteChangesOnlyTheVersion(t *testing.T) {
	cases := []struct {
		spec, oldLine, newLine string
	}{
		{"deploy/values.yaml#pachyderm.version", "    version: v2.11.5  # pinned\n", "    version: v2.11.6  # pinned\n"},
		{"deploy/values.yaml#console.image.tag", `    tag: "2.11.5"` + "\n", `    tag: "2.11.6"` + "\n"},
		{"deploy/values.yaml#other", "other: '2.11.5'\n", "other: '2.11.6'\n"},
	}
	for _, c := range cases {
		t.Run(c.spec, func(t *testing.T) {
			spec := mustSpec(t, c.spec)
			v, err := Read(spec, []byte(values))
			if err != nil {
				t.Fatal(err)
			}
			if v.String() != "2.11.5" {
				t.Errorf("Read = %s, want 2.11.5", v)
			}
			out, err := Write(spec, []byte(values), semver.MustParse("2.11.6"))
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Replace(values, c.oldLine, c.newLine, 1)
			if want == values {
				t.Fatalf("test case line %q not in the file", c.oldLine)
			}
			if string(out) != want {
				t.Errorf("rewrite changed more than the version:\n%s\nwant:\n%s", out, want)
			}
			if v, err := Read(spec, out); err != nil || v.String() != "2.11.6" {
				t.Errorf("read back = %v, %v", v, err)
			}
		})
	}
}

func TestPlainFile(t *testing.T) {
	spec := mustSpec(t, "PACHYDERM_VERSION")
	for _, in := range []string{"2.11.5\n", "v2.11.5", "  2.11.5\r\n"} {
		v, err := Read(spec, []byte(in))
		if err != nil || v.String() != "2.11.5" {
			t.Fatalf("Read(%q) = %v, %v", in, v, err)
		}
		out, err := Write(spec, []byte(in), semver.MustParse("2.12.0"))
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Replace(in, "2.11.5", "2.12.0", 1)
		if string(out) != want {
			t.Errorf("Write(%q) = %q, want %q", in, out, want)
		}
	}
}

func TestRefusals(t *testing.T) {
	cases := []struct {
		spec, content, want string
	}{
		{"v", "", "empty"},
		{"v", "2.11.5 2.11.6\n", "more than a version"},
		{"v", "2.11\n", "MAJOR.MINOR.PATCH"},
		{"f.yaml#a.b", "a: 1\n", "not a mapping"},
		{"f.yaml#a.c", "a:\n  b: 2.11.5\n", "no key a.c"},
		{"f.yaml#a", "a:\n  - 2.11.5\n", "not a scalar"},
		{"f.yaml#a", "a: |\n  2.11.5\n", "block scalar"},
		{"f.yaml#a", "a: !!str 2.11.5\n", "tagged"},
		{"f.yaml#a", "a: [\n", "parse YAML"},
	}
	for _, c := range cases {
		_, err := Read(mustSpec(t, c.spec), []byte(c.content))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Read(%s, %q) error = %v, want it to say %q", c.spec, c.content, err, c.want)
		}
	}
}

func TestParseSpec(t *testing.T) {
	for _, bad := range []string{"", "/etc/values.yaml", "../x", "dir/", "f.yaml#", "f.yaml#a..b"} {
		if _, err := ParseSpec(bad); err == nil {
			t.Errorf("ParseSpec(%q) accepted", bad)
		}
	}
	s := mustSpec(t, "./deploy/values.yaml#pachd.image.tag")
	if s.Path != "deploy/values.yaml" || strings.Join(s.Key, "|") != "pachd|image|tag" || s.String() != "deploy/values.yaml#pachd.image.tag" {
		t.Errorf("ParseSpec = %+v (%s)", s, s)
	}
}
