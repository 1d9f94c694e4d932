// Package clustertest proves the pachd stand-in against the local control
// plane: its version follows the pachd pods that are actually Ready, so a
// rollout that did not happen fails verification.
package clustertest

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/pach-upgrade/pach-upgrade/internal/pachctl"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin"
)

const (
	oldVersion = "2.11.5"
	target     = "2.11.6"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func pachdDeployment(tag string) *appsv1.Deployment {
	labels := map[string]string{"app": "pachd", "suite": "pachyderm"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "pachd", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pachd"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "pachd", Image: "pachyderm/pachd:" + tag},
					{Name: "sidecar", Image: "busybox:1.36"},
				}},
			},
		},
	}
}

func TestVerifyFollowsReadyPachdPods(t *testing.T) {
	ctx := t.Context()
	cs, err := kubernetes.NewForConfig(testenv.RESTConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.Namespace(t)
	deps := cs.AppsV1().Deployments(ns)
	if _, err := deps.Create(ctx, pachdDeployment(oldVersion), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	version := pachstandin.VersionFromCluster(cs, ns, "pachd")
	waitForVersion(t, version, oldVersion)

	bin := filepath.Join(t.TempDir(), "pachctl")
	if err := pachstandin.BuildBinary(ctx, target, runtime.GOARCH, bin); err != nil {
		t.Fatal(err)
	}
	pctx, stop := context.WithCancel(context.Background())
	pachd, err := pachstandin.ServePachd(pctx, version)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(); <-pachd.Done() })

	// The Deployment now asks for the target, but its new pod never becomes
	// Ready: the old pod keeps serving, so pachd still answers the old version.
	updateTemplate(t, cs, ns, func(tpl *corev1.PodTemplateSpec) {
		tpl.Spec.Containers[0].Image = "pachyderm/pachd:" + target
		tpl.Annotations = map[string]string{testenv.AnnotationNeverReady: "true"}
	})
	waitFor(t, "a new pachd pod that is not Ready", func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=pachd"})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Spec.Containers[0].Image == "pachyderm/pachd:"+target && p.Status.Phase == corev1.PodRunning {
				return true, nil
			}
		}
		return false, nil
	})
	v, err := pachctl.Verify(ctx, pachctl.Conn{Path: bin, Address: pachd.Address}, target, 10*time.Second)
	if !errors.Is(err, pachctl.ErrVersionMismatch) {
		t.Fatalf("verify after a rollout that did not happen: %+v, %v; want a version mismatch", v, err)
	}
	if v.Pachctl != target || v.Pachd != oldVersion || !strings.Contains(err.Error(), oldVersion) || !strings.Contains(err.Error(), target) {
		t.Errorf("versions %+v, error %q; want pachctl %s and pachd %s, both named", v, err, target, oldVersion)
	}

	// Once the rollout really happens, verification passes.
	updateTemplate(t, cs, ns, func(tpl *corev1.PodTemplateSpec) { tpl.Annotations = nil })
	waitForVersion(t, version, target)
	v, err = pachctl.Verify(ctx, pachctl.Conn{Path: bin, Address: pachd.Address}, target, 30*time.Second)
	if err != nil || v != (pachctl.Versions{Pachctl: target, Pachd: target}) {
		t.Fatalf("verify after the rollout: %+v, %v", v, err)
	}
}

func TestVersionFromClusterWithoutReadyPods(t *testing.T) {
	ctx := t.Context()
	cs, err := kubernetes.NewForConfig(testenv.RESTConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.Namespace(t)
	version := pachstandin.VersionFromCluster(cs, ns, "pachd")
	if v, err := version(ctx); err == nil || !strings.Contains(err.Error(), "pachd") {
		t.Errorf("version without a Deployment = %q, %v; want an error", v, err)
	}
	d := pachdDeployment(target)
	d.Spec.Template.Annotations = map[string]string{testenv.AnnotationNeverReady: "true"}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pachd pod to run", func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=pachd"})
		return err == nil && len(pods.Items) == 1 && pods.Items[0].Status.Phase == corev1.PodRunning, err
	})
	if v, err := version(ctx); err == nil || !strings.Contains(err.Error(), "no Ready pod") {
		t.Errorf("version with no Ready pod = %q, %v; want no Ready pod", v, err)
	}
}

func updateTemplate(t *testing.T, cs kubernetes.Interface, ns string, mutate func(*corev1.PodTemplateSpec)) {
	t.Helper()
	waitFor(t, "the Deployment update", func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "pachd", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		mutate(&d.Spec.Template)
		_, err = cs.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
		return err == nil, nil // a conflict is retried
	})
}

func waitForVersion(t *testing.T, version pachstandin.VersionFunc, want string) {
	t.Helper()
	var last string
	var lastErr error
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		last, lastErr = version(ctx)
		return lastErr == nil && last == want, nil
	})
	if err != nil {
		t.Fatalf("waiting for pachd pods at %s: last answer %q, %v", want, last, lastErr)
	}
}

func waitFor(t *testing.T, what string, cond wait.ConditionWithContextFunc) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
