package report

import "testing"

func TestVerifiedVersionOf(t *testing.T) {
	both := func(pachctl, pachd, want string) []ComponentVersion {
		return []ComponentVersion{{Component: "pachctl", Version: pachctl, Want: want}, {Component: "pachd", Version: pachd, Want: want}}
	}
	cases := []struct {
		name string
		r    Report
		want string
	}{
		{"upgraded and verified", Report{Result: ResultUpgraded, ToVersion: "2.11.6", VerifiedVersion: "2.11.6", Versions: both("2.11.6", "2.11.6", "2.11.6")}, "2.11.6"},
		{"no-op and verified", Report{Result: ResultNoOp, ToVersion: "2.11.6", VerifiedVersion: "2.11.6", Versions: both("2.11.6", "2.11.6", "2.11.6")}, "2.11.6"},
		{"no-op unchecked", Report{Result: ResultNoOp, ToVersion: "2.11.6"}, ""},
		{"upgraded, check skipped", Report{Result: ResultUpgraded, ToVersion: "2.11.6"}, ""},
		{"pachd disagrees", Report{Result: ResultNoOp, ToVersion: "2.11.6", VerifiedVersion: "2.11.6", Versions: both("2.11.6", "2.11.5", "2.11.6")}, ""},
		{"only pachctl", Report{Result: ResultUpgraded, ToVersion: "2.11.6", VerifiedVersion: "2.11.6", Versions: both("2.11.6", "2.11.6", "2.11.6")[:1]}, ""},
		{"verified another version", Report{Result: ResultUpgraded, ToVersion: "2.11.6", VerifiedVersion: "2.11.5", Versions: both("2.11.5", "2.11.5", "2.11.5")}, ""},
	}
	for _, r := range []Result{ResultPlanned, ResultProposed, ResultRolledBack, ResultFailed, ResultCancelled} {
		cases = append(cases, struct {
			name string
			r    Report
			want string
		}{string(r), Report{Result: r, ToVersion: "2.11.6", VerifiedVersion: "2.11.6", Versions: both("2.11.6", "2.11.6", "2.11.6")}, ""})
	}
	for _, c := range cases {
		if got := VerifiedVersionOf(&c.r); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
