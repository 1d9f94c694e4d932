package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
)

// Issue 20 item 10 on the local control plane.

// TestWaitReadyDaemonSetOnDelete: a DaemonSet updated under OnDelete keeps its pods until
// they are deleted, so none is ever "updated"; the rollout is done when they are available.
func TestWaitReadyDaemonSetOnDelete(t *testing.T) {
	t.Parallel()
	c, ns := newClient(t)
	ctx := context.Background()
	ds := &appsv1.DaemonSet{ObjectMeta: helmMeta("node-agent", "pach"), Spec: appsv1.DaemonSetSpec{
		Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "node-agent"}},
		Template:       podTemplate("node-agent", "agent:1", nil),
		UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType},
	}}
	create(t, c.cs.AppsV1().DaemonSets(ns).Create, ds)
	if err := c.WaitReady(ctx, ns, Selection{Release: "pach"}, time.Minute, nil); err != nil {
		t.Fatalf("first rollout: %v", err)
	}
	setImage := `[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"agent:2"}]`
	if _, err := c.cs.AppsV1().DaemonSets(ns).Patch(ctx, "node-agent", types.JSONPatchType, []byte(setImage), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(ctx, ns, Selection{Release: "pach"}, 20*time.Second, nil); err != nil {
		t.Fatalf("OnDelete update: %v, want done once the (old) pods are available", err)
	}
}

// TestWaitReadyNamesAStatefulSetPodStuckOnTheOldRevision: etcd-0 is broken (never Ready) on
// the old revision; the StatefulSet controller will not replace it, so the wait names it
// and the command that lets the rollout go on.
func TestWaitReadyNamesAStatefulSetPodStuckOnTheOldRevision(t *testing.T) {
	t.Parallel()
	c, ns := newClient(t)
	ctx := context.Background()
	sts := statefulSet("etcd", "pach", "pachyderm/etcd:3.5.1")
	sts.Spec.Template.Annotations = map[string]string{testenv.AnnotationNeverReady: "true"}
	create(t, c.cs.AppsV1().StatefulSets(ns).Create, sts)
	// The new revision would be fine, but the controller waits for etcd-0 to be Ready first.
	patch := fmt.Sprintf(`[{"op":"replace","path":"/spec/template/metadata/annotations","value":{%q:"false"}}]`, testenv.AnnotationNeverReady)
	deadline := time.Now().Add(time.Minute)
	for {
		p, err := c.cs.CoreV1().Pods(ns).Get(ctx, "etcd-0", metav1.GetOptions{})
		if err == nil && p.Status.Phase == "Running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("etcd-0 never ran")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := c.cs.AppsV1().StatefulSets(ns).Patch(ctx, "etcd", types.JSONPatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	err := c.WaitReady(ctx, ns, Selection{Release: "pach"}, 5*time.Second, nil)
	if err == nil || !strings.Contains(err.Error(), "etcd-0") || !strings.Contains(err.Error(), "kubectl delete pod etcd-0 -n "+ns) {
		t.Fatalf("wait = %v, want it to name etcd-0 and the command that unblocks the rollout", err)
	}
}
