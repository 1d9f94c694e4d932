package upgrade

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/runnerenv"
)

// Snapshot is what step 1 keeps of the release before anything changes:
// enough to see, and if need be restore, the state the upgrade started from.
// Values and manifest are redacted: a backup file is an artifact that people
// upload and share, so it must hold no credential.
type Snapshot struct {
	Release      string         `json:"release"`
	Namespace    string         `json:"namespace"`
	Revision     int            `json:"revision"`
	Status       string         `json:"status"`
	Chart        string         `json:"chart"`
	ChartVersion string         `json:"chartVersion"`
	AppVersion   string         `json:"appVersion"`
	Values       map[string]any `json:"values"`
	Manifest     string         `json:"manifest"`
	TakenAt      time.Time      `json:"takenAt"`
	// Databases are the database dumps taken with the snapshot; nil when
	// none was (external database, database-backup false).
	Databases *DatabaseBackup `json:"databases,omitempty"`
}

// snapshotDir is the real folder the snapshot goes to: backup-dir (relative
// to the workspace), else the runner's temporary folder, with symlinks
// resolved, and a warning when the runner cannot see it after the step.
func snapshotDir(backupDir, tempDir string, place runnerenv.Env) (dir, warning string, err error) {
	from := "backup-dir " + backupDir
	dir = backupDir
	if dir == "" {
		from, dir = "the runner's temporary folder "+tempDir, tempDir
	}
	if dir == "" {
		from, dir = "this container's temporary folder "+os.TempDir(), os.TempDir()
	}
	real, err := place.ResolveDir(dir)
	if err != nil {
		return "", "", fmt.Errorf("backup-dir %s: %w", dir, err)
	}
	if real != dir {
		from += " (" + real + ")"
	}
	if !place.Visible(real) {
		warning = from + " is not in a folder the runner mounts into this action's container: " +
			"the snapshot is gone when the step ends; use a folder under ${{ runner.temp }} or ${{ github.workspace }}"
		if backupDir != "" && real != filepath.Clean(backupDir) {
			warning += ", and not a symlink that leads out of them"
		}
	}
	return real, warning, nil
}

// writeSnapshot writes s as JSON into dir and returns the file's path.
// The file is created with mode 0600 and written completely or not at all;
// in a container action it and the folders created for it belong to the
// runner's user, who alone can read them.
func writeSnapshot(dir string, s Snapshot, place runnerenv.Env) (string, error) {
	if err := place.MkdirAll(dir); err != nil {
		return "", fmt.Errorf("create backup dir %s: %w", dir, err)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode release snapshot: %w", err)
	}
	name := snapshotStem(s.Namespace, s.Release, s.Revision, s.TakenAt) + ".json"
	tmp, err := os.CreateTemp(dir, ".snapshot-*")
	if err != nil {
		return "", fmt.Errorf("write release snapshot: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write release snapshot: %w", err)
	}
	// The open file, not its path, goes to the runner's user.
	if err := place.GiveFileToOwner(tmp); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write release snapshot: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write release snapshot: %w", err)
	}
	path := filepath.Join(dir, name)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("write release snapshot: %w", err)
	}
	return path, nil
}

// snapshotStem names a run's snapshot (and its databases' folder).
func snapshotStem(ns, release string, revision int, taken time.Time) string {
	return fmt.Sprintf("%s-%s-r%d-%s", ns, release, revision, taken.UTC().Format("20060102T150405Z"))
}

// BackupEnv is what the user's backup command learns about the run, as
// environment variables.
type BackupEnv struct {
	Release, Namespace, FromVersion, ToVersion, SnapshotPath string
	// Databases are the PACH_UPGRADE_DATABASE* variables: the databases
	// the command must cover.
	Databases []string
}

func (e BackupEnv) vars() []string {
	return append([]string{
		"PACH_UPGRADE_RELEASE=" + e.Release,
		"PACH_UPGRADE_NAMESPACE=" + e.Namespace,
		"PACH_UPGRADE_FROM_VERSION=" + e.FromVersion,
		"PACH_UPGRADE_TO_VERSION=" + e.ToVersion,
		"PACH_UPGRADE_SNAPSHOT=" + e.SnapshotPath,
	}, e.Databases...)
}

// runBackupCommand runs the user's backup command through sh, streaming its
// output to out; a non-zero exit is an error that aborts the upgrade.
func runBackupCommand(ctx context.Context, command string, env BackupEnv, out io.Writer) error {
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Env = append(os.Environ(), env.vars()...)
	cmd.Stdout, cmd.Stderr = out, out
	// The command may start children (sleep, pg_dump, …) that hold its
	// output open: on cancellation stop the whole process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("backup command failed (%w); nothing was changed", err)
	}
	return nil
}
