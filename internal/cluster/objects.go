package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SecretData returns a Secret's data. Errors wrap the API error, so
// apierrors.IsNotFound still works on them; values are never part of errors.
func (c *Client) SecretData(ctx context.Context, ns, name string) (map[string][]byte, error) {
	s, err := c.cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read secret %s/%s: %w", ns, name, err)
	}
	data := make(map[string][]byte, len(s.Data)+len(s.StringData))
	for k, v := range s.Data {
		data[k] = v
	}
	return data, nil
}

// DeploymentImageTag returns the image tag of one container of a Deployment's
// pod template (the desired version, not what pods happen to run). container
// may be empty when the pod has a single container.
func (c *Client) DeploymentImageTag(ctx context.Context, ns, name, container string) (string, error) {
	d, err := c.cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("read deployment %s/%s: %w", ns, name, err)
	}
	cs := d.Spec.Template.Spec.Containers
	var names []string
	for _, ct := range cs {
		if ct.Name == container || (container == "" && len(cs) == 1) {
			return ImageTag(ct.Image), nil
		}
		names = append(names, ct.Name)
	}
	sort.Strings(names)
	return "", fmt.Errorf("deployment %s/%s: no container %q (has %s)", ns, name, container, strings.Join(names, ", "))
}

// ImageTag extracts the tag of an image reference: "pachyderm/pachd:2.11.6"
// gives "2.11.6". A reference pinned only by digest gives the digest; one with
// neither gives "latest", which is what the runtime would pull.
func ImageTag(image string) string {
	ref, digest, _ := strings.Cut(image, "@")
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[i+1:]
	}
	if digest != "" {
		return digest
	}
	return "latest"
}
