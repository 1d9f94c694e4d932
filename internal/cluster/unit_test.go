package cluster

import (
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

func TestImageTag(t *testing.T) {
	for in, want := range map[string]string{
		"pachyderm/pachd:2.11.6":                     "2.11.6",
		"localhost:5000/pachyderm/pachd:2.11.6-rc.1": "2.11.6-rc.1",
		"localhost:5000/pachd":                       "latest",
		"pachd":                                      "latest",
		"pachd@sha256:abc":                           "sha256:abc",
		"pachd:2.11.5@sha256:abc":                    "2.11.5",
	} {
		if got := ImageTag(in); got != want {
			t.Errorf("ImageTag(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRESTConfigFromContent(t *testing.T) {
	kc := `apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://127.0.0.1:1111"}
- name: b
  cluster: {server: "https://127.0.0.1:2222"}
users:
- name: u
  user: {token: "s3cr3t-token"}
contexts:
- name: ctx-a
  context: {cluster: a, user: u}
- name: ctx-b
  context: {cluster: b, user: u}
current-context: ctx-a
`
	for ctxName, host := range map[string]string{"": "https://127.0.0.1:1111", "ctx-b": "https://127.0.0.1:2222"} {
		cfg, err := RESTConfig([]byte(kc), ctxName)
		if err != nil {
			t.Fatalf("context %q: %v", ctxName, err)
		}
		if cfg.Host != host {
			t.Errorf("context %q: host %q, want %q", ctxName, cfg.Host, host)
		}
	}
	if _, err := RESTConfig([]byte(kc), "nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown context: err = %v, want one naming it", err)
	}
	bad := "token: s3cr3t-token\n\tnot: [yaml"
	_, err := RESTConfig([]byte(bad), "")
	if err == nil {
		t.Fatal("garbage kubeconfig accepted")
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error leaks the kubeconfig content: %v", err)
	}
}

func i32(v int32) *int32 { return &v }

func TestDeploymentPending(t *testing.T) {
	base := func() *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "pachd", Generation: 2},
			Spec:       appsv1.DeploymentSpec{Replicas: i32(2)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2,
				ReadyReplicas: 2, AvailableReplicas: 2},
		}
	}
	if why, err := deploymentPending(base(), time.Time{}); why != "" || err != nil {
		t.Fatalf("rolled-out deployment pending: %q %v", why, err)
	}
	cases := map[string]func(d *appsv1.Deployment){
		"not observed":  func(d *appsv1.Deployment) { d.Status.ObservedGeneration = 1 },
		"not updated":   func(d *appsv1.Deployment) { d.Status.UpdatedReplicas = 1 },
		"old replicas":  func(d *appsv1.Deployment) { d.Status.Replicas = 3 },
		"not available": func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 1; d.Status.ReadyReplicas = 1 },
	}
	for name, mutate := range cases {
		d := base()
		mutate(d)
		if why, err := deploymentPending(d, time.Time{}); why == "" || err != nil {
			t.Errorf("%s: pending = %q, err = %v; want a reason", name, why, err)
		}
	}
	d := base()
	exceeded := metav1.NewTime(time.Now().Add(-time.Minute))
	d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded", LastUpdateTime: exceeded}}
	var wf *WorkloadFailureError
	if _, err := deploymentPending(d, exceeded.Add(-time.Second)); !errors.As(err, &wf) || wf.Name != "pachd" {
		t.Errorf("progress deadline: err = %v", err)
	}
	// Issue 20 item 7: a deadline exceeded before the watch began is an earlier rollout's.
	if _, err := deploymentPending(d, time.Now()); err != nil {
		t.Errorf("progress deadline older than the watch: err = %v, want it ignored", err)
	}
}

func TestStatefulSetPending(t *testing.T) {
	base := func() *appsv1.StatefulSet {
		return &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: "etcd", Generation: 3},
			Spec:       appsv1.StatefulSetSpec{Replicas: i32(1)},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: 3, ReadyReplicas: 1, UpdatedReplicas: 1,
				CurrentRevision: "etcd-2", UpdateRevision: "etcd-2"},
		}
	}
	if why := statefulSetPending(base()); why != "" {
		t.Fatalf("rolled-out statefulset pending: %q", why)
	}
	s := base()
	s.Status.UpdateRevision = "etcd-3"
	if why := statefulSetPending(s); !strings.Contains(why, "etcd-3") {
		t.Errorf("revision mismatch: %q", why)
	}
	s = base()
	s.Status.ReadyReplicas = 0
	if statefulSetPending(s) == "" {
		t.Error("unready statefulset not pending")
	}
	s = base()
	s.Status.ObservedGeneration = 2
	if statefulSetPending(s) == "" {
		t.Error("unobserved statefulset not pending")
	}
}

func TestPodFailureAndStatus(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pachd-1", Namespace: "ns"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "pachd", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 10s"}},
		}}}}
	var pf *PodFailureError
	if err := podFailure(p); !errors.As(err, &pf) || pf.Pod != "pachd-1" || pf.Reason != "CrashLoopBackOff" {
		t.Fatalf("crash loop: %v", err)
	}
	if got := podStatus(p); got != "CrashLoopBackOff" {
		t.Errorf("status = %q", got)
	}
	p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	if err := podFailure(p); err != nil {
		t.Errorf("ContainerCreating is not a failure: %v", err)
	}
}

func TestLeaseFree(t *testing.T) {
	now := time.Now()
	mk := func(holder string, renewed time.Time) *coordv1.Lease {
		r := metav1.NewMicroTime(renewed)
		return &coordv1.Lease{Spec: coordv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &r, LeaseDurationSeconds: i32(30)}}
	}
	if free(mk("other", now.Add(-10*time.Second)), "me", now) {
		t.Error("a lease renewed 10s ago with a 30s term is not free")
	}
	if !free(mk("other", now.Add(-31*time.Second)), "me", now) {
		t.Error("an expired lease is free")
	}
	if !free(mk("me", now), "me", now) {
		t.Error("our own lease is free to us")
	}
	if !free(mk("", now), "me", now) {
		t.Error("a released lease is free")
	}
	e := &LeaseHeldError{Namespace: "ns", Name: "pach-upgrade-pachd", Holder: "run-1", RenewTime: now, Waited: 2 * time.Second}
	if msg := e.Error(); !strings.Contains(msg, `"run-1"`) || !strings.Contains(msg, "last renewed") {
		t.Errorf("LeaseHeldError = %q", msg)
	}
}

// items serves a fixed list to evaluate, as a lister would from its cache.
type items[T any] []T

func (l items[T]) List(labels.Selector) ([]T, error) { return l, nil }

// A Deployment whose status still says "1 old replica pending termination"
// while its pods already say the rollout is done: evaluate must read the
// pods, and only when they alone can tell.
func TestEvaluateReadsTheRolloutFromPods(t *testing.T) {
	template := func(image string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "pachd"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "pachd", Image: image}}}}
	}
	deploy := func() *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "pachd", Namespace: "ns", UID: "dep", Generation: 2,
				Annotations: map[string]string{ReleaseNameAnnotation: "pach"}},
			Spec: appsv1.DeploymentSpec{Replicas: i32(2), Template: template("pachd:2.11.6"),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pachd"}}},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 2,
				ReadyReplicas: 2, AvailableReplicas: 2},
		}
	}
	rs := func(d *appsv1.Deployment, uid, image, hash string) *appsv1.ReplicaSet {
		tpl := template(image)
		tpl.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "pachd-" + hash, UID: types.UID(uid),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
			Spec: appsv1.ReplicaSetSpec{Template: tpl}}
	}
	pod := func(name string, owner *appsv1.ReplicaSet, ready, terminating bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "pachd"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		if ready {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}
		if terminating {
			now := metav1.Now()
			p.DeletionTimestamp = &now
		}
		return p
	}
	type world struct {
		d    *appsv1.Deployment
		rss  []*appsv1.ReplicaSet
		pods []*corev1.Pod
	}
	build := func(newReady, oldTerminating bool) world {
		d := deploy()
		cur, old := rs(d, "new", "pachd:2.11.6", "b"), rs(d, "old", "pachd:2.11.5", "a")
		return world{d, []*appsv1.ReplicaSet{old, cur}, []*corev1.Pod{
			pod("pachd-b-1", cur, true, false), pod("pachd-b-2", cur, newReady, false), pod("pachd-a-1", old, true, oldTerminating)}}
	}
	eval := func(w world) snapshot {
		t.Helper()
		snap, err := evaluate("ns", Selection{Release: "pach"}, newWatchState(time.Now()), items[*appsv1.Deployment]{w.d}, items[*appsv1.StatefulSet]{},
			items[*appsv1.DaemonSet]{}, items[*batchv1.Job]{}, items[*corev1.Pod](w.pods), items[*appsv1.ReplicaSet](w.rss))
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}

	if snap := eval(build(true, true)); len(snap.pending) != 0 || snap.line() != "deployment/pachd 2/2 ready" {
		t.Errorf("new pods Ready, old one terminating: pending %q, line %q; want done, 2/2", snap.pending, snap.line())
	}
	for name, w := range map[string]world{
		"an old pod still serving": build(true, false),
		"a new pod not Ready":      build(false, true),
		"minReadySeconds": func() world {
			w := build(true, true)
			w.d.Spec.MinReadySeconds = 10
			return w
		}(),
		"spec not observed": func() world {
			w := build(true, true)
			w.d.Status.ObservedGeneration = 1
			return w
		}(),
		"no ReplicaSet runs the template yet": func() world {
			w := build(true, true)
			w.d.Spec.Template = template("pachd:2.11.7")
			return w
		}(),
	} {
		if snap := eval(w); len(snap.pending) == 0 {
			t.Errorf("%s: rollout reported done", name)
		}
	}
}
