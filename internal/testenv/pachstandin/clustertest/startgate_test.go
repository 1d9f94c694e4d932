package clustertest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin/pachpb"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/postgres"
)

// pachdPods lists the pachd pods running image tag.
func pachdPods(ctx context.Context, cs kubernetes.Interface, ns, tag string) ([]corev1.Pod, error) {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=pachd"})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Spec.Containers[0].Image == "pachyderm/pachd:"+tag {
			out = append(out, p)
		}
	}
	return out, nil
}

func TestStartGateMigratesAndARollbackCrashLoops(t *testing.T) {
	ctx := t.Context()
	cs, err := kubernetes.NewForConfig(testenv.RESTConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.Namespace(t)
	srv := postgres.Start(t)
	db := srv.Open(t, postgres.DBPachyderm)
	gctx, stop := context.WithCancel(context.Background())
	gate, err := pachstandin.StartStartGate(gctx, pachstandin.StartGateOptions{Kube: cs, Namespace: ns, DSN: srv.DSN(postgres.DBPachyderm)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(); <-gate.Done() })
	version := pachstandin.VersionFromCluster(cs, ns, "pachd")

	d := pachdDeployment(oldVersion)
	d.Spec.Template.Annotations = map[string]string{pachstandin.AnnotationStart: pachstandin.StartPending}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForVersion(t, version, oldVersion)
	if n, _, err := pachstandin.MigrationCount(ctx, db); err != nil || n != 21 {
		t.Fatalf("migrations after 2.11.5 started: %d, %v; want 21", n, err)
	}

	// The minor upgrade adds migrations as its pod starts.
	updateTemplate(t, cs, ns, func(tpl *corev1.PodTemplateSpec) { tpl.Spec.Containers[0].Image = "pachyderm/pachd:2.12.0" })
	waitForVersion(t, version, "2.12.0")
	n, name, err := pachstandin.MigrationCount(ctx, db)
	if err != nil || n != 24 || name != "v2.12.0 stand-in migration 24" {
		t.Fatalf("migrations after 2.12.0 started: %d %q, %v; want 24", n, name, err)
	}

	// Rolling back the chart alone: the old pachd refuses the migrated database and crash-loops.
	updateTemplate(t, cs, ns, func(tpl *corev1.PodTemplateSpec) { tpl.Spec.Containers[0].Image = "pachyderm/pachd:" + oldVersion })
	waitFor(t, "the rolled-back pachd pod to crash-loop", func(ctx context.Context) (bool, error) {
		pods, err := pachdPods(ctx, cs, ns, oldVersion)
		if err != nil || len(pods) != 1 {
			return false, err
		}
		p := pods[0]
		if len(p.Status.ContainerStatuses) == 0 {
			return false, nil
		}
		cst := p.Status.ContainerStatuses[0]
		return cst.State.Waiting != nil && cst.State.Waiting.Reason == "CrashLoopBackOff" && cst.RestartCount >= 2 &&
			p.Annotations[pachstandin.AnnotationStart] == pachstandin.StartRefused, nil
	})
	pods, _ := pachdPods(ctx, cs, ns, oldVersion)
	if msg := pods[0].Annotations[pachstandin.AnnotationStartError]; msg != "pachd 2.11.5 knows 21 migrations, the database holds 24: database state is newer than application is expecting" {
		t.Errorf("refused pod's reason = %q", msg)
	}
	if n, _, _ := pachstandin.MigrationCount(ctx, db); n != 24 {
		t.Errorf("a refused start changed the migrations to %d", n)
	}
	starts := gate.Starts()
	if len(starts) != 3 || starts[0].Result.Applied() != 21 || starts[1].Result.Applied() != 3 || !errors.Is(starts[2].Err, pachstandin.ErrDatabaseNewer) {
		t.Errorf("gate starts = %+v", starts)
	}
	// The new pachd keeps serving: the stuck rollout left it Ready.
	if v, err := version(ctx); err != nil || v != "2.12.0" {
		t.Errorf("serving after the refused rollback = %q, %v; want 2.12.0", v, err)
	}
}

func TestStartGateHoldsPodsPendingWithoutDatabase(t *testing.T) {
	ctx := t.Context()
	cs, err := kubernetes.NewForConfig(testenv.RESTConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.Namespace(t)
	gctx, stop := context.WithCancel(context.Background())
	// Nothing listens on port 1: pachd cannot reach its database.
	gate, err := pachstandin.StartStartGate(gctx, pachstandin.StartGateOptions{Kube: cs, Namespace: ns,
		DSN: "postgres://pachyderm:x@127.0.0.1:1/pachyderm?sslmode=disable&connect_timeout=1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(); <-gate.Done() })
	d := pachdDeployment(oldVersion)
	d.Spec.Template.Annotations = map[string]string{pachstandin.AnnotationStart: pachstandin.StartPending}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A pod beside it, outside the gate, shows kwok had every chance to start the pachd pod.
	other := pachdDeployment(oldVersion)
	other.Name = "other"
	other.Spec.Selector.MatchLabels = map[string]string{"app": "other"}
	other.Spec.Template.Labels = map[string]string{"app": "other"}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the gate to fail reaching the database and the other pod to be Ready", func(ctx context.Context) (bool, error) {
		pods, err := pachdPods(ctx, cs, ns, oldVersion)
		if err != nil || len(pods) != 1 || gate.LastError() == nil {
			return false, err
		}
		others, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=other"})
		if err != nil || len(others.Items) != 1 {
			return false, err
		}
		for _, c := range others.Items[0].Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	time.Sleep(time.Second)
	pods, _ := pachdPods(ctx, cs, ns, oldVersion)
	if pods[0].Status.Phase != corev1.PodPending || len(gate.Starts()) != 0 {
		t.Errorf("pod without a database: phase %s, starts %+v; want Pending, none", pods[0].Status.Phase, gate.Starts())
	}
}

func TestStartGateWritesOnlyWhilePachdServes(t *testing.T) {
	ctx := t.Context()
	cs, err := kubernetes.NewForConfig(testenv.RESTConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.Namespace(t)
	srv := postgres.Start(t)
	db := srv.Open(t, postgres.DBPachyderm)
	var paused atomic.Bool
	gctx, stop := context.WithCancel(context.Background())
	gate, err := pachstandin.StartStartGate(gctx, pachstandin.StartGateOptions{Kube: cs, Namespace: ns,
		DSN: srv.DSN(postgres.DBPachyderm), Activity: 20 * time.Millisecond, Paused: paused.Load})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(); <-gate.Done() })
	rows := func() int {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM standin_activity`).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	steady := func(what string) {
		t.Helper()
		time.Sleep(300 * time.Millisecond) // let a write in flight land
		before := rows()
		time.Sleep(500 * time.Millisecond)
		if after := rows(); after != before {
			t.Errorf("%s: %d rows written, want none", what, after-before)
		}
	}

	d := pachdDeployment(oldVersion)
	d.Spec.Template.Annotations = map[string]string{pachstandin.AnnotationStart: pachstandin.StartPending}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pachd to write", func(context.Context) (bool, error) { return rows() >= 5, nil })

	paused.Store(true)
	steady("paused by enterprise")
	paused.Store(false)
	waitFor(t, "pachd to write again", func(context.Context) (bool, error) {
		n := rows()
		time.Sleep(100 * time.Millisecond)
		return rows() > n, nil
	})

	// Scaled to zero, as a quiesce without enterprise does.
	waitFor(t, "pachd scaled to 0", func(ctx context.Context) (bool, error) {
		s, err := cs.AppsV1().Deployments(ns).GetScale(ctx, "pachd", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s.Spec.Replicas = 0
		_, err = cs.AppsV1().Deployments(ns).UpdateScale(ctx, "pachd", s, metav1.UpdateOptions{})
		return err == nil, nil
	})
	waitFor(t, "the pachd pod to go", func(ctx context.Context) (bool, error) {
		pods, err := pachdPods(ctx, cs, ns, oldVersion)
		return err == nil && len(pods) == 0, err
	})
	steady("scaled to zero")
	if gate.Writes() < 5 {
		t.Errorf("gate counted %d writes", gate.Writes())
	}
}

func TestCreateWorkersRunsWorkerPods(t *testing.T) {
	ctx := t.Context()
	cs, err := kubernetes.NewForConfig(testenv.RESTConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.Namespace(t)
	pipes := []pachpb.PipelineInfo{{Name: "edges", Version: 2, Parallelism: 2}, {Project: "images", Name: "montage"}}
	if err := pachstandin.CreateWorkers(ctx, cs, ns, pipes...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three Ready worker pods", func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: pachstandin.WorkerSelector})
		if err != nil || len(pods.Items) != 3 {
			return false, err
		}
		for _, p := range pods.Items {
			ready := false
			for _, c := range p.Status.Conditions {
				ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
			}
			if !ready {
				return false, nil
			}
		}
		return true, nil
	})
	rcs, err := cs.CoreV1().ReplicationControllers(ns).List(ctx, metav1.ListOptions{LabelSelector: pachstandin.WorkerSelector})
	if err != nil || len(rcs.Items) != 2 || rcs.Items[0].Name != "default-edges-v2" || rcs.Items[1].Name != "images-montage-v1" {
		t.Errorf("worker RCs = %v, %v", rcs, err)
	}
}
