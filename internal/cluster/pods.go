package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// PodRow is one line of the report's pods table, shaped like `kubectl get pods`.
type PodRow struct {
	Name     string
	Ready    string   // "1/1"
	Status   string   // phase, or the waiting/terminated reason that explains it
	Restarts int32    // summed over containers
	Images   []string // image tag of each container, in spec order
	Age      time.Duration
}

// PodTable lists the pods matching selector (empty: all) in ns, sorted by name.
func (c *Client) PodTable(ctx context.Context, ns, selector string) ([]PodRow, error) {
	list, err := c.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("list pods in %s (selector %q): %w", ns, selector, err)
	}
	rows := make([]PodRow, 0, len(list.Items))
	now := time.Now()
	for i := range list.Items {
		rows = append(rows, podRow(&list.Items[i], now))
	}
	sort.Slice(rows, func(i, k int) bool { return rows[i].Name < rows[k].Name })
	return rows, nil
}

// ReleasePodTable is PodTable for the pods of a Helm release: those matched by
// the selector of any of the release's Deployments, StatefulSets, DaemonSets
// or Jobs (pods carry no Helm marks of their own).
func (c *Client) ReleasePodTable(ctx context.Context, ns, release string) ([]PodRow, error) {
	sels, err := c.releaseSelectors(ctx, ns, release)
	if err != nil {
		return nil, err
	}
	list, err := c.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list pods in %s: %w", ns, err)
	}
	var rows []PodRow
	now := time.Now()
	for i := range list.Items {
		if matchesAny(sels, list.Items[i].Labels) {
			rows = append(rows, podRow(&list.Items[i], now))
		}
	}
	sort.Slice(rows, func(i, k int) bool { return rows[i].Name < rows[k].Name })
	return rows, nil
}

func (c *Client) releaseSelectors(ctx context.Context, ns, release string) ([]labels.Selector, error) {
	opts := metav1.ListOptions{LabelSelector: ManagedByLabel + "=Helm"}
	var raw []*metav1.LabelSelector
	keep := func(m metav1.ObjectMeta, s *metav1.LabelSelector) {
		if m.Annotations[ReleaseNameAnnotation] == release && s != nil {
			raw = append(raw, s)
		}
	}
	ds, err := c.cs.AppsV1().Deployments(ns).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("list deployments of release %s in %s: %w", release, ns, err)
	}
	for _, d := range ds.Items {
		keep(d.ObjectMeta, d.Spec.Selector)
	}
	ss, err := c.cs.AppsV1().StatefulSets(ns).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("list statefulsets of release %s in %s: %w", release, ns, err)
	}
	for _, s := range ss.Items {
		keep(s.ObjectMeta, s.Spec.Selector)
	}
	dss, err := c.cs.AppsV1().DaemonSets(ns).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("list daemonsets of release %s in %s: %w", release, ns, err)
	}
	for _, d := range dss.Items {
		keep(d.ObjectMeta, d.Spec.Selector)
	}
	js, err := c.cs.BatchV1().Jobs(ns).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("list jobs of release %s in %s: %w", release, ns, err)
	}
	for _, j := range js.Items {
		keep(j.ObjectMeta, j.Spec.Selector)
	}
	var sels []labels.Selector
	for _, r := range raw {
		if s, err := metav1.LabelSelectorAsSelector(r); err == nil && !s.Empty() {
			sels = append(sels, s)
		}
	}
	return sels, nil
}

func podRow(p *corev1.Pod, now time.Time) PodRow {
	r := PodRow{Name: p.Name, Status: podStatus(p)}
	ready := 0
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Ready {
			ready++
		}
		r.Restarts += cs.RestartCount
	}
	r.Ready = fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers))
	for _, ct := range p.Spec.Containers {
		r.Images = append(r.Images, ImageTag(ct.Image))
	}
	if !p.CreationTimestamp.IsZero() {
		r.Age = now.Sub(p.CreationTimestamp.Time).Round(time.Second)
	}
	return r
}

// podStatus mirrors the STATUS column of kubectl: the most telling reason,
// not just the phase ("CrashLoopBackOff" says more than "Running").
func podStatus(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	status := string(p.Status.Phase)
	if p.Status.Reason != "" {
		status = p.Status.Reason
	}
	for _, cs := range p.Status.InitContainerStatuses {
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
			return "Init:" + cs.State.Waiting.Reason
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0:
			return "Init:" + nonEmpty(cs.State.Terminated.Reason, "Error")
		}
	}
	var reasons []string
	for _, cs := range p.Status.ContainerStatuses {
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
			reasons = append(reasons, cs.State.Waiting.Reason)
		case cs.State.Terminated != nil && cs.State.Terminated.Reason != "":
			reasons = append(reasons, cs.State.Terminated.Reason)
		}
	}
	if len(reasons) > 0 {
		return strings.Join(reasons, ",")
	}
	return nonEmpty(status, "Unknown")
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
