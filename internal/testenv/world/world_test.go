package world_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/chartrepo"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/postgres"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The world with a database: the chart's pachd starts through the migrations, and an exec into
// the chart's postgres-0 reaches the same database.
func TestWorldWithDatabase(t *testing.T) {
	ctx := t.Context()
	cfg := testenv.RESTConfig(t)
	ns := testenv.Namespace(t)
	srv := postgres.Start(t)
	w, err := world.New(ctx, world.Options{RESTConfig: cfg, Namespace: ns, Dir: t.TempDir(), Database: srv,
		Charts: []chartrepo.Chart{{Version: "7.11.5", AppVersion: "2.11.5"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	values := map[string]any{
		"deployTarget": "LOCAL",
		"pachd":        map[string]any{"podAnnotations": pachstandin.PodAnnotations()},
		"global":       map[string]any{"postgresql": map[string]any{"postgresqlPassword": srv.Password}},
	}
	if _, err := w.Install(ctx, "pachyderm", "7.11.5", values); err != nil {
		t.Fatal(err)
	}
	version := pachstandin.VersionFromCluster(w.Kube, ns, "pachd")
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		v, err := version(ctx)
		return err == nil && v == "2.11.5", nil
	})
	if err != nil {
		t.Fatalf("pachd 2.11.5 not Ready: %v (gate: %v)", err, w.Gate.LastError())
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := w.Kube.CoreV1().Pods(ns).Get(ctx, postgres.Pod, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, nil
	})
	if err != nil {
		t.Fatalf("%s not running: %v", postgres.Pod, err)
	}

	req := w.Kube.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(postgres.Pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Command: []string{"psql", "-At", "-d", "pachyderm", "-c", "SELECT count(*) FROM migrations"},
			Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(cfg, http.MethodPost, req.URL())
	if err != nil {
		t.Fatal(err)
	}
	var out, stderr bytes.Buffer
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &stderr}); err != nil {
		t.Fatalf("exec psql in %s: %v\n%s", postgres.Pod, err, stderr.String())
	}
	if strings.TrimSpace(out.String()) != "21" {
		t.Errorf("migrations seen through postgres-0 = %q, want 21 (2.11's chain)", out.String())
	}
}
