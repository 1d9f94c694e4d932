package helmrelease

import (
	"context"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
)

func TestAppliesServerSideAsHelmResolvesIt(t *testing.T) {
	for _, tc := range []struct {
		option, last string
		want         bool
	}{
		{"auto", "ssa", true},
		{"auto", "csa", false},
		{"auto", "", false}, // written by Helm 3
		{"true", "csa", true},
		{"false", "ssa", false},
		{"bogus", "ssa", false},
	} {
		if got := appliesServerSide(tc.option, tc.last); got != tc.want {
			t.Errorf("appliesServerSide(%q, %q) = %v, want %v", tc.option, tc.last, got, tc.want)
		}
	}
}

// TestUpgradeRefusesUnknownFieldUnderServerSideApply: Upgrade leaves the client-side OpenAPI
// validation to the API server when it applies server-side; a manifest with a field the
// schema lacks must still fail the upgrade, naming the field, and leave nothing applied.
func TestUpgradeRefusesUnknownFieldUnderServerSideApply(t *testing.T) {
	ns := testenv.Namespace(t)
	c := newClient(t, ns)
	old, next := oldAndNew(t)
	if rel := install(t, c, old, localValues()); rel.ApplyMethod != "ssa" {
		t.Fatalf("installed with apply method %q, want ssa", rel.ApplyMethod)
	}
	bad := *next.Chart
	bad.Templates = append(append([]*common.File(nil), next.Templates...), &common.File{
		Name: "templates/bogus.yaml",
		Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bogus\nbogusField: 1\ndata:\n  a: b\n"),
	})
	_, err := c.Upgrade(context.Background(), testRelease, &Chart{Chart: &bad}, localValues(), UpgradeOptions{Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "bogusField") {
		t.Fatalf("upgrade with an unknown field: err = %v, want one naming bogusField", err)
	}
	if _, err := clientset(t).CoreV1().ConfigMaps(ns).Get(context.Background(), "bogus", metav1.GetOptions{}); err == nil {
		t.Error("the ConfigMap with the unknown field was created")
	}
}
