package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
)

// scaleManager names the action in the managed fields of the replica counts
// it sets, so that a person reading them sees who scaled.
const scaleManager = "pach-upgrade"

// AnnotationQuiescedReplicas is written on a workload, before it is scaled
// to zero, with the replica count to give it back. It outlives the process:
// a run killed while the workload is down (SIGKILL, a lost runner) leaves it
// for the next run, which gives the count back before anything else
// (Quiesced, then ScaleBack, which removes it).
const AnnotationQuiescedReplicas = "pach-upgrade.io/quiesced-replicas"

// Scaled is one workload a quiesce scaled down and the replica count to
// give it back.
type Scaled struct {
	Kind     string `json:"kind"` // Deployment, StatefulSet or ReplicationController
	Name     string `json:"name"`
	Replicas int32  `json:"replicas"`
	// selector finds the workload's pods, to wait until they are gone.
	selector string
	// annotations are the workload's, for Quiesced.
	annotations map[string]string
}

// scaler reads and writes the scale subresource of one kind.
type scaler struct {
	get    func(ctx context.Context, name string, o metav1.GetOptions) (*autoscalingv1.Scale, error)
	update func(ctx context.Context, name string, s *autoscalingv1.Scale, o metav1.UpdateOptions) (*autoscalingv1.Scale, error)
	// annotate merge-patches the workload's annotations (value nil removes one).
	annotate func(ctx context.Context, name string, ann map[string]any) error
}

// annotator makes a scaler's annotate from a typed client's Patch.
func annotator[T any](patch func(ctx context.Context, name string, pt types.PatchType, data []byte, o metav1.PatchOptions, sub ...string) (T, error)) func(context.Context, string, map[string]any) error {
	return func(ctx context.Context, name string, ann map[string]any) error {
		data, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
		if err != nil {
			return err
		}
		_, err = patch(ctx, name, types.MergePatchType, data, metav1.PatchOptions{FieldManager: scaleManager})
		return err
	}
}

func (c *Client) scaler(ns, kind string) (scaler, error) {
	switch kind {
	case "Deployment":
		d := c.cs.AppsV1().Deployments(ns)
		return scaler{d.GetScale, d.UpdateScale, annotator(d.Patch)}, nil
	case "StatefulSet":
		s := c.cs.AppsV1().StatefulSets(ns)
		return scaler{s.GetScale, s.UpdateScale, annotator(s.Patch)}, nil
	case "ReplicationController":
		r := c.cs.CoreV1().ReplicationControllers(ns)
		return scaler{r.GetScale, r.UpdateScale, annotator(r.Patch)}, nil
	}
	return scaler{}, fmt.Errorf("scale: kind %q is not scalable here", kind)
}

// Workloads lists the Deployments, StatefulSets and ReplicationControllers
// of ns whose labels match selector (Pachyderm's pipeline workers are
// ReplicationControllers labelled suite=pachyderm,component=worker), with
// their current replica counts.
func (c *Client) Workloads(ctx context.Context, ns, selector string) ([]Scaled, error) {
	if _, err := labels.Parse(selector); err != nil {
		return nil, fmt.Errorf("workloads of %s: selector %q: %w", ns, selector, err)
	}
	o := metav1.ListOptions{LabelSelector: selector}
	var out []Scaled
	deps, err := c.cs.AppsV1().Deployments(ns).List(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("list deployments in %s (%s): %w", ns, selector, err)
	}
	for _, d := range deps.Items {
		out = append(out, Scaled{Kind: "Deployment", Name: d.Name, Replicas: specReplicas(d.Spec.Replicas),
			selector: metav1.FormatLabelSelector(d.Spec.Selector), annotations: d.Annotations})
	}
	sts, err := c.cs.AppsV1().StatefulSets(ns).List(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("list statefulsets in %s (%s): %w", ns, selector, err)
	}
	for _, s := range sts.Items {
		out = append(out, Scaled{Kind: "StatefulSet", Name: s.Name, Replicas: specReplicas(s.Spec.Replicas),
			selector: metav1.FormatLabelSelector(s.Spec.Selector), annotations: s.Annotations})
	}
	rcs, err := c.cs.CoreV1().ReplicationControllers(ns).List(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("list replicationcontrollers in %s (%s): %w", ns, selector, err)
	}
	for _, r := range rcs.Items {
		out = append(out, Scaled{Kind: "ReplicationController", Name: r.Name, Replicas: specReplicas(r.Spec.Replicas),
			selector: labels.SelectorFromSet(r.Spec.Selector).String(), annotations: r.Annotations})
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Kind+"/"+out[i].Name < out[k].Kind+"/"+out[k].Name })
	return out, nil
}

func specReplicas(p *int32) int32 {
	if p == nil {
		return 1 // the API's default
	}
	return *p
}

// ScaleDown sets every workload in ws to zero replicas and waits until their
// pods are gone, so that nothing writes while it lasts. It returns the
// workloads it changed, with the counts to give back, even on an error: the
// caller must pass them to ScaleBack on every path out.
func (c *Client) ScaleDown(ctx context.Context, ns string, ws []Scaled, timeout time.Duration) ([]Scaled, error) {
	var changed []Scaled
	for _, w := range ws {
		s, err := c.scaler(ns, w.Kind)
		if err != nil {
			return changed, err
		}
		cur, err := s.get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return changed, fmt.Errorf("read scale of %s %s/%s: %w", w.Kind, ns, w.Name, err)
		}
		if cur.Spec.Replicas == 0 {
			continue
		}
		w.Replicas = cur.Spec.Replicas
		// The count is recorded on the workload before it goes to zero, so
		// that no kill of this process can lose it.
		if err := s.annotate(ctx, w.Name, map[string]any{AnnotationQuiescedReplicas: strconv.Itoa(int(w.Replicas))}); err != nil {
			return changed, fmt.Errorf("record the replicas of %s %s/%s: %w", w.Kind, ns, w.Name, err)
		}
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := s.get(ctx, w.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Spec.Replicas = 0
			_, err = s.update(ctx, w.Name, cur, metav1.UpdateOptions{FieldManager: scaleManager})
			return err
		})
		if err != nil {
			return changed, fmt.Errorf("scale %s %s/%s to 0: %w", w.Kind, ns, w.Name, err)
		}
		changed = append(changed, w)
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, w := range changed {
		if err := c.waitNoPods(wctx, ns, w.selector); err != nil {
			return changed, fmt.Errorf("pods of %s %s/%s still running after it was scaled to 0: %w", w.Kind, ns, w.Name, err)
		}
	}
	return changed, nil
}

// ScaleBack gives every workload its replica count again. It tries them all
// and returns every error, naming each workload a person must scale by hand.
func (c *Client) ScaleBack(ctx context.Context, ns string, ws []Scaled) error {
	var errs []error
	for _, w := range ws {
		s, err := c.scaler(ns, w.Kind)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := s.get(ctx, w.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Spec.Replicas = w.Replicas
			_, err = s.update(ctx, w.Name, cur, metav1.UpdateOptions{FieldManager: scaleManager})
			return err
		})
		if err == nil {
			// Given back: the record goes. Left behind, the next run would
			// only set the same count again.
			err = s.annotate(ctx, w.Name, map[string]any{AnnotationQuiescedReplicas: nil})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("scale %s %s/%s back to %d (kubectl -n %s scale %s/%s --replicas=%d): %w",
				w.Kind, ns, w.Name, w.Replicas, ns, strings.ToLower(w.Kind), w.Name, w.Replicas, err))
		}
	}
	return errors.Join(errs...)
}

// AnnotationEnterprisePaused is written on pachd's workloads before
// `pachctl enterprise pause`, and removed after the unpause: a run killed
// while pachd is paused leaves it for the next run, which unpauses first.
const AnnotationEnterprisePaused = "pach-upgrade.io/enterprise-paused"

// Annotate sets annotation key to value on every workload in ws, or removes
// it when value is nil.
func (c *Client) Annotate(ctx context.Context, ns string, ws []Scaled, key string, value *string) error {
	var errs []error
	for _, w := range ws {
		s, err := c.scaler(ns, w.Kind)
		if err == nil {
			var v any
			if value != nil {
				v = *value
			}
			err = s.annotate(ctx, w.Name, map[string]any{key: v})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("annotate %s %s/%s with %s: %w", w.Kind, ns, w.Name, key, err))
		}
	}
	return errors.Join(errs...)
}

// Annotated lists the workloads of ns whose labels match selector and that
// carry annotation key.
func (c *Client) Annotated(ctx context.Context, ns, selector, key string) ([]Scaled, error) {
	all, err := c.Workloads(ctx, ns, selector)
	if err != nil {
		return nil, err
	}
	var out []Scaled
	for _, w := range all {
		if _, ok := w.annotations[key]; ok {
			out = append(out, w)
		}
	}
	return out, nil
}

// Quiesced lists the workloads of ns that carry AnnotationQuiescedReplicas:
// scaled to zero by a run that did not live to give their counts back. Each
// comes with the recorded count, for ScaleBack.
func (c *Client) Quiesced(ctx context.Context, ns string) ([]Scaled, error) {
	all, err := c.Workloads(ctx, ns, "")
	if err != nil {
		return nil, err
	}
	var out []Scaled
	for _, w := range all {
		v, ok := w.annotations[AnnotationQuiescedReplicas]
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s %s/%s: annotation %s=%q is not a replica count", w.Kind, ns, w.Name, AnnotationQuiescedReplicas, v)
		}
		w.Replicas = int32(n)
		out = append(out, w)
	}
	return out, nil
}

// waitNoPods polls until no pod matches selector.
func (c *Client) waitNoPods(ctx context.Context, ns, selector string) error {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		pods, err := c.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err == nil && len(pods.Items) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return err
			}
			var names []string
			for _, p := range pods.Items {
				names = append(names, p.Name)
			}
			return fmt.Errorf("%w; left: %s", context.Cause(ctx), strings.Join(names, ", "))
		case <-t.C:
		}
	}
}
