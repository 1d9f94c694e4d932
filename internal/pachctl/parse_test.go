package pachctl

import (
	"strings"
	"testing"
)

func TestParseRawJSON(t *testing.T) {
	tests := []struct {
		name, out string
		want      []string
		wantErr   bool
	}{
		{"client then server, proto names", `{"major":2,"minor":11,"micro":6,"git_commit":"abc"}
{"major":2,"minor":11,"micro":5,"git_commit":"def"}`, []string{"2.11.6", "2.11.5"}, false},
		{"indented, zero micro omitted, pre-release", "{\n  \"major\": 2,\n  \"minor\": 12,\n  \"additional\": \"-rc.1\"\n}\n{\n  \"major\": 2,\n  \"minor\": 12\n}\n", []string{"2.12.0-rc.1", "2.12.0"}, false},
		{"client only", `{"major":2,"minor":11,"micro":6}`, []string{"2.11.6"}, false},
		{"table", "COMPONENT           VERSION\npachctl             2.11.6\n", nil, true},
		{"empty", "", nil, true},
	}
	for _, tt := range tests {
		got, err := parseRawJSON([]byte(tt.out))
		if (err != nil) != tt.wantErr || (!tt.wantErr && strings.Join(got, ",") != strings.Join(tt.want, ",")) {
			t.Errorf("%s: parseRawJSON = %v, %v; want %v (error %v)", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseTable(t *testing.T) {
	got, err := parseTable([]byte("COMPONENT           VERSION             \npachctl             2.11.6              \npachd               v2.11.5             \n"))
	if err != nil || got != (Versions{Pachctl: "2.11.6", Pachd: "2.11.5"}) {
		t.Errorf("parseTable = %+v, %v", got, err)
	}
	for _, bad := range []string{
		"pachctl 2.11.6\npachd 2.11.6\n",             // no header
		"COMPONENT VERSION\npachctl 2.11.6\n",        // no pachd row
		"COMPONENT VERSION\npachctl 2.11.6\npachd\n", // pachd row without version
		"Error: context deadline exceeded\n",         // not a table
	} {
		if v, err := parseTable([]byte(bad)); err == nil {
			t.Errorf("parseTable(%q) = %+v, want an error", bad, v)
		}
	}
}

func TestNormalizeDigest(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	for in, want := range map[string]string{
		"": "", hex: hex, "sha256:" + hex: hex, " SHA256:" + strings.ToUpper(hex) + "\n": hex,
	} {
		if got, err := normalizeDigest(in); err != nil || got != want {
			t.Errorf("normalizeDigest(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"abc", "sha512:" + hex, hex + "00", strings.Repeat("zz", 32)} {
		if got, err := normalizeDigest(bad); err == nil {
			t.Errorf("normalizeDigest(%q) = %q, want an error", bad, got)
		}
	}
}
