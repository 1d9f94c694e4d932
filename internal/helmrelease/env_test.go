package helmrelease

// Cluster access for this package's tests, through internal/testenv.

import (
	"testing"

	"k8s.io/client-go/kubernetes"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func namespace(t *testing.T) string { return testenv.Namespace(t) }

func clientset(t *testing.T) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(testenv.RESTConfig(t))
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	return cs
}
