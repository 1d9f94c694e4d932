package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestScaleDownAndBack quiesces a pachd Deployment and a pipeline's worker
// ReplicationController the way the backup does, and gives their counts back.
func TestScaleDownAndBack(t *testing.T) {
	c, ns := newClient(t)
	ctx := context.Background()
	pachd := deployment("pachd", "pach", "pachd:2.11.0", 2, nil)
	pachd.Labels["app"] = "pachd"
	create(t, c.cs.AppsV1().Deployments(ns).Create, pachd)
	two := int32(3)
	worker := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "pipeline-edges-v1", Labels: map[string]string{"suite": "pachyderm", "component": "worker"}},
		Spec: corev1.ReplicationControllerSpec{Replicas: &two, Selector: map[string]string{"app": "pipeline-edges-v1"},
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "pipeline-edges-v1"}},
				Spec: podTemplate("worker", "worker:2.11.0", nil).Spec}},
	}
	create(t, c.cs.CoreV1().ReplicationControllers(ns).Create, worker)
	waitPods(t, c, ns, "app=pachd", 2)
	waitPods(t, c, ns, "app=pipeline-edges-v1", 3)

	workers, err := c.Workloads(ctx, ns, "suite=pachyderm,component=worker")
	if err != nil {
		t.Fatal(err)
	}
	daemons, err := c.Workloads(ctx, ns, "app=pachd")
	if err != nil {
		t.Fatal(err)
	}
	if len(workers) != 1 || workers[0].Kind != "ReplicationController" || workers[0].Replicas != 3 {
		t.Fatalf("workers = %+v, want the one ReplicationController with 3 replicas", workers)
	}
	if len(daemons) != 1 || daemons[0].Kind != "Deployment" || daemons[0].Replicas != 2 {
		t.Fatalf("pachd = %+v, want the Deployment with 2 replicas", daemons)
	}
	changed, err := c.ScaleDown(ctx, ns, append(daemons, workers...), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 2 {
		t.Fatalf("changed = %+v, want both", changed)
	}
	waitPods(t, c, ns, "app=pachd", 0)
	// What a run killed here leaves: the counts, on the workloads.
	left, err := c.Quiesced(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || left[0].Name != "pachd" || left[0].Replicas != 2 || left[1].Name != "pipeline-edges-v1" || left[1].Replicas != 3 {
		t.Fatalf("Quiesced while down = %+v, want pachd 2 and the worker 3", left)
	}
	if err := c.ScaleBack(ctx, ns, left); err != nil {
		t.Fatal(err)
	}
	if left, err = c.Quiesced(ctx, ns); err != nil || len(left) != 0 {
		t.Fatalf("Quiesced after ScaleBack = %+v, %v; want none", left, err)
	}
	d, err := c.cs.AppsV1().Deployments(ns).Get(ctx, "pachd", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := c.cs.CoreV1().ReplicationControllers(ns).Get(ctx, "pipeline-edges-v1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 2 || *rc.Spec.Replicas != 3 {
		t.Fatalf("after ScaleBack: pachd %d, worker %d replicas; want 2 and 3", *d.Spec.Replicas, *rc.Spec.Replicas)
	}
	waitPods(t, c, ns, "app=pipeline-edges-v1", 3)
}

// TestScaleBackNamesWhatFailed: a workload deleted meanwhile cannot be
// scaled back; the error names it and the command to run.
func TestScaleBackNamesWhatFailed(t *testing.T) {
	c, ns := newClient(t)
	err := c.ScaleBack(context.Background(), ns, []Scaled{{Kind: "Deployment", Name: "gone", Replicas: 1}})
	if err == nil {
		t.Fatal("ScaleBack of a missing Deployment succeeded")
	}
	want := "kubectl -n " + ns + " scale deployment/gone --replicas=1"
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not give %q", err, want)
	}
}

func waitPods(t *testing.T, c *Client, ns, selector string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		pods, err := c.cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err == nil && len(pods.Items) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pods %s: want %d, have %v (err %v)", selector, n, len(pods.Items), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
