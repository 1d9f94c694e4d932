package upgrade

import "testing"

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
