package helmrelease

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestConflictsOfHelmJoinedErrors(t *testing.T) {
	// As the API server answers an apply conflict, and as Helm's kube client
	// wraps and joins one error per object.
	kubectl := apierrors.NewApplyConflict([]metav1.StatusCause{
		{Type: metav1.CauseTypeFieldManagerConflict, Message: `conflict with "kubectl" using apps/v1`, Field: ".spec.replicas"},
	}, `Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas`)
	hpa := apierrors.NewApplyConflict([]metav1.StatusCause{
		{Type: metav1.CauseTypeFieldManagerConflict, Message: `conflict with "kube-controller-manager" with subresource "scale" using apps/v1`, Field: ".spec.replicas"},
		{Type: metav1.CauseTypeFieldManagerConflict, Message: `conflict with "kubectl-edit" using apps/v1`, Field: `.spec.template.spec.containers[name="etcd"].image`},
	}, "Apply failed with 2 conflicts")
	err := fmt.Errorf("helm upgrade: %w", errors.Join(
		fmt.Errorf("conflict occurred while applying object ns1/pachd apps/v1, Kind=Deployment: %w", kubectl),
		errors.New("some other failure"),
		fmt.Errorf("conflict occurred while applying object ns1/etcd apps/v1, Kind=StatefulSet: %w", hpa),
	))
	got := conflictsOf(err)
	want := []Conflict{
		{Object: "Deployment/pachd", Field: ".spec.replicas", Manager: "kubectl"},
		{Object: "StatefulSet/etcd", Field: ".spec.replicas", Manager: "kube-controller-manager", Subresource: "scale"},
		{Object: "StatefulSet/etcd", Field: `.spec.template.spec.containers[name="etcd"].image`, Manager: "kubectl-edit"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("conflicts =\n%v\nwant\n%v", got, want)
	}
	msg := (&ConflictError{Release: "pachd", Conflicts: got}).Error()
	for _, s := range []string{`Deployment/pachd field .spec.replicas is owned by field manager "kubectl"`, "changed outside Helm"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message %q lacks %q", msg, s)
		}
	}
	if cs := conflictsOf(errors.New("plain")); cs != nil {
		t.Errorf("conflicts of a plain error: %v", cs)
	}
	if cs := conflictsOf(apierrors.NewConflict(schemaGR(), "pachd", errors.New("the object has been modified"))); cs != nil {
		t.Errorf("an optimistic-lock conflict is not a field conflict: %v", cs)
	}
}

func schemaGR() schema.GroupResource {
	return schema.GroupResource{Group: "apps", Resource: "deployments"}
}
