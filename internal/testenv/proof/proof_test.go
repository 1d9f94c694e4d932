// Package proof shows that the local control plane from test/cluster behaves like a real
// cluster where this action depends on it: workloads roll out to Ready, a real Pachyderm chart
// installs and becomes Ready, and RBAC allows and refuses as a Role says. It uses client-go
// directly, not this project's cluster package, so a bug there cannot hide one here.
package proof

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/pach-upgrade/pach-upgrade/internal/helmrelease"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/chartrepo"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func clientset(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func podTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: app, Image: "example/" + app + ":1.0",
			EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}}},
		}}},
	}
}

// readyPods counts the Ready pods with label app=app.
func readyPods(ctx context.Context, cs kubernetes.Interface, ns, app string) (int, error) {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pods.Items {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n, nil
}

func TestDeploymentAndStatefulSetRollOutToReady(t *testing.T) {
	ctx := t.Context()
	cs := clientset(t, testenv.RESTConfig(t))
	ns := testenv.Namespace(t)

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"}, StringData: map[string]string{"PASSWORD": "p"}}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := cs.CoreV1().Secrets(ns).Get(ctx, "creds", metav1.GetOptions{})
	if err != nil || string(got.Data["PASSWORD"]) != "p" {
		t.Fatalf("secret read back = %v, %v; want stringData turned into data", got, err)
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       appsv1.DeploymentSpec{Replicas: new(int32(2)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: podTemplate("web")},
	}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec:       appsv1.StatefulSetSpec{Replicas: new(int32(2)), ServiceName: "db", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, Template: podTemplate("db")},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.ReadyReplicas == 2 && d.Status.UpdatedReplicas == 2 && s.Status.ReadyReplicas == 2, nil
	})
	if err != nil {
		t.Fatalf("Deployment and StatefulSet did not become Ready: %v", err)
	}
	for _, app := range []string{"web", "db"} {
		if n, err := readyPods(ctx, cs, ns, app); err != nil || n != 2 {
			t.Errorf("%s: %d Ready pods (%v), want 2", app, n, err)
		}
	}
	// StatefulSet pods are named by ordinal, as on a real cluster.
	if _, err := cs.CoreV1().Pods(ns).Get(ctx, "db-1", metav1.GetOptions{}); err != nil {
		t.Errorf("StatefulSet pod db-1: %v", err)
	}
	t.Logf("Deployment (2) and StatefulSet (2) Ready in %v", time.Since(start).Round(time.Millisecond))
}

func TestNeverReadyAnnotationKeepsAPodUnready(t *testing.T) {
	ctx := t.Context()
	cs := clientset(t, testenv.RESTConfig(t))
	ns := testenv.Namespace(t)
	tpl := podTemplate("stuck")
	tpl.Spec.Containers[0].EnvFrom = nil
	tpl.Annotations = map[string]string{testenv.AnnotationNeverReady: "true"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "stuck"},
		Spec:       appsv1.DeploymentSpec{Replicas: new(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "stuck"}}, Template: tpl},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=stuck"})
		return err == nil && len(pods.Items) == 1 && pods.Items[0].Status.Phase == corev1.PodRunning, err
	})
	if err != nil {
		t.Fatalf("pod did not reach Running: %v", err)
	}
	time.Sleep(3 * time.Second) // a healthy pod is Ready well within this
	if n, err := readyPods(ctx, cs, ns, "stuck"); err != nil || n != 0 {
		t.Fatalf("never-ready pod: %d Ready (%v), want 0", n, err)
	}
}

func TestRealPachydermChartBecomesReady(t *testing.T) {
	ctx := t.Context()
	repo := chartrepo.ServeDir(t, testenv.SharedFixtures(t))
	ns := testenv.Namespace(t)
	cfg := testenv.RESTConfig(t)
	hc, err := helmrelease.New(cfg, ns)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := helmrelease.PullChart(ctx, repo.URL, "pachyderm", "2.11.5", helmrelease.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// LOCAL keeps the chart off cloud storage; Loki is an optional extra the action never needs.
	vals := map[string]any{"deployTarget": "LOCAL", "pachd": map[string]any{"lokiDeploy": false}}
	if _, err := hc.Install(ctx, "pachd", ch, vals, helmrelease.UpgradeOptions{Timeout: 3 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	installed := time.Since(start)

	cs := clientset(t, cfg)
	var notReady []string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		notReady = notReady[:0]
		deps, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, d := range deps.Items {
			if d.Status.ObservedGeneration < d.Generation || d.Status.ReadyReplicas != *d.Spec.Replicas || d.Status.UpdatedReplicas != *d.Spec.Replicas {
				notReady = append(notReady, "deployment/"+d.Name)
			}
		}
		stss, err := cs.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, s := range stss.Items {
			if s.Status.ObservedGeneration < s.Generation || s.Status.ReadyReplicas != *s.Spec.Replicas {
				notReady = append(notReady, "statefulset/"+s.Name)
			}
		}
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodSucceeded {
				continue // a finished Job's pod
			}
			ready := false
			for _, c := range p.Status.Conditions {
				ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
			}
			if !ready {
				notReady = append(notReady, "pod/"+p.Name)
			}
		}
		return len(deps.Items)+len(stss.Items) > 0 && len(notReady) == 0, nil
	})
	if err != nil {
		t.Fatalf("real chart not Ready: %v (%v)", notReady, err)
	}
	// The chart's own workloads, each with a Ready pod: pachd, etcd, PostgreSQL, pg-bouncer, console.
	for _, sel := range []string{"app=pachd", "app=etcd", "app.kubernetes.io/name=postgresql", "app=pg-bouncer", "app=console"} {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil || len(pods.Items) == 0 {
			t.Errorf("no pod %s from the real chart (%v)", sel, err)
		}
	}
	t.Logf("real chart 2.11.5: helm install %v, all pods Ready after %v", installed.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

func TestServiceAccountRoleAllowsAndRefuses(t *testing.T) {
	ctx := t.Context()
	admin := testenv.RESTConfig(t)
	cs := clientset(t, admin)
	ns, other := testenv.Namespace(t), testenv.Namespace(t)

	for _, n := range []string{ns, other} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, StringData: map[string]string{"k": "v"}}
		if _, err := cs.CoreV1().Secrets(n).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "secret-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}}},
	}
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "secret-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "secret-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "reader", Namespace: ns}},
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Authenticate as the ServiceAccount with a real token, not by impersonation.
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "reader", &authnv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for the ServiceAccount: %v", err)
	}
	cfg := rest.AnonymousClientConfig(admin)
	cfg.BearerToken = tok.Status.Token
	sacs := clientset(t, cfg)

	// RBAC bindings reach the authorizer's cache asynchronously.
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := sacs.CoreV1().Secrets(ns).Get(ctx, "s", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("the Role allows get secrets in %s, but the ServiceAccount was refused", ns)
	}
	refused := map[string]error{}
	_, refused["list secrets"] = sacs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	refused["delete secret"] = sacs.CoreV1().Secrets(ns).Delete(ctx, "s", metav1.DeleteOptions{})
	_, refused["get secret in another namespace"] = sacs.CoreV1().Secrets(other).Get(ctx, "s", metav1.GetOptions{})
	_, refused["list pods"] = sacs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	for what, err := range refused {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s as the ServiceAccount: err = %v, want Forbidden", what, err)
		}
	}

	// The authorizer agrees when asked directly.
	review := &authv1.SubjectAccessReview{Spec: authv1.SubjectAccessReviewSpec{
		User:               fmt.Sprintf("system:serviceaccount:%s:reader", ns),
		ResourceAttributes: &authv1.ResourceAttributes{Namespace: ns, Verb: "update", Resource: "secrets"},
	}}
	res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status.Allowed {
		t.Error("SubjectAccessReview allows update secrets, which the Role does not grant")
	}
}
