package upgrade

import (
	"os"
	"strings"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin"
)

// The backup folder fills up during the dump (a real 1 MiB tmpfs, and
// some 40 MB of data): the run fails before the upgrade starts, pachd has
// its replicas back, no partial dump is left, and the error names the
// folder and the fix.
func TestFullDiskDuringTheDumpAborts(t *testing.T) {
	t.Parallel()
	dir := testenv.SmallDisk(t, 1<<20)
	s, srv := databaseScenario(t, pachstandin.DefaultMigrations)
	bulk(t, srv)
	rep := s.run(map[string]string{config.InputTargetVersion: "2.11.6", config.InputTimeout: "60s",
		config.InputDatabaseBackup: "true", config.InputBackupDir: dir})
	if rep.Result != report.ResultFailed {
		t.Fatalf("result = %s (%s), want failed by the full disk\n%s", rep.Result, rep.Failure, s.last)
	}
	for _, want := range []string{"database backup failed", "is full", "no space left on device", "Free space in " + dir,
		"set backup-dir to a folder with room", "nothing was changed"} {
		if !strings.Contains(rep.Failure, want) {
			t.Errorf("failure lacks %q: %s", want, rep.Failure)
		}
	}
	for _, st := range rep.Steps {
		if st.Name == "Helm upgrade" {
			t.Errorf("the upgrade ran after the dump failed: %+v", st)
		}
	}
	if d := rep.Database; d == nil || len(d.Quiesced) == 0 || !strings.Contains(d.Quiesced[0], "pachd") || d.QuiescedUntil.IsZero() {
		t.Errorf("database report = %+v, want pachd quiesced and given back", d)
	}
	if dirs := databaseFolders(t, dir); len(dirs) != 0 {
		t.Errorf("partial dumps left: %v", dirs)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("left in the backup folder: %v", names)
	}
	s.wantRelease(1, "deployed", "2.11.5")
	s.wantGivenBack()
}
