package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newClient returns a Client on the real control plane and a fresh namespace.
func newClient(t *testing.T) (*Client, string) {
	t.Helper()
	c, err := New(testenv.RESTConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	return c, testenv.Namespace(t)
}

func helmMeta(name, release string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name,
		Labels:      map[string]string{ManagedByLabel: "Helm"},
		Annotations: map[string]string{ReleaseNameAnnotation: release}}
}

func podTemplate(app, image string, annotations map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}, Annotations: annotations},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: app, Image: image,
			Ports: []corev1.ContainerPort{{Name: "grpc", ContainerPort: 1650}}}}},
	}
}

func deployment(name, release, image string, replicas int32, annotations map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: helmMeta(name, release), Spec: appsv1.DeploymentSpec{
		Replicas: &replicas,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
		Template: podTemplate(name, image, annotations),
	}}
}

func statefulSet(name, release, image string) *appsv1.StatefulSet {
	one := int32(1)
	return &appsv1.StatefulSet{ObjectMeta: helmMeta(name, release), Spec: appsv1.StatefulSetSpec{
		Replicas: &one, ServiceName: name,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
		Template: podTemplate(name, image, nil),
	}}
}

func create[T any](t *testing.T, f func(context.Context, T, metav1.CreateOptions) (T, error), obj T) T {
	t.Helper()
	out, err := f(context.Background(), obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) add(s string) { l.mu.Lock(); l.l = append(l.l, s); l.mu.Unlock() }
func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.l...)
}

func TestWaitReadyRollout(t *testing.T) {
	c, ns := newClient(t)
	ctx := context.Background()
	create(t, c.cs.AppsV1().Deployments(ns).Create, deployment("pachd", "pach", "pachyderm/pachd:2.11.5", 2, nil))
	create(t, c.cs.AppsV1().StatefulSets(ns).Create, statefulSet("etcd", "pach", "pachyderm/etcd:3.5.1"))
	// Another release's broken workload in the same namespace must not be waited for.
	create(t, c.cs.AppsV1().Deployments(ns).Create, deployment("other", "other", "x:1", 1,
		map[string]string{testenv.AnnotationNeverReady: "true"}))

	var got lines
	if err := c.WaitReady(ctx, ns, Selection{Release: "pach"}, 60*time.Second, got.add); err != nil {
		t.Fatalf("first rollout: %v (progress %q)", err, got.all())
	}
	last := got.all()[len(got.all())-1]
	for _, want := range []string{"deployment/pachd 2/2 ready", "statefulset/etcd 1/1 ready"} {
		if !strings.Contains(last, want) {
			t.Errorf("last progress line %q lacks %q", last, want)
		}
	}
	if strings.Contains(strings.Join(got.all(), "\n"), "other") {
		t.Errorf("progress mentions another release's workload: %q", got.all())
	}
	seen := map[string]bool{}
	for _, l := range got.all() {
		if seen[l] {
			t.Errorf("progress line repeated: %q", l)
		}
		seen[l] = true
	}

	// Upgrade both: the wait must cover the new generation, not the old Ready state. A JSON
	// patch carries no resourceVersion, so the controllers' status writes (which may still be
	// going on: WaitReady reads the pods, which finish first) cannot conflict with it.
	setImage := `[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":%q}]`
	if _, err := c.cs.AppsV1().Deployments(ns).Patch(ctx, "pachd", types.JSONPatchType,
		fmt.Appendf(nil, setImage, "pachyderm/pachd:2.11.6"), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.cs.AppsV1().StatefulSets(ns).Patch(ctx, "etcd", types.JSONPatchType,
		fmt.Appendf(nil, setImage, "pachyderm/etcd:3.5.2"), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(ctx, ns, Selection{Release: "pach"}, 60*time.Second, nil); err != nil {
		t.Fatalf("upgrade rollout: %v", err)
	}
	rows, err := c.ReleasePodTable(ctx, ns, "pach")
	if err != nil {
		t.Fatal(err)
	}
	// The rollout is done once the old pods are terminating; they may still
	// be listed, as Terminating, until they are gone.
	var serving []PodRow
	for _, r := range rows {
		if r.Status != "Terminating" {
			serving = append(serving, r)
		}
	}
	if len(serving) != 3 {
		t.Fatalf("release pods = %+v, want 2 pachd + 1 etcd serving", rows)
	}
	for _, r := range serving {
		want := "2.11.6"
		if strings.HasPrefix(r.Name, "etcd") {
			want = "3.5.2"
		}
		if r.Ready != "1/1" || r.Status != "Running" || len(r.Images) != 1 || r.Images[0] != want {
			t.Errorf("row %+v: want 1/1 Running image %s", r, want)
		}
	}
	tag, err := c.DeploymentImageTag(ctx, ns, "pachd", "pachd")
	if err != nil || tag != "2.11.6" {
		t.Errorf("DeploymentImageTag = %q, %v", tag, err)
	}
	if _, err := c.DeploymentImageTag(ctx, ns, "pachd", "sidecar"); err == nil || !strings.Contains(err.Error(), "pachd") {
		t.Errorf("unknown container: %v", err)
	}
}

func TestWaitReadyNoWorkloads(t *testing.T) {
	c, ns := newClient(t)
	err := c.WaitReady(context.Background(), ns, Selection{Release: "absent"}, 2*time.Second, nil)
	if err == nil || !strings.Contains(err.Error(), "no Deployment") || !strings.Contains(err.Error(), "absent") {
		t.Fatalf("err = %v, want one saying release absent has no workloads", err)
	}
}

func TestWaitReadyNeverReadyTimesOut(t *testing.T) {
	c, ns := newClient(t)
	create(t, c.cs.AppsV1().Deployments(ns).Create, deployment("pachd", "pach", "pachd:2.11.6", 1,
		map[string]string{testenv.AnnotationNeverReady: "true"}))
	create(t, c.cs.AppsV1().StatefulSets(ns).Create, statefulSet("etcd", "pach", "etcd:1"))
	start := time.Now()
	err := c.WaitReady(context.Background(), ns, Selection{Release: "pach"}, 5*time.Second, nil)
	var nr *NotReadyError
	if !errors.As(err, &nr) {
		t.Fatalf("err = %v, want NotReadyError", err)
	}
	if time.Since(start) < 5*time.Second {
		t.Errorf("returned after %s, before the timeout", time.Since(start))
	}
	msg := err.Error()
	if !strings.Contains(msg, "deployment/pachd") || !strings.Contains(msg, "pod pachd-") {
		t.Errorf("timeout error %q should name the deployment and its pod", msg)
	}
	if strings.Contains(msg, "etcd") {
		t.Errorf("timeout error %q names the Ready statefulset", msg)
	}
}

// TestWaitReadyCancelledIsNotATimeout: a wait cancelled by the caller (the
// runner's SIGINT) returns at once with the cause, never "not ready after".
func TestWaitReadyCancelledIsNotATimeout(t *testing.T) {
	c, ns := newClient(t)
	create(t, c.cs.AppsV1().Deployments(ns).Create, deployment("pachd", "pach", "pachd:2.11.6", 1,
		map[string]string{testenv.AnnotationNeverReady: "true"}))
	cause := errors.New("interrupt signal received")
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(2*time.Second, func() { cancel(cause) })
	start := time.Now()
	err := c.WaitReady(ctx, ns, Selection{Release: "pach"}, 5*time.Minute, nil)
	var nr *NotReadyError
	if errors.As(err, &nr) || !errors.Is(err, cause) {
		t.Fatalf("err = %v, want the cancel's cause and no NotReadyError", err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("cancelled wait returned after %s", took)
	}
}

func TestWaitReadyFailsFast(t *testing.T) {
	for annotation, reason := range map[string]string{
		testenv.AnnotationCrashLoop:        "CrashLoopBackOff",
		testenv.AnnotationImagePullBackOff: "ImagePullBackOff",
	} {
		t.Run(reason, func(t *testing.T) {
			c, ns := newClient(t)
			create(t, c.cs.AppsV1().Deployments(ns).Create, deployment("pachd", "pach", "pachd:2.11.6", 1,
				map[string]string{annotation: "true"}))
			start := time.Now()
			err := c.WaitReady(context.Background(), ns, Selection{Release: "pach"}, 60*time.Second, nil)
			var pf *PodFailureError
			if !errors.As(err, &pf) {
				t.Fatalf("err = %v, want PodFailureError", err)
			}
			if !strings.HasPrefix(pf.Pod, "pachd-") || pf.Reason != reason || pf.Container != "pachd" {
				t.Errorf("failure = %+v, want pod pachd-*, container pachd, reason %s", pf, reason)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("took %s: not failing fast", d)
			}
			rows, err := c.PodTable(context.Background(), ns, "app=pachd")
			if err != nil || len(rows) != 1 || !strings.Contains(rows[0].Status, reason) || rows[0].Ready != "0/1" {
				t.Errorf("pod table = %+v, %v; want one 0/1 row with status %s", rows, err, reason)
			}
		})
	}
}

func TestWaitReadySurvivesAPIServerRestart(t *testing.T) {
	c, ns := newClient(t)
	ctx := context.Background()
	create(t, c.cs.AppsV1().Deployments(ns).Create, deployment("pachd", "pach", "pachd:2.11.6", 1,
		map[string]string{testenv.AnnotationNeverReady: "true"}))
	done := make(chan error, 1)
	go func() { done <- c.WaitReady(ctx, ns, Selection{Release: "pach"}, 120*time.Second, nil) }()
	time.Sleep(time.Second) // let the informers sync before the restart
	testenv.RestartAPIServer(t)
	// Fix the rollout only after the restart: the wait can only see it through
	// a watch re-established after the API server came back.
	var err error
	for i := 0; i < 20; i++ {
		var d *appsv1.Deployment
		if d, err = c.cs.AppsV1().Deployments(ns).Get(ctx, "pachd", metav1.GetOptions{}); err == nil {
			d.Spec.Template.Annotations = nil
			if _, err = c.cs.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err == nil {
				break
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("wait after restart: %v", err)
		}
	case <-time.After(150 * time.Second):
		t.Fatal("WaitReady did not return")
	}
}

func TestSecretData(t *testing.T) {
	c, ns := newClient(t)
	create(t, c.cs.CoreV1().Secrets(ns).Create, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "postgres"},
		Data: map[string][]byte{"postgresql-password": []byte("pw-123")}})
	data, err := c.SecretData(context.Background(), ns, "postgres")
	if err != nil || string(data["postgresql-password"]) != "pw-123" {
		t.Fatalf("SecretData = %v, %v", data, err)
	}
	_, err = c.SecretData(context.Background(), ns, "missing")
	if !apierrors.IsNotFound(err) {
		t.Fatalf("err = %v, want NotFound through the wrap", err)
	}
	if want := fmt.Sprintf("read secret %s/missing", ns); !strings.Contains(err.Error(), want) {
		t.Errorf("err %q lacks %q", err, want)
	}
}

func TestLeaseExclusion(t *testing.T) {
	c, ns := newClient(t)
	ctx := context.Background()
	name := LeaseName("pachd")
	a, err := c.Acquire(ctx, ns, name, "run-a", 6*time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)
	first, err := c.cs.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	_, err = c.Acquire(ctx, ns, name, "run-b", 6*time.Second, 3*time.Second)
	var held *LeaseHeldError
	if !errors.As(err, &held) {
		t.Fatalf("second holder: err = %v, want LeaseHeldError", err)
	}
	if held.Holder != "run-a" || !strings.Contains(err.Error(), `"run-a"`) || held.RenewTime.IsZero() {
		t.Errorf("error %q should name run-a and its last renewal", err)
	}
	if waited := time.Since(start); waited < 3*time.Second {
		t.Errorf("gave up after %s, before the 3s wait", waited)
	}
	// Three seconds is past two renewal periods (ttl/3): the holder kept it alive.
	now, err := c.cs.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !now.Spec.RenewTime.After(first.Spec.RenewTime.Time) {
		t.Errorf("lease not renewed: %s then %s", first.Spec.RenewTime, now.Spec.RenewTime)
	}
	if a.Context().Err() != nil {
		t.Fatalf("holder's context ended: %v", context.Cause(a.Context()))
	}

	// A waiter gets the lease as soon as the holder releases it, not at expiry.
	got := make(chan error, 1)
	var b *Lock
	go func() {
		var err error
		b, err = c.Acquire(ctx, ns, name, "run-b", 6*time.Second, 20*time.Second)
		got <- err
	}()
	time.Sleep(500 * time.Millisecond)
	released := time.Now()
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx); err != nil {
		t.Errorf("second Release: %v", err)
	}
	if a.Context().Err() == nil {
		t.Error("released lock's context still live")
	}
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	defer b.Release(ctx)
	if d := time.Since(released); d > 3*time.Second {
		t.Errorf("waiter took %s after release: polling, not watching?", d)
	}
}

func TestLeaseLostCancelsContext(t *testing.T) {
	c, ns := newClient(t)
	ctx := context.Background()
	name := LeaseName("pachd")
	a, err := c.Acquire(ctx, ns, name, "run-a", 3*time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)
	l, err := c.cs.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	thief := "thief"
	l.Spec.HolderIdentity = &thief
	if _, err := c.cs.CoordinationV1().Leases(ns).Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Context().Done():
		if !errors.Is(context.Cause(a.Context()), ErrLeaseLost) {
			t.Errorf("cause = %v, want ErrLeaseLost", context.Cause(a.Context()))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("lost lease did not cancel the holder's context")
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	// Release must not delete a Lease that now belongs to someone else.
	l, err = c.cs.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil || *l.Spec.HolderIdentity != "thief" {
		t.Fatalf("thief's lease after Release: %v, %v", l, err)
	}
}

// TestLeaseSurvivesItsOwnLostRenewal writes the Lease with the holder's own
// identity behind the Lock's back, as a renewal whose answer was lost (an API
// server restart) leaves it: the next renewal conflicts, but the Lease is
// still ours and must not be given up.
func TestLeaseSurvivesItsOwnLostRenewal(t *testing.T) {
	c, ns := newClient(t)
	ctx := context.Background()
	name := LeaseName("pachd")
	a, err := c.Acquire(ctx, ns, name, "run-a", 3*time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)
	leases := c.cs.CoordinationV1().Leases(ns)
	l, err := leases.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.NowMicro()
	l.Spec.RenewTime = &now
	if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Three renewal periods (ttl/3 each).
	select {
	case <-a.Context().Done():
		t.Fatalf("lock given up: %v", context.Cause(a.Context()))
	case <-time.After(3 * time.Second):
	}
	l2, err := leases.Get(ctx, name, metav1.GetOptions{})
	if err != nil || *l2.Spec.HolderIdentity != "run-a" || !l2.Spec.RenewTime.After(now.Time) {
		t.Fatalf("lease after the lost renewal: %v, %v; want run-a renewing it", l2, err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLeaseRace(t *testing.T) {
	c, ns := newClient(t)
	ctx := context.Background()
	const n = 6
	var mu sync.Mutex
	var winners []*Lock
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := c.Acquire(ctx, ns, LeaseName("pachd"), fmt.Sprintf("run-%d", i), 10*time.Second, 2*time.Second)
			if err == nil {
				mu.Lock()
				winners = append(winners, l)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, w := range winners {
		defer w.Release(ctx)
	}
	if len(winners) != 1 {
		t.Fatalf("%d runs hold the lease at once, want exactly 1", len(winners))
	}
}

func TestPortForwardErrors(t *testing.T) {
	c, ns := newClient(t)
	ctx := context.Background()
	create(t, c.cs.CoreV1().Services(ns).Create, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "pachd"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "pachd"},
			Ports: []corev1.ServicePort{{Name: "api-grpc-port", Port: 30650}}}})
	if _, _, err := c.PortForward(ctx, ns, "pachd", 30650); err == nil || !strings.Contains(err.Error(), "no pod matches") {
		t.Errorf("no pods: err = %v", err)
	}
	if _, _, err := c.PortForward(ctx, ns, "pachd", 1234); err == nil || !strings.Contains(err.Error(), "no port 1234") {
		t.Errorf("wrong port: err = %v", err)
	}
	if _, _, err := c.PortForward(ctx, ns, "nope", 30650); !apierrors.IsNotFound(err) {
		t.Errorf("missing service: err = %v", err)
	}
	create(t, c.cs.AppsV1().Deployments(ns).Create, deployment("pachd", "pach", "pachd:2.11.6", 1,
		map[string]string{testenv.AnnotationNeverReady: "true"}))
	var err error
	for i := 0; i < 50; i++ {
		if _, _, err = c.PortForward(ctx, ns, "pachd", 30650); err != nil && strings.Contains(err.Error(), "no Ready pod (pachd-") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err == nil || !strings.Contains(err.Error(), "no Ready pod (pachd-") {
		t.Errorf("unready pod: err = %v, want one naming the pod", err)
	}
}
