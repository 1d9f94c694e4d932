package helmrelease

// Cluster access for this package's tests. internal/testenv (testenv.RESTConfig, Kubeconfig,
// Namespace, Helm3, SharedFixtures) replaces these once it lands; until then they take a
// running cluster from the environment, as `go -C test/cluster run . up` prints it.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func kubeconfigPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("PACH_UPGRADE_TEST_KUBECONFIG")
	if p == "" {
		t.Skip("no local cluster: set PACH_UPGRADE_TEST_KUBECONFIG")
	}
	return p
}

func restConfig(t *testing.T) *rest.Config {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath(t))
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	return rc
}

func helm3(t *testing.T) string {
	t.Helper()
	p := os.Getenv("PACH_UPGRADE_TEST_HELM3")
	if p == "" {
		t.Skip("no Helm 3 CLI: set PACH_UPGRADE_TEST_HELM3")
	}
	return p
}

func sharedFixtures(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; filepath.Dir(dir) != dir; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(filepath.Dir(dir), "shared", "fixtures")
			if _, err := os.Stat(p); err != nil {
				t.Skipf("no shared fixtures beside the checkout: %v", err)
			}
			return p
		}
	}
	t.Skip("no shared fixtures: repository root not found")
	return ""
}

var nsCounter atomic.Int64

func namespace(t *testing.T) string {
	t.Helper()
	cs := clientset(t)
	name := fmt.Sprintf("hr-%s-%d-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "_", "-")), time.Now().UnixNano()%100000, nsCounter.Add(1))
	if len(name) > 63 {
		name = name[len(name)-63:]
		name = strings.TrimLeft(name, "-")
	}
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

func clientset(t *testing.T) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(restConfig(t))
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	return cs
}
