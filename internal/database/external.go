package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/lib/pq"
)

// SQLLogin is how this process logs in to a PostgreSQL server it reaches
// itself (through a port-forward to the release's pg-bouncer): the user and
// password pachd uses. The password is never put in a message.
type SQLLogin struct {
	User, Password string
}

// ExternalReadTimeout bounds a read of the migrations table over SQL: the
// connection, both queries and the close.
const ExternalReadTimeout = 30 * time.Second

// ReadMigrationsSQL reads the migrations table of database db at addr
// (host:port, a port-forward to pg-bouncer) with database/sql and lib/pq,
// with the same queries ReadMigrations runs through psql. The hop from here
// to pg-bouncer is the port-forward's own stream, which the API server's TLS
// already covers, so the connection asks for no TLS of its own.
func ReadMigrationsSQL(ctx context.Context, addr, db string, login SQLLogin) (Migrations, error) {
	ctx, cancel := context.WithTimeout(ctx, ExternalReadTimeout)
	defer cancel()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return Migrations{}, fmt.Errorf("read the migrations of database %s: address %q: %w", db, addr, err)
	}
	conn, err := pq.NewConnector(dsn(map[string]string{
		"host": host, "port": port, "dbname": db, "user": login.User, "password": login.Password,
		"sslmode": "disable", "connect_timeout": "10", "application_name": "pach-upgrade",
	}))
	if err != nil {
		return Migrations{}, login.redact(fmt.Errorf("read the migrations of database %s: connection settings: %w", db, err))
	}
	pool := sql.OpenDB(conn)
	defer pool.Close()
	// One connection: pg-bouncer pools in transaction mode, and both
	// queries are plain statements without parameters (no prepared
	// statement to outlive a transaction).
	pool.SetMaxOpenConns(1)
	var exists bool
	if err := pool.QueryRowContext(ctx, hasMigrationsQuery).Scan(&exists); err != nil {
		return Migrations{}, login.redact(fmt.Errorf("read the migrations of database %s as user %s: %w", db, login.User, err))
	}
	if !exists {
		return Migrations{}, nil
	}
	m := Migrations{Table: true}
	if err := pool.QueryRowContext(ctx, migrationsQuery).Scan(&m.Count, &m.MaxID, &m.Newest); err != nil {
		return Migrations{}, login.redact(fmt.Errorf("read the migrations of database %s as user %s: %w", db, login.User, err))
	}
	return m, nil
}

// AuthFailed reports whether err is the server refusing the login (wrong
// password or user): the fix is the credentials, not the network.
func AuthFailed(err error) bool {
	var pe *pq.Error
	if errors.As(err, &pe) {
		// 28P01 invalid_password, 28000 invalid_authorization_specification.
		return pe.Code == "28P01" || pe.Code == "28000"
	}
	return strings.Contains(err.Error(), "password authentication failed")
}

// dsn builds a key=value connection string, each value quoted as libpq
// parses it.
func dsn(kv map[string]string) string {
	var b strings.Builder
	for _, k := range []string{"host", "port", "dbname", "user", "password", "sslmode", "connect_timeout", "application_name"} {
		v, ok := kv[k]
		if !ok {
			continue
		}
		v = strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), `'`, `\'`)
		fmt.Fprintf(&b, "%s='%s' ", k, v)
	}
	return strings.TrimSpace(b.String())
}

// redact takes the password, in any spelling a driver might echo, out of
// err's text.
func (l SQLLogin) redact(err error) error {
	if err == nil || l.Password == "" {
		return err
	}
	s := err.Error()
	for _, p := range []string{l.Password, url.QueryEscape(l.Password), url.PathEscape(l.Password)} {
		s = strings.ReplaceAll(s, p, "***")
	}
	if s == err.Error() {
		return err
	}
	return redacted{msg: s, err: err}
}

// redacted keeps the cause for errors.As while its text hides the password.
type redacted struct {
	msg string
	err error
}

func (r redacted) Error() string { return r.msg }
func (r redacted) Unwrap() error { return r.err }
