package testenv

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// TestPodReadyAfter boots a cluster whose pods turn Ready 2–4 s after they start and checks,
// from a watch, that each pod of a Deployment runs not Ready first, turns Ready no sooner than
// 2 s later, and that the delays differ (the jitter); a pod annotated never-ready stays so.
func TestPodReadyAfter(t *testing.T) {
	if testing.Short() {
		t.Skip("boots its own cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	const lo, hi = 2 * time.Second, 4 * time.Second
	c, err := StartWith(ctx, io.Discard, StartOptions{PodReadyAfter: DelayRange{Min: lo, Max: hi}})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("local cluster did not start: %v", err)
	}
	defer func() { _ = c.Stop(context.Background()) }()
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(rc)
	ns := "ready-after"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	const replicas = 4
	labels := map[string]string{"app": "slow"}
	n := int32(replicas)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "slow"}, Spec: appsv1.DeploymentSpec{
		Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example/slow:1"}}}},
	}}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	never := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "never", Annotations: map[string]string{AnnotationNeverReady: "true"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example/never:1"}}}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, never, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	running, ready := map[string]time.Time{}, map[string]time.Time{}
	deadline := time.After(2 * time.Minute)
	for len(ready) < replicas {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("pod watch ended")
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod || ev.Type == watch.Deleted {
				continue
			}
			now := time.Now()
			isReady := podReady(p)
			if p.Name == "never" {
				if isReady {
					t.Fatal("the never-ready pod turned Ready")
				}
				continue
			}
			if p.Status.Phase == corev1.PodRunning && !isReady {
				if _, seen := running[p.Name]; !seen {
					running[p.Name] = now
				}
			}
			if isReady {
				if _, seen := ready[p.Name]; seen {
					continue
				}
				start, ok := running[p.Name]
				if !ok {
					t.Fatalf("pod %s turned Ready without being seen running not Ready first", p.Name)
				}
				ready[p.Name] = now
				// Both events reach this watch a few ms after kwok wrote them; the delay starts
				// when kwok sees its own first write.
				if d := now.Sub(start); d < lo-200*time.Millisecond {
					t.Errorf("pod %s Ready %v after it started, want at least %v", p.Name, d, lo)
				} else {
					t.Logf("pod %s Ready %v after it started", p.Name, d.Round(time.Millisecond))
				}
			}
		case <-deadline:
			t.Fatalf("after 2 minutes %d of %d pods Ready (%d seen running)", len(ready), replicas, len(running))
		}
	}
	var minD, maxD time.Duration
	for name, r := range ready {
		d := r.Sub(running[name])
		if minD == 0 || d < minD {
			minD = d
		}
		maxD = max(maxD, d)
	}
	if maxD-minD < 50*time.Millisecond {
		t.Errorf("every pod turned Ready %v–%v after it started: no jitter", minD, maxD)
	}
	p, err := cs.CoreV1().Pods(ns).Get(ctx, "never", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if podReady(p) || p.Status.Phase != corev1.PodRunning {
		t.Errorf("never-ready pod: phase %s, ready %v; want Running, not Ready", p.Status.Phase, podReady(p))
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
