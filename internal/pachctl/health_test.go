package pachctl

import (
	"strings"
	"testing"
)

func TestHealthCompare(t *testing.T) {
	before := Health{Enterprise: "ACTIVE", Pipelines: map[string]string{"default/edges": "running", "default/montage": "running", "lab/idle": "paused"}}
	cases := []struct {
		name    string
		after   Health
		want    []string
		pending bool
	}{
		{"same", Health{Enterprise: "ACTIVE", Pipelines: map[string]string{"default/edges": "running", "default/montage": "standby", "lab/idle": "paused"}}, nil, false},
		{"enterprise lost", Health{Enterprise: "NONE", Pipelines: before.Pipelines}, []string{"enterprise state ACTIVE before the upgrade, NONE after"}, false},
		{"crashing", Health{Enterprise: "ACTIVE", Pipelines: map[string]string{"default/edges": "crashing", "default/montage": "running", "lab/idle": "failure"}},
			[]string{"pipeline default/edges is crashing", "pipeline lab/idle is failure"}, false},
		{"restarting", Health{Enterprise: "ACTIVE", Pipelines: map[string]string{"default/edges": "restarting", "default/montage": "running"}},
			[]string{"pipeline default/edges was running and is restarting"}, true},
		{"gone", Health{Enterprise: "ACTIVE", Pipelines: map[string]string{"default/edges": "running"}},
			[]string{"pipeline default/montage was running and is gone"}, false},
	}
	for _, c := range cases {
		got, pending := HealthCompare(before, c.after)
		if strings.Join(got, "|") != strings.Join(c.want, "|") || pending != c.pending {
			t.Errorf("%s: %q pending %v, want %q pending %v", c.name, got, pending, c.want, c.pending)
		}
	}
}
