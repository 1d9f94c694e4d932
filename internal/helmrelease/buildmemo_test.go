package helmrelease

import (
	"io"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v4/pkg/kube"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
)

// TestBuildMemoParsesOnceAndCopies builds manifests through a client's memo against the real
// API server's mappings: the same manifest and validation is parsed once, also when asked
// side by side; every caller gets objects of its own (Helm changes them as it applies); a
// different manifest or validation is parsed anew; and a failed parse is not kept.
func TestBuildMemoParsesOnceAndCopies(t *testing.T) {
	c, err := New(testenv.RESTConfig(t), namespace(t))
	if err != nil {
		t.Fatal(err)
	}
	memo, ok := c.cfg.KubeClient.(*buildMemo)
	if !ok {
		t.Fatalf("the Helm configuration's Kubernetes client is a %T, want the memo", c.cfg.KubeClient)
	}
	var mu sync.Mutex
	parses := map[string]int{}
	parse := memo.parse
	memo.parse = func(r io.Reader, validate bool) (kube.ResourceList, error) {
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		parses[string(b)]++
		mu.Unlock()
		return parse(strings.NewReader(string(b)), validate)
	}
	const manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: pachd\nspec:\n  replicas: 1\n"

	var wg sync.WaitGroup
	lists := make([]kube.ResourceList, 4)
	for i := range lists {
		wg.Go(func() {
			l, err := memo.Build(strings.NewReader(manifest), false)
			if err != nil {
				t.Error(err)
			}
			lists[i] = l
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if n := parses[manifest]; n != 1 {
		t.Errorf("the manifest was parsed %d times for 4 builds, want once", n)
	}
	for _, l := range lists {
		if len(l) != 2 || l[0].Name != "a" || l[1].Name != "pachd" || l[1].Mapping == nil || l[1].Mapping.Resource.Resource != "deployments" {
			t.Fatalf("build = %+v, want the ConfigMap and the Deployment with their mappings", l)
		}
	}
	// What one caller changes, another never sees.
	u := lists[0][0].Object.(*unstructured.Unstructured)
	u.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "Helm"})
	lists[0][0].Namespace = "elsewhere"
	again, err := memo.Build(strings.NewReader(manifest), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range [][]*unstructuredInfo{infosOf(lists[1]), infosOf(again)} {
		if len(l[0].labels) != 0 || l[0].namespace == "elsewhere" {
			t.Errorf("a caller's change shows in another's objects: %+v", l[0])
		}
	}
	if n := parses[manifest]; n != 1 {
		t.Errorf("the manifest was parsed %d times, want once", n)
	}

	if _, err := memo.Build(strings.NewReader(manifest), true); err != nil {
		t.Fatal(err)
	}
	if n := parses[manifest]; n != 2 {
		t.Errorf("with validation the manifest was parsed %d times in all, want a parse of its own (2)", n)
	}

	const unknown = "apiVersion: example.com/v1\nkind: NoSuchKind\nmetadata:\n  name: x\n"
	for range 2 {
		if _, err := memo.Build(strings.NewReader(unknown), false); err == nil {
			t.Fatal("an unknown kind built")
		}
	}
	if n := parses[unknown]; n != 2 {
		t.Errorf("a failing manifest was parsed %d times for 2 builds, want each time (failures not kept)", n)
	}
}

type unstructuredInfo struct {
	namespace string
	labels    map[string]string
}

func infosOf(l kube.ResourceList) []*unstructuredInfo {
	var out []*unstructuredInfo
	for _, info := range l {
		out = append(out, &unstructuredInfo{namespace: info.Namespace, labels: info.Object.(*unstructured.Unstructured).GetLabels()})
	}
	return out
}
