package upgrade

import (
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/database"
)

func TestChooseRecovery(t *testing.T) {
	m := func(n int64) *database.Migrations { return &database.Migrations{Table: true, Count: n, MaxID: n} }
	cases := []struct {
		name          string
		before, after *database.Migrations
		dump          bool
		want          Recovery
	}{
		{"no migration added, dump held", m(12), m(12), true, RecoverRollback},
		{"no migration added, no dump", m(12), m(12), false, RecoverRollback},
		{"migrations added, dump held", m(12), m(15), true, RecoverRestore},
		{"migrations added, no dump", m(12), m(15), false, RecoverInstruct},
		{"first pachd created the table", &database.Migrations{}, m(3), false, RecoverInstruct},
		{"after unreadable, dump held", m(12), nil, true, RecoverRestore},
		{"nothing known, no dump (external)", nil, nil, false, RecoverRollback},
	}
	for _, c := range cases {
		if got := ChooseRecovery(c.before, c.after, c.dump); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestReleaseDatabases(t *testing.T) {
	d := releaseDatabases(map[string]any{})
	if !d.Builtin || d.User != "pachyderm" || d.Pachyderm != "pachyderm" || d.Dex != "dex" {
		t.Errorf("chart defaults: %+v", d)
	}
	d = releaseDatabases(map[string]any{
		"postgresql": map[string]any{"enabled": false},
		"global": map[string]any{"postgresql": map[string]any{"postgresqlHost": "db.internal", "postgresqlDatabase": "pach",
			"postgresqlUsername": "svc", "identityDatabaseFullNameOverride": "Identity"}},
	})
	if d.Builtin || d.Host != "db.internal" || d.Pachyderm != "pach" || d.Dex != "identity" || d.User != "svc" {
		t.Errorf("external: %+v", d)
	}
	env := d.env()
	if env[0] != "PACH_UPGRADE_DATABASES=pach identity" {
		t.Errorf("backup-command env = %q", env)
	}
}
