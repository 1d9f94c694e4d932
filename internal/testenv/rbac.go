package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// ApplyRBAC creates the ServiceAccount, Role and RoleBinding of the manifest at path (the
// project's deploy/rbac.yaml) in ns, the way a user would after replacing its namespace, and
// returns a config that acts as that ServiceAccount. Any other kind in the manifest fails the
// test: cluster-scoped grants do not belong in the namespaced manifest.
func ApplyRBAC(t testing.TB, path, ns string) *rest.Config {
	t.Helper()
	admin := RESTConfig(t)
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.ReplaceAll(raw, []byte("namespace: pachyderm"), []byte("namespace: "+ns))
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	ctx := context.Background()
	var sa string
	kinds := map[string]bool{}
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc == nil {
			continue
		}
		kind, _ := doc["kind"].(string)
		kinds[kind] = true
		js, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		switch kind {
		case "ServiceAccount":
			var o corev1.ServiceAccount
			decodeJSON(t, js, &o)
			if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &o, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			sa = o.Name
		case "Role":
			var o rbacv1.Role
			decodeJSON(t, js, &o)
			if _, err := cs.RbacV1().Roles(ns).Create(ctx, &o, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		case "RoleBinding":
			var o rbacv1.RoleBinding
			decodeJSON(t, js, &o)
			if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &o, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("%s: unexpected kind %q (cluster-scoped grants belong in a separate manifest)", path, kind)
		}
	}
	for _, k := range []string{"ServiceAccount", "Role", "RoleBinding"} {
		if !kinds[k] {
			t.Fatalf("%s has no %s", path, k)
		}
	}
	user := "system:serviceaccount:" + ns + ":" + sa
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	waitRBAC(t, cs, ns, user, groups)
	cfg := rest.CopyConfig(admin)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return cfg
}

// waitRBAC waits until the API server's authorizer has seen the new binding: it learns of
// Roles through an informer, and on a loaded machine the first request can come before it.
func waitRBAC(t testing.TB, cs kubernetes.Interface, ns, user string, groups []string) {
	t.Helper()
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user, Groups: groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "get", Group: "coordination.k8s.io", Resource: "leases"},
	}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), review, metav1.CreateOptions{})
		if err == nil && res.Status.Allowed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the RBAC of %s does not take effect for %s within 30s (err %v)", ns, user, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func decodeJSON(t testing.TB, b []byte, into any) {
	t.Helper()
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatal(err)
	}
}
