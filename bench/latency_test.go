package bench

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
)

// BenchmarkReadinessLatency: from the moment the benchmark writes the last pod's Ready status
// to the moment cluster.WaitReady (the action's rollout watch) returns done.
//
// The pods carry testenv.AnnotationNeverReady, so kwok runs them but leaves them not Ready:
// the benchmark alone makes them Ready, by writing their status. Each iteration rolls out a
// Helm-marked Deployment of three replicas, marks two new pods Ready, lets the watch settle,
// then stamps the time and marks the third. The rollout is done when every new pod is Ready
// and every old pod terminating (the condition `kubectl rollout status` reads from the
// Deployment's status), so the figure includes the controllers' reaction to the last Ready
// (ReplicaSet status, scale-down of the old ReplicaSet, deletion of its pod). Two independent
// watches stamp when the old pods are all terminating and when the Deployment's own status
// first says complete, to tell the controllers' share from WaitReady's.
func BenchmarkReadinessLatency(b *testing.B) {
	_, rc := clusterFor(b)
	rc.QPS, rc.Burst = 200, 400
	kube, err := cluster.New(rc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ns := namespace(b, kube)
	cs := kube.Clientset()
	const release, replicas = "latency", 3
	labels := map[string]string{"app": "latency-pachd"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "pachd", Labels: map[string]string{cluster.ManagedByLabel: "Helm"},
			Annotations: map[string]string{cluster.ReleaseNameAnnotation: release}},
		Spec: appsv1.DeploymentSpec{
			Replicas: int32Ptr(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{testenv.AnnotationNeverReady: "true", generationKey: "0"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "pachd", Image: "pachyderm/pachd:2.11.5"}}},
			},
		},
	}
	// Wait for the default ServiceAccount: pods are refused before it exists.
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		b.Fatal(err)
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	// The first pods: Ready by the benchmark's hand too.
	for marked := map[string]bool{}; len(marked) < replicas; {
		p, err := nextNewPod(ctx, kube, ns, labels, "0", marked)
		if err != nil {
			b.Fatal(err)
		}
		if err := markReady(ctx, kube, p); err != nil {
			b.Fatal(err)
		}
		marked[p.Name] = true
	}
	if err := kube.WaitReady(ctx, ns, cluster.Selection{Release: release}, 2*time.Minute, nil); err != nil {
		b.Fatal(err)
	}

	s := samples{}
	generation := 0
	rollout := func() (total, terminating, status time.Duration) {
		generation++
		// A new template: a new ReplicaSet whose pods start not Ready.
		patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, generationKey, strconv.Itoa(generation))
		if _, err := cs.AppsV1().Deployments(ns).Patch(ctx, "pachd", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			b.Fatal(err)
		}
		done := make(chan time.Time, 1)
		werr := make(chan error, 1)
		go func() {
			err := kube.WaitReady(ctx, ns, cluster.Selection{Release: release}, 2*time.Minute, nil)
			done <- time.Now()
			werr <- err
		}()
		marked := map[string]bool{}
		var last time.Time
		var complete, oldGone <-chan time.Time
		for len(marked) < replicas {
			p, err := nextNewPod(ctx, kube, ns, labels, strconv.Itoa(generation), marked)
			if err != nil {
				b.Fatal(err)
			}
			if len(marked) == replicas-1 {
				// Let the watch take in everything before the last write, so what is
				// measured is the reaction to that write alone.
				time.Sleep(300 * time.Millisecond)
				select {
				case t := <-done:
					b.Fatalf("WaitReady returned at %v before the last pod was Ready: %v", t, <-werr)
				default:
				}
				complete = deploymentComplete(ctx, b, kube, ns, "pachd", replicas)
				oldGone = oldPodsTerminating(ctx, b, kube, ns, labels, strconv.Itoa(generation))
				last = time.Now()
			}
			if err := markReady(ctx, kube, p); err != nil {
				b.Fatal(err)
			}
			marked[p.Name] = true
		}
		t := <-done
		if err := <-werr; err != nil {
			b.Fatal(err)
		}
		return t.Sub(last), (<-oldGone).Sub(last), (<-complete).Sub(last)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	rollout() // warm-up
	for b.Loop() {
		total, terminating, status := rollout()
		s.add("latency-ms", ms(total))
		s.add("controllers-ms", ms(terminating))
		s.add("watch-ms", ms(total-terminating))
		s.add("status-complete-ms", ms(status))
	}
	for _, name := range []string{"latency-ms", "controllers-ms", "watch-ms", "status-complete-ms"} {
		s.log(b, name, "ms")
		b.ReportMetric(s.median(name), name)
	}
}

// generationKey marks the pod template of each rollout, to tell its pods from the old ones.
const generationKey = "bench/generation"

// deploymentComplete watches the Deployment on its own and sends the time its status first
// says the rollout is complete (every replica updated, Ready and available, none old): the
// moment the controllers are done, for telling their share of the latency from WaitReady's.
func deploymentComplete(ctx context.Context, b *testing.B, kube *cluster.Client, ns, name string, replicas int32) <-chan time.Time {
	b.Helper()
	w, err := kube.Clientset().AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		b.Fatal(err)
	}
	return stampWhen(w, func(ev watch.Event) bool {
		d, ok := ev.Object.(*appsv1.Deployment)
		if !ok {
			return false
		}
		st := d.Status
		return st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == replicas && st.Replicas == replicas &&
			st.ReadyReplicas == replicas && st.AvailableReplicas == replicas
	})
}

// oldPodsTerminating watches the Deployment's pods on its own and sends the time the last pod
// of an older template generation is marked for deletion (or gone): the controllers' share of
// the rollout's end, as WaitReady reads it.
func oldPodsTerminating(ctx context.Context, b *testing.B, kube *cluster.Client, ns string, labels map[string]string, generation string) <-chan time.Time {
	b.Helper()
	pods := kube.Clientset().CoreV1().Pods(ns)
	opts := metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: labels})}
	list, err := pods.List(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	old := map[string]bool{}
	for _, p := range list.Items {
		if p.Annotations[generationKey] != generation && p.DeletionTimestamp == nil {
			old[p.Name] = true
		}
	}
	opts.ResourceVersion = list.ResourceVersion
	w, err := pods.Watch(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	return stampWhen(w, func(ev watch.Event) bool {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			return false
		}
		if ev.Type == watch.Deleted || p.DeletionTimestamp != nil {
			delete(old, p.Name)
		}
		return len(old) == 0
	})
}

// stampWhen sends the time of the first event of w for which done holds, or the zero time if
// the watch ends first.
func stampWhen(w watch.Interface, done func(watch.Event) bool) <-chan time.Time {
	out := make(chan time.Time, 1)
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			if done(ev) {
				out <- time.Now()
				return
			}
		}
		out <- time.Time{}
	}()
	return out
}

// nextNewPod waits for a Running pod of the given template generation that is not yet marked.
func nextNewPod(ctx context.Context, kube *cluster.Client, ns string, labels map[string]string, generation string, marked map[string]bool) (*corev1.Pod, error) {
	var found *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := kube.Clientset().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: labels})})
		if err != nil {
			return false, err
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Annotations[generationKey] == generation && !marked[p.Name] && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
				found = p
				return true, nil
			}
		}
		return false, nil
	})
	return found, err
}

// markReady writes the pod's Ready status, as a kubelet would once its probe passes.
func markReady(ctx context.Context, kube *cluster.Client, p *corev1.Pod) error {
	now := metav1.Now()
	p = p.DeepCopy()
	set := func(t corev1.PodConditionType) {
		for i := range p.Status.Conditions {
			if p.Status.Conditions[i].Type == t {
				p.Status.Conditions[i].Status, p.Status.Conditions[i].Reason, p.Status.Conditions[i].LastTransitionTime = corev1.ConditionTrue, "", now
				return
			}
		}
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	set(corev1.PodReady)
	set(corev1.ContainersReady)
	for i := range p.Status.ContainerStatuses {
		p.Status.ContainerStatuses[i].Ready = true
	}
	if _, err := kube.Clientset().CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("mark pod %s Ready: %w", p.Name, err)
	}
	return nil
}
