package cluster

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
)

func TestRBACManifest(t *testing.T) {
	admin := testenv.RESTConfig(t)
	adminCS, err := kubernetes.NewForConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	ns, other := testenv.Namespace(t), testenv.Namespace(t)
	cfg := testenv.ApplyRBAC(t, filepath.Join("..", "..", "deploy", "rbac.yaml"), ns)
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	type check struct {
		ns, group, resource, sub, verb string
		allowed                        bool
	}
	checks := []check{
		{ns, "", "secrets", "", "list", true}, // Helm's release storage
		{ns, "", "secrets", "", "create", true},
		{ns, "", "secrets", "", "delete", true},
		{ns, "coordination.k8s.io", "leases", "", "create", true},
		{ns, "coordination.k8s.io", "leases", "", "update", true},
		{ns, "coordination.k8s.io", "leases", "", "watch", true},
		{ns, "apps", "deployments", "", "patch", true},
		{ns, "apps", "statefulsets", "", "watch", true},
		{ns, "apps", "daemonsets", "", "watch", true},
		{ns, "apps", "replicasets", "", "watch", true}, // WaitReady tells new pods from old
		{ns, "batch", "jobs", "", "watch", true},
		{ns, "", "pods", "", "watch", true},
		{ns, "", "pods", "portforward", "create", true},
		{ns, "rbac.authorization.k8s.io", "roles", "", "create", true},
		{"", "", "namespaces", "", "delete", false},
		{other, "", "secrets", "", "list", false},
		{other, "apps", "deployments", "", "patch", false},
		{ns, "", "pods", "exec", "create", true}, // the database dump and restore
		{ns, "", "pods", "attach", "create", false},
		{"", "rbac.authorization.k8s.io", "clusterroles", "", "create", false},
		{ns, "rbac.authorization.k8s.io", "roles", "", "escalate", false},
		{"", "", "nodes", "", "list", false},
	}
	for _, ch := range checks {
		r, err := c.cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authzv1.SelfSubjectAccessReview{
			Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authzv1.ResourceAttributes{
				Namespace: ch.ns, Group: ch.group, Resource: ch.resource, Subresource: ch.sub, Verb: ch.verb}}},
			metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.Allowed != ch.allowed {
			t.Errorf("%s %s/%s in %q: allowed=%v, want %v", ch.verb, ch.resource, ch.sub, ch.ns, r.Status.Allowed, ch.allowed)
		}
	}

	// The package's operations, really performed as the ServiceAccount.
	if _, err := adminCS.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "postgres"},
		Data: map[string][]byte{"postgresql-password": []byte("pw")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SecretData(ctx, ns, "postgres"); err != nil {
		t.Errorf("SecretData as the ServiceAccount: %v", err)
	}
	if _, err := c.SecretData(ctx, other, "postgres"); !apierrors.IsForbidden(err) {
		t.Errorf("SecretData in another namespace: err = %v, want Forbidden", err)
	}
	lock, err := c.Acquire(ctx, ns, LeaseName("pachd"), "rbac-test", 6*time.Second, 2*time.Second)
	if err != nil {
		t.Fatalf("Acquire as the ServiceAccount: %v", err)
	}
	if err := lock.Release(ctx); err != nil {
		t.Errorf("Release as the ServiceAccount: %v", err)
	}
	if _, err := adminCS.AppsV1().Deployments(ns).Create(ctx, deployment("pachd", "pach", "pachd:2.11.6", 1, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(ctx, ns, Selection{Release: "pach"}, 60*time.Second, nil); err != nil {
		t.Errorf("WaitReady as the ServiceAccount: %v", err)
	}
	if rows, err := c.ReleasePodTable(ctx, ns, "pach"); err != nil || len(rows) != 1 {
		t.Errorf("ReleasePodTable as the ServiceAccount: %v, %v", rows, err)
	}
	if _, err := c.DeploymentImageTag(ctx, ns, "pachd", ""); err != nil {
		t.Errorf("DeploymentImageTag as the ServiceAccount: %v", err)
	}
	if err := c.cs.CoreV1().Namespaces().Delete(ctx, other, metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("deleting a namespace: err = %v, want Forbidden", err)
	}

	// Escalation prevention: the chart creates the Role `pachyderm` (rules of
	// the 2.11 chart's templates/pachd/rbac/role.yaml); the ServiceAccount can
	// only do so because it holds every permission that Role grants.
	pachdRole := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pachyderm"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "pods/log", "endpoints", "events"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"replicationcontrollers", "replicationcontrollers/scale", "services"},
			Verbs: []string{"get", "list", "watch", "create", "update", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch", "create", "update", "delete", "deletecollection"}},
		{APIGroups: []string{"apps", "extensions"}, Resources: []string{"deployments", "deployments/scale"}, Verbs: []string{"get", "list", "patch", "update"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "update", "create"}},
	}}
	if _, err := c.cs.RbacV1().Roles(ns).Create(ctx, pachdRole, metav1.CreateOptions{}); err != nil {
		t.Errorf("creating the chart's pachd Role as the ServiceAccount: %v", err)
	}
	greedy := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "greedy"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods/attach"}, Verbs: []string{"create"}}}}
	if _, err := c.cs.RbacV1().Roles(ns).Create(ctx, greedy, metav1.CreateOptions{}); !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), "not currently held") {
		t.Errorf("creating a Role beyond its own permissions: err = %v, want an escalation refusal", err)
	}
}
