package config

// Inputs and output of the database backup (issue "The data survives").
const (
	InputDatabaseBackup     = "database-backup"
	InputDatabaseDumpFormat = "database-dump-format"
	InputQuiesce            = "quiesce"

	OutputDatabaseBackupPath = "database-backup-path"
)

// DatabaseOptions say how the built-in PostgreSQL is backed up before the
// upgrade.
type DatabaseOptions struct {
	// Backup dumps databases pachyderm and dex of the built-in PostgreSQL.
	Backup bool
	// DumpFormat is pg_dump's format: custom, tar or plain.
	DumpFormat string
	// Quiesce stops pachd and the pipeline workers while the dump runs.
	Quiesce bool
}

func (p *parser) databaseOptions() DatabaseOptions {
	return DatabaseOptions{
		Backup:     p.boolean(InputDatabaseBackup),
		DumpFormat: p.oneOf(InputDatabaseDumpFormat, "custom", "tar", "plain"),
		Quiesce:    p.boolean(InputQuiesce),
	}
}
