package version

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"2.11.6", "2.11.6"},
		{"v2.11.6", "2.11.6"},
		{" 2.11.6 ", "2.11.6"},
		{"2.12.0-rc.1", "2.12.0-rc.1"},
		{"v2.12.0-rc.1+build.5", "2.12.0-rc.1+build.5"},
	} {
		v, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if v.String() != tc.want {
			t.Errorf("Parse(%q) = %s, want %s", tc.in, v, tc.want)
		}
	}
	for _, bad := range []string{"", "2.11", "2", "latest", "vv2.11.6", "2.11.6.1", "2.x.1", "02.11.6"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", bad)
		} else if !strings.Contains(err.Error(), "MAJOR.MINOR.PATCH") {
			t.Errorf("Parse(%q) error %q does not say what is accepted", bad, err)
		}
	}
}

func TestPolicyCheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to string
		policy   Policy
		kind     Kind
		refusal  Refusal
	}{
		{"same version", "2.11.6", "2.11.6", Policy{}, NoOp, ""},
		{"same version with v and build metadata", "2.11.6", "v2.11.6+meta", Policy{}, NoOp, ""},
		{"patch", "2.11.4", "2.11.6", Policy{}, Patch, ""},
		{"minor refused by default", "2.10.7", "2.11.6", Policy{}, "", RefuseMinor},
		{"minor allowed", "2.10.7", "2.11.6", Policy{AllowMinor: true}, Minor, ""},
		{"two minors allowed", "2.9.0", "2.11.6", Policy{AllowMinor: true}, Minor, ""},
		{"major refused", "2.11.6", "3.0.0", Policy{AllowMinor: true, AllowPrerelease: true}, "", RefuseMajor},
		{"major pre-release refused as major", "2.11.6", "3.0.0-rc.1", Policy{AllowMinor: true, AllowPrerelease: true}, "", RefuseMajor},
		{"patch downgrade", "2.11.6", "2.11.5", Policy{AllowMinor: true}, "", RefuseDowngrade},
		{"minor downgrade", "2.11.0", "2.10.7", Policy{AllowMinor: true}, "", RefuseDowngrade},
		{"major downgrade", "3.0.0", "2.11.6", Policy{AllowMinor: true}, "", RefuseDowngrade},
		{"release to its own pre-release is a downgrade", "2.12.0", "2.12.0-rc.1", Policy{AllowPrerelease: true}, "", RefuseDowngrade},
		{"pre-release refused", "2.11.6", "2.11.7-rc.1", Policy{}, "", RefusePrerelease},
		{"pre-release allowed when asked", "2.11.6", "2.11.7-rc.1", Policy{AllowPrerelease: true}, Patch, ""},
		{"pre-release minor needs both", "2.11.6", "2.12.0-rc.1", Policy{AllowPrerelease: true}, "", RefuseMinor},
		{"pre-release minor with both", "2.11.6", "2.12.0-rc.1", Policy{AllowPrerelease: true, AllowMinor: true}, Minor, ""},
		{"from a pre-release to its release", "2.12.0-rc.2", "2.12.0", Policy{}, Patch, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, to := mustParse(t, tc.from), mustParse(t, tc.to)
			d, err := tc.policy.Check(from, to)
			if tc.refusal != "" {
				var pe *PolicyError
				if !errors.As(err, &pe) {
					t.Fatalf("Check(%s, %s) = %+v, %v; want a *PolicyError", tc.from, tc.to, d, err)
				}
				if pe.Reason != tc.refusal {
					t.Fatalf("refusal = %s, want %s (%v)", pe.Reason, tc.refusal, err)
				}
				msg := err.Error()
				if !strings.Contains(msg, from.String()) || !strings.Contains(msg, to.String()) {
					t.Errorf("error %q does not name both versions", msg)
				}
				if (tc.refusal == RefuseMajor || tc.refusal == RefuseDowngrade) && !strings.Contains(msg, "corrupt") {
					t.Errorf("error %q does not warn about data corruption", msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Check(%s, %s): %v", tc.from, tc.to, err)
			}
			if d.Kind != tc.kind || !d.From.Equal(from) || !d.To.Equal(to) {
				t.Fatalf("Check(%s, %s) = %+v, want kind %s", tc.from, tc.to, d, tc.kind)
			}
		})
	}
	if _, err := (Policy{}).Check(nil, mustParse(t, "2.11.6")); err == nil {
		t.Error("Check with no current version succeeded")
	}
}

func TestCurrentVersion(t *testing.T) {
	for _, tc := range []struct {
		name, appVersion, tag string
		want                  string
		warn                  []string // substrings of the warning; nil means no warning
		wantErr               bool
	}{
		{"agree", "2.11.6", "2.11.6", "2.11.6", nil, false},
		{"agree with v prefix on the tag", "2.11.6", "v2.11.6", "2.11.6", nil, false},
		{"disagree", "2.11.5", "2.11.6", "2.11.5", []string{"2.11.6", "2.11.5"}, false},
		{"tag not a version", "2.11.6", "latest", "2.11.6", []string{`"latest"`}, false},
		{"tag unknown", "2.11.6", "", "2.11.6", []string{"could not read"}, false},
		{"appVersion broken", "two", "2.11.6", "", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur, err := CurrentVersion(tc.appVersion, tc.tag)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "appVersion") {
					t.Fatalf("CurrentVersion = %+v, %v; want an error naming appVersion", cur, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cur.Version.String() != tc.want {
				t.Errorf("version = %s, want %s", cur.Version, tc.want)
			}
			if tc.warn == nil && cur.Warning != "" {
				t.Errorf("unexpected warning %q", cur.Warning)
			}
			if tc.warn != nil && cur.Warning == "" {
				t.Errorf("no warning, want one mentioning %q", tc.warn)
			}
			for _, s := range tc.warn {
				if !strings.Contains(cur.Warning, s) {
					t.Errorf("warning %q does not mention %q", cur.Warning, s)
				}
			}
		})
	}
}

func TestImageTag(t *testing.T) {
	for in, want := range map[string]string{
		"pachyderm/pachd:2.11.6":                           "2.11.6",
		"registry.example/pachyderm/pachd:2.11.6":          "2.11.6",
		"localhost:5000/pachyderm/pachd:2.11.6":            "2.11.6",
		"localhost:5000/pachyderm/pachd":                   "",
		"pachyderm/pachd":                                  "",
		"pachyderm/pachd:2.11.6@sha256:" + hex64():         "2.11.6",
		"localhost:5000/pachyderm/pachd@sha256:" + hex64(): "",
	} {
		if got := ImageTag(in); got != want {
			t.Errorf("ImageTag(%q) = %q, want %q", in, got, want)
		}
	}
}

func hex64() string { return strings.Repeat("ab", 32) }
