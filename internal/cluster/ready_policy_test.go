package cluster

import (
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Issue 20 items 6 and 10: which pods may fail a rollout fast, and the readiness gaps.

func waitingPod(name string, owner metav1.Object, kind, reason string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name), Labels: map[string]string{"app": "pachd"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: owner.GetName(), UID: owner.GetUID(), Controller: ptrTo(true)}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "pachd",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}}}}
}

func ptrTo[T any](v T) *T { return &v }

// TestOnlyCurrentTemplatePodsFailFast: the crash-looping pods of the ReplicaSet a rollout
// is leaving do not fail it; a crash-looping pod of the current template does.
func TestOnlyCurrentTemplatePodsFailFast(t *testing.T) {
	tpl := func(image string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "pachd"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "pachd", Image: image}}}}
	}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "pachd", Namespace: "ns", UID: "dep", Generation: 2,
		Annotations: map[string]string{ReleaseNameAnnotation: "pach"}},
		Spec: appsv1.DeploymentSpec{Replicas: ptrTo(int32(1)), Template: tpl("pachd:2.11.6"),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pachd"}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 1}}
	rs := func(uid, image string) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "pachd-" + uid, UID: types.UID(uid),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
			Spec: appsv1.ReplicaSetSpec{Template: tpl(image)}}
	}
	cur, old := rs("new", "pachd:2.11.6"), rs("old", "pachd:2.11.5")
	eval := func(pods ...*corev1.Pod) error {
		_, err := evaluate("ns", Selection{Release: "pach"}, newWatchState(time.Now()), items[*appsv1.Deployment]{d}, items[*appsv1.StatefulSet]{},
			items[*appsv1.DaemonSet]{}, items[*batchv1.Job]{}, items[*corev1.Pod](pods), items[*appsv1.ReplicaSet]{old, cur})
		return err
	}
	if err := eval(waitingPod("pachd-old-1", old, "ReplicaSet", "CrashLoopBackOff"), waitingPod("pachd-new-1", cur, "ReplicaSet", "ContainerCreating")); err != nil {
		t.Errorf("the old template's crash loop failed the rollout: %v", err)
	}
	var pf *PodFailureError
	if err := eval(waitingPod("pachd-new-1", cur, "ReplicaSet", "CrashLoopBackOff")); !errors.As(err, &pf) || pf.Pod != "pachd-new-1" {
		t.Errorf("the current template's crash loop: %v, want it to fail the rollout", err)
	}
	// Just after the apply: the controller has not observed generation 2 and made no
	// ReplicaSet for it; the old one's crash loop is still the version being left.
	before := func(pods ...*corev1.Pod) error {
		d := d.DeepCopy()
		d.Status.ObservedGeneration = 1
		_, err := evaluate("ns", Selection{Release: "pach"}, newWatchState(time.Now()), items[*appsv1.Deployment]{d}, items[*appsv1.StatefulSet]{},
			items[*appsv1.DaemonSet]{}, items[*batchv1.Job]{}, items[*corev1.Pod](pods), items[*appsv1.ReplicaSet]{old})
		return err
	}
	if err := before(waitingPod("pachd-old-1", old, "ReplicaSet", "CrashLoopBackOff")); err != nil {
		t.Errorf("before the controller saw the new template, the old template's crash loop failed the rollout: %v", err)
	}
}

// TestTransientFailuresGetAGrace: ErrImagePull and CreateContainerConfigError fail only
// once they lasted transientGrace, and then say so.
func TestTransientFailuresGetAGrace(t *testing.T) {
	for _, reason := range []string{"ErrImagePull", "CreateContainerConfigError"} {
		now := time.Now()
		st := newWatchState(now)
		st.now = func() time.Time { return now }
		p := waitingPod("pachd-1", &metav1.ObjectMeta{Name: "pachd-x", UID: "rs"}, "ReplicaSet", reason)
		if err := st.podFailure(p); err != nil {
			t.Errorf("%s at once: %v, want a grace", reason, err)
		}
		if st.wake != now.Add(transientGrace) {
			t.Errorf("%s: wake at %v, want the grace's end", reason, st.wake)
		}
		now = now.Add(transientGrace)
		err := st.podFailure(p)
		var pf *PodFailureError
		if !errors.As(err, &pf) || pf.Reason != reason || !strings.Contains(err.Error(), "grace") {
			t.Errorf("%s after the grace: %v, want a failure that names the grace", reason, err)
		}
	}
	if err := podFailure(waitingPod("pachd-1", &metav1.ObjectMeta{Name: "x", UID: "rs"}, "ReplicaSet", "ImagePullBackOff")); err == nil {
		t.Error("ImagePullBackOff is not transient")
	}
}

func TestStatefulSetAndDaemonSetGaps(t *testing.T) {
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "etcd", Namespace: "ns", UID: "sts", Generation: 1},
		Spec:   appsv1.StatefulSetSpec{Replicas: ptrTo(int32(1)), MinReadySeconds: 10},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, ReadyReplicas: 1, AvailableReplicas: 0, CurrentRevision: "a", UpdateRevision: "a"}}
	if why := statefulSetPending(sts); !strings.Contains(why, "minReadySeconds") {
		t.Errorf("Ready but not yet available under minReadySeconds: pending %q", why)
	}
	sts.Status.AvailableReplicas = 1
	if why := statefulSetPending(sts); why != "" {
		t.Errorf("available: pending %q", why)
	}

	// A pod stuck on the old revision, not Ready: named, with the command.
	sts.Status.UpdateRevision = "b"
	p := waitingPod("etcd-0", sts, "StatefulSet", "CrashLoopBackOff")
	p.Labels[appsv1.StatefulSetRevisionLabel] = "a"
	old := map[types.UID]bool{}
	stuck := markOldStatefulSetPods(sts, []*corev1.Pod{p}, old)
	if !old[p.UID] || !strings.Contains(stuck, "kubectl delete pod etcd-0 -n ns") {
		t.Errorf("stuck pod: old %v, %q; want it named with the command", old, stuck)
	}

	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "node", Generation: 2},
		Spec:   appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: 2, UpdatedNumberScheduled: 0, NumberAvailable: 2}}
	if why := daemonSetPending(ds); why != "" {
		t.Errorf("OnDelete DaemonSet with every pod available: pending %q", why)
	}
	ds.Spec.UpdateStrategy.Type = appsv1.RollingUpdateDaemonSetStrategyType
	if why := daemonSetPending(ds); why == "" {
		t.Error("rolling DaemonSet with no pod updated: done")
	}
}
