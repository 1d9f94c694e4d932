package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// Names in the chart of Pachyderm's built-in PostgreSQL.
const (
	// Pod is the built-in PostgreSQL's pod (StatefulSet postgres, one replica).
	Pod = "postgres-0"
	// Port is the port of PostgreSQL and of pg-bouncer in the chart.
	Port = 5432
)

// kwok's objects that tell its kubelet API what an exec or a port-forward into a pod does.
var (
	execGVR               = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "execs"}
	clusterPortForwardGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "clusterportforwards"}
)

// ServeChart makes this server the chart's built-in PostgreSQL in namespace of the local
// cluster (test/cluster, whose kwok serves exec and port-forward), until the test ends:
//
//   - an exec into pod postgres-0 (any container) runs its command on this host, with PGHOST,
//     PGPORT, PGUSER, PGPASSWORD and PGSSLMODE pointing at this server as user pachyderm (and
//     the Bitnami image's POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB), so `pg_dump -Fc
//     pachyderm`, `pg_restore -d dex` or `psql -c ...` reach it. Pass no -h/-p: the server's
//     address is in the environment, as the socket is in the real pod.
//   - a port-forward to port 5432 of any pod in namespace (pg-bouncer's, postgres-0) reaches
//     this server's port.
//
// The pods need not exist yet. Call SetPassword first when the release's `postgres` Secret holds
// another password: the exec environment carries the password ServeChart saw.
func (s *Server) ServeChart(t testing.TB, cfg *rest.Config, namespace string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	undo, err := s.ServeChartContext(ctx, cfg, namespace)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := undo(ctx); err != nil {
			t.Errorf("unwire PostgreSQL from %s: %v", namespace, err)
		}
	})
}

// ServeChartContext is ServeChart for callers without a testing.TB (the demo); the returned
// function removes the wiring.
func (s *Server) ServeChartContext(ctx context.Context, cfg *rest.Config, namespace string) (func(context.Context) error, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("wire PostgreSQL into %s: %w", namespace, err)
	}
	var envs []any
	add := func(k, v string) { envs = append(envs, map[string]any{"name": k, "value": v}) }
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		add(k, v)
	}
	add("POSTGRES_USER", User)
	add("POSTGRES_PASSWORD", s.Password)
	add("POSTGRES_DB", DBPachyderm)
	// A shell the exec starts finds this server's tools first.
	add("PATH", s.BinDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	execObj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Exec",
		"metadata": map[string]any{"name": Pod, "namespace": namespace},
		"spec": map[string]any{"execs": []any{map[string]any{
			"local": map[string]any{"envs": envs},
		}}},
	}}
	if _, err := dyn.Resource(execGVR).Namespace(namespace).Create(ctx, execObj, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create kwok Exec %s/%s (is the cluster's kwok started with --enable-crds=Exec,...?): %w", namespace, Pod, err)
	}
	pfName := "pach-upgrade-postgres-" + namespace
	pf := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterPortForward",
		"metadata": map[string]any{"name": pfName},
		"spec": map[string]any{
			"selector": map[string]any{"matchNamespaces": []any{namespace}},
			"forwards": []any{map[string]any{
				"ports":  []any{int64(Port)},
				"target": map[string]any{"address": s.Host, "port": int64(s.Port)},
			}},
		},
	}}
	if _, err := dyn.Resource(clusterPortForwardGVR).Create(ctx, pf, metav1.CreateOptions{}); err != nil {
		_ = dyn.Resource(execGVR).Namespace(namespace).Delete(ctx, Pod, metav1.DeleteOptions{})
		return nil, fmt.Errorf("create kwok ClusterPortForward %s: %w", pfName, err)
	}
	return func(ctx context.Context) error {
		var errs []error
		if err := dyn.Resource(clusterPortForwardGVR).Delete(ctx, pfName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
		if err := dyn.Resource(execGVR).Namespace(namespace).Delete(ctx, Pod, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}, nil
}

// SetPassword changes user pachyderm's password, e.g. to the one the release's `postgres`
// Secret holds (key postgresql-password), so that pachd's and the action's logins work.
func (s *Server) SetPassword(ctx context.Context, password string) error {
	db, err := sql.Open("postgres", s.SuperuserDSN("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	// ALTER ROLE takes no bind parameters; quote the literal as PostgreSQL does.
	lit := "'" + strings.ReplaceAll(password, "'", "''") + "'"
	if _, err := db.ExecContext(ctx, "ALTER ROLE "+User+" PASSWORD "+lit); err != nil {
		return fmt.Errorf("set password of %s: %w", User, err)
	}
	s.Password = password
	return nil
}
