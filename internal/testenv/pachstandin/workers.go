package pachstandin

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin/pachpb"
)

// WorkerSelector selects every pipeline worker, as Pachyderm's backup page scales them.
const WorkerSelector = "suite=pachyderm,component=worker"

// WorkerName is the ReplicationController pachd runs a pipeline's workers in:
// <project>-<pipeline>-v<version>.
func WorkerName(p pachpb.PipelineInfo) string {
	project := p.Project
	if project == "" {
		project = "default"
	}
	return fmt.Sprintf("%s-%s-v%d", project, p.Name, max(p.Version, 1))
}

// CreateWorkers creates, for each pipeline, the ReplicationController that pachd would run its
// workers in, labelled as pachd labels them (suite=pachyderm, component=worker, app=pipeline,
// pipelineName, pipelineProject, pipelineVersion), with Parallelism replicas (at least 1), so
// that quiescing has worker pods to scale down and restore.
func CreateWorkers(ctx context.Context, kube kubernetes.Interface, namespace string, pipes ...pachpb.PipelineInfo) error {
	for _, p := range pipes {
		project := p.Project
		if project == "" {
			project = "default"
		}
		labels := map[string]string{
			"suite": "pachyderm", "component": "worker", "app": "pipeline",
			"pipelineName": p.Name, "pipelineProject": project, "pipelineVersion": strconv.FormatUint(max(p.Version, 1), 10),
		}
		replicas := int32(max(p.Parallelism, 1))
		rc := &corev1.ReplicationController{
			ObjectMeta: metav1.ObjectMeta{Name: WorkerName(p), Labels: labels},
			Spec: corev1.ReplicationControllerSpec{
				Replicas: &replicas,
				Selector: labels,
				Template: &corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{
						{Name: "user", Image: "pachyderm/worker:standin"},
						{Name: "storage", Image: "pachyderm/pachd:standin"},
					}},
				},
			},
		}
		if _, err := kube.CoreV1().ReplicationControllers(namespace).Create(ctx, rc, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create worker %s/%s: %w", namespace, rc.Name, err)
		}
	}
	return nil
}
