// Package clustertest proves the PostgreSQL test world on the local control plane: kwok serves
// exec and port-forward, so an exec into the chart's postgres-0 runs the real pg_dump, psql and
// pg_restore against a real server, and a port-forward to pg-bouncer's pod reaches it.
package clustertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/postgres"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// startPod creates a one-container pod and waits until kwok reports it Ready.
func startPod(t *testing.T, cs kubernetes.Interface, ns, name, image string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: image}}},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s not Ready: %v", ns, name, err)
	}
}

// execIn runs cmd in the pod's first container through the API server, as kubectl exec does.
func execIn(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, ns, pod string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Command: cmd, Stdin: stdin != nil, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(cfg, http.MethodPost, req.URL())
	if err != nil {
		return err
	}
	return ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr})
}

func TestExecIntoPostgresPodStreamsARealDumpAndRestore(t *testing.T) {
	ctx := t.Context()
	cfg := testenv.RESTConfig(t)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.Namespace(t)
	srv := postgres.Start(t)
	srv.ServeChart(t, cfg, ns)
	startPod(t, cs, ns, postgres.Pod, "bitnami/postgresql:13.3.0")
	startPod(t, cs, ns, "pachd-0", "pachyderm/pachd:2.11.5")

	pach := srv.Open(t, postgres.DBPachyderm)
	if _, err := pach.ExecContext(ctx, `CREATE TABLE sentinel (v text); INSERT INTO sentinel SELECT 'row ' || g FROM generate_series(1, 20000) g`); err != nil {
		t.Fatal(err)
	}

	// The dump streams over the exec's stdout into a file, never whole in memory.
	dumpPath := filepath.Join(t.TempDir(), "pachyderm.dump")
	f, err := os.Create(dumpPath)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	h := sha256.New()
	if err := execIn(ctx, cfg, cs, ns, postgres.Pod, []string{"pg_dump", "-Fc", postgres.DBPachyderm}, nil, io.MultiWriter(f, h), &stderr); err != nil {
		t.Fatalf("exec pg_dump in %s: %v\n%s", postgres.Pod, err, stderr.String())
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(dumpPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("PGDMP")) || len(data) < 1000 {
		t.Fatalf("dump through exec: %d bytes, header %q; stderr %s", len(data), data[:min(len(data), 5)], stderr.String())
	}

	// What the exec streamed is what pg_dump wrote: pg_restore --list reads it whole.
	var list bytes.Buffer
	stderr.Reset()
	if err := execIn(ctx, cfg, cs, ns, postgres.Pod, []string{"pg_restore", "--list"}, bytes.NewReader(data), &list, &stderr); err != nil {
		t.Fatalf("pg_restore --list of the streamed dump: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(list.String(), "TABLE public sentinel") {
		t.Errorf("dump's table of contents lacks the sentinel table:\n%s", list.String())
	}

	// Lose the data, then restore it through the same exec, stdin streaming the file.
	if _, err := pach.ExecContext(ctx, `DROP TABLE sentinel`); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(dumpPath)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	stderr.Reset()
	if err := execIn(ctx, cfg, cs, ns, postgres.Pod, []string{"pg_restore", "--clean", "--if-exists", "-d", postgres.DBPachyderm}, in, io.Discard, &stderr); err != nil {
		t.Fatalf("exec pg_restore: %v\n%s", err, stderr.String())
	}
	var n int
	if err := pach.QueryRowContext(ctx, `SELECT count(*) FROM sentinel`).Scan(&n); err != nil || n != 20000 {
		t.Errorf("sentinel rows after restore through exec = %d, %v; want 20000", n, err)
	}

	// psql through a shell, as a script in the pod would run it.
	var out bytes.Buffer
	stderr.Reset()
	if err := execIn(ctx, cfg, cs, ns, postgres.Pod, []string{"sh", "-c", `psql -At -d "$POSTGRES_DB" -c 'SELECT count(*) FROM sentinel'`}, nil, &out, &stderr); err != nil {
		t.Fatalf("exec psql: %v\n%s", err, stderr.String())
	}
	if strings.TrimSpace(out.String()) != "20000" {
		t.Errorf("psql through exec printed %q, want 20000", out.String())
	}

	// A failing command fails the exec with its exit status, as in a real pod.
	stderr.Reset()
	err = execIn(ctx, cfg, cs, ns, postgres.Pod, []string{"pg_dump", "-Fc", "no_such_db"}, nil, io.Discard, &stderr)
	if err == nil || !strings.Contains(stderr.String(), "no_such_db") {
		t.Errorf("pg_dump of a missing database through exec: %v, stderr %q; want a failure naming it", err, stderr.String())
	}

	// Only postgres-0 is wired: an exec into another pod runs nothing on the host.
	err = execIn(ctx, cfg, cs, ns, "pachd-0", []string{"pg_dump", "-Fc", postgres.DBPachyderm}, nil, io.Discard, io.Discard)
	if err == nil {
		t.Error("exec into pachd-0 ran pg_dump; only postgres-0 should")
	}
}

func TestPortForwardToPgBouncerReachesTheServer(t *testing.T) {
	ctx := t.Context()
	cfg := testenv.RESTConfig(t)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.Namespace(t)
	srv := postgres.Start(t)
	if err := srv.SetPassword(ctx, "from-the-postgres-secret"); err != nil {
		t.Fatal(err)
	}
	srv.ServeChart(t, cfg, ns)
	startPod(t, cs, ns, "pg-bouncer-7d9f-abcde", "pachyderm/pgbouncer:1.16.1")

	rt, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("pg-bouncer-7d9f-abcde").SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	ready := make(chan struct{})
	var fwErr bytes.Buffer
	fw, err := portforward.NewOnAddressesWithContext(fctx, dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(postgres.Port)}, ready, io.Discard, &fwErr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("port-forward stopped: %v %s", err, fwErr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("port-forward not ready after 30s")
	}
	ports, err := fw.GetPorts()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local)))

	dsn := func(password string) string {
		return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", postgres.User, password, addr, postgres.DBPachyderm)
	}
	db, err := sql.Open("postgres", dsn("from-the-postgres-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var port int
	if err := db.QueryRowContext(ctx, `SELECT inet_server_port()`).Scan(&port); err != nil {
		t.Fatalf("query through the port-forward: %v (%s)", err, fwErr.String())
	}
	if port != srv.Port {
		t.Errorf("reached a server on port %d, want the test server's %d", port, srv.Port)
	}
	bad, err := sql.Open("postgres", dsn("insecure-user-password"))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.PingContext(ctx); err == nil {
		t.Error("the chart's default password logged in after SetPassword changed it")
	}
}
