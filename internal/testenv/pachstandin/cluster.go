package pachstandin

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// pachdContainer is the container of the pachd pod that runs pachd itself.
const pachdContainer = "pachd"

// VersionFromCluster answers with the image tag of the pachd pods that are
// Ready in the cluster right now. It reads pods, not the Deployment's spec,
// so that a rollout that never happened (new spec, old pods still serving)
// still reports the old version, as the real pachd would.
//
// With no Ready pod it answers an error (pachd unavailable); while Ready pods
// run different tags (mid-rollout) it answers an error naming them, as the
// Service could reach either.
func VersionFromCluster(clientset kubernetes.Interface, namespace, deploymentName string) VersionFunc {
	return func(ctx context.Context) (string, error) {
		dep, err := clientset.AppsV1().Deployments(namespace).Get(ctx, deploymentName, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("get deployment %s/%s: %w", namespace, deploymentName, err)
		}
		selector, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
		if err != nil {
			return "", fmt.Errorf("selector of deployment %s/%s: %w", namespace, deploymentName, err)
		}
		pods, err := clientset.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
		if err != nil {
			return "", fmt.Errorf("list pods of deployment %s/%s: %w", namespace, deploymentName, err)
		}
		tags := map[string][]string{}
		for i := range pods.Items {
			pod := &pods.Items[i]
			if !podReady(pod) {
				continue
			}
			tag, err := imageTag(pod)
			if err != nil {
				return "", err
			}
			tags[tag] = append(tags[tag], pod.Name)
		}
		switch len(tags) {
		case 0:
			return "", fmt.Errorf("no Ready pod of deployment %s/%s", namespace, deploymentName)
		case 1:
			for tag := range tags {
				return strings.TrimPrefix(tag, "v"), nil
			}
		}
		var parts []string
		for tag, names := range tags {
			sort.Strings(names)
			parts = append(parts, fmt.Sprintf("%s (%s)", tag, strings.Join(names, ", ")))
		}
		sort.Strings(parts)
		return "", fmt.Errorf("ready pachd pods run different versions: %s", strings.Join(parts, "; "))
	}
}

func podReady(pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning {
		return false
	}
	return slices.ContainsFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool {
		return c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
	})
}

// imageTag returns the tag of the pachd container's image, or of the only
// container when none is named pachd.
func imageTag(pod *corev1.Pod) (string, error) {
	var image string
	for _, c := range pod.Spec.Containers {
		if c.Name == pachdContainer || len(pod.Spec.Containers) == 1 {
			image = c.Image
			break
		}
	}
	if image == "" {
		return "", fmt.Errorf("pod %s has no %s container", pod.Name, pachdContainer)
	}
	tag, ok := ImageTag(image)
	if !ok {
		return "", fmt.Errorf("pod %s: image %q has no tag", pod.Name, image)
	}
	return tag, nil
}

// ImageTag extracts the tag from an image reference such as
// "registry:5000/pachyderm/pachd:2.11.6@sha256:…"; a registry port is not a tag.
func ImageTag(image string) (string, bool) {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i+1:], "/") || i == len(image)-1 {
		return "", false
	}
	return image[i+1:], true
}
