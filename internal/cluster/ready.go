package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// Helm marks every object it manages with this label and annotation; that is
// how a release's workloads are found without asking Helm.
const (
	ManagedByLabel        = "app.kubernetes.io/managed-by"
	ReleaseNameAnnotation = "meta.helm.sh/release-name"
)

// Selection says which workloads belong to the rollout being watched.
// Workloads (Deployments, StatefulSets, DaemonSets, Jobs) are chosen by
// Release — objects labelled managed-by=Helm and annotated with that release
// name — or, for non-Helm callers, by LabelSelector. Pods carry neither mark,
// so a pod belongs to the rollout when a chosen workload's selector matches it.
type Selection struct {
	Release       string
	LabelSelector string
}

func (s Selection) String() string {
	if s.Release != "" {
		return "release " + s.Release
	}
	return "selector " + s.LabelSelector
}

// Progress receives one line per change in rollout state, e.g.
// "deployment/pachd 0/1 ready; statefulset/etcd 1/1 ready".
type Progress func(line string)

// PodFailureError is a pod that will not become Ready without intervention.
type PodFailureError struct {
	Namespace, Pod, Container, Reason, Message string
}

func (e *PodFailureError) Error() string {
	msg := fmt.Sprintf("pod %s/%s container %s: %s", e.Namespace, e.Pod, e.Container, e.Reason)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// WorkloadFailureError is a workload whose controller gave up (a failed Job, a
// Deployment past its progress deadline).
type WorkloadFailureError struct {
	Namespace, Kind, Name, Reason, Message string
}

func (e *WorkloadFailureError) Error() string {
	msg := fmt.Sprintf("%s %s/%s failed: %s", e.Kind, e.Namespace, e.Name, e.Reason)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// NotReadyError is the timeout: what was still not updated or not Ready.
type NotReadyError struct {
	Timeout time.Duration
	Pending []string // "deployment/pachd: 0 of 1 updated replicas available", "pod pachd-x: not ready (Running)"
}

func (e *NotReadyError) Error() string {
	return fmt.Sprintf("not ready after %s: %s", e.Timeout, strings.Join(e.Pending, "; "))
}

// waitingFailures are container waiting reasons that do not resolve by
// themselves; waiting out the timeout on them only delays the rollback.
var waitingFailures = map[string]bool{
	"CrashLoopBackOff":     true,
	"ImagePullBackOff":     true,
	"InvalidImageName":     true,
	"ErrImageNeverPull":    true,
	"CreateContainerError": true,
	"RunContainerError":    true,
}

// transientFailures are waiting reasons that often resolve by themselves (a
// registry's hiccup, a Secret or ConfigMap created just after the pod): they
// fail a rollout only once a pod has shown them for transientGrace.
var transientFailures = map[string]bool{
	"ErrImagePull":               true,
	"CreateContainerConfigError": true,
}

// transientGrace is how long a pod may wait on a transient failure.
const transientGrace = 20 * time.Second

// watchState is what evaluate keeps between the looks of one watch.
type watchState struct {
	// since is the watch's start: conditions older than it describe an earlier
	// rollout (one a rollback has since replaced).
	since time.Time
	now   func() time.Time
	// transient is when each pod's container was first seen waiting on a
	// transient failure ("pod/container/reason").
	transient map[string]time.Time
	// wake is when a transient failure's grace ends, zero when none runs.
	wake time.Time
}

func newWatchState(since time.Time) *watchState {
	return &watchState{since: since, now: time.Now, transient: map[string]time.Time{}}
}

// WaitReady watches the selected workloads and their pods until every one is
// updated to its latest spec and Ready, or fails fast when a pod is stuck in
// CrashLoopBackOff/ImagePullBackOff-like states or a Job fails.
//
// It uses informers (list, then watch from that resourceVersion; the reflector
// re-lists when the watch expires or the API server restarts), so nothing is
// polled. Finding no workload at all is an error: it means the selection is
// wrong, and "all zero of them are ready" would hide that.
func (c *Client) WaitReady(ctx context.Context, ns string, sel Selection, timeout time.Duration, progress Progress) error {
	if sel.Release == "" && sel.LabelSelector == "" {
		return errors.New("wait ready: empty selection (need a release or a label selector)")
	}
	workloadSel := sel.LabelSelector
	if sel.Release != "" {
		workloadSel = ManagedByLabel + "=Helm"
	}
	if _, err := labels.Parse(workloadSel); err != nil {
		return fmt.Errorf("wait ready: label selector %q: %w", workloadSel, err)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// Two factories: workloads narrowed server-side by label; pods by namespace
	// only, because their labels come from the workloads' selectors.
	wf := informers.NewSharedInformerFactoryWithOptions(c.cs, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = workloadSel }))
	pf := informers.NewSharedInformerFactoryWithOptions(c.cs, 0, informers.WithNamespace(ns))
	deps := wf.Apps().V1().Deployments()
	stss := wf.Apps().V1().StatefulSets()
	dss := wf.Apps().V1().DaemonSets()
	jobs := wf.Batch().V1().Jobs()
	pods := pf.Core().V1().Pods()
	// ReplicaSets tell a Deployment's new pods from its old ones (see
	// deploymentRolledOut); like pods, they carry no Helm mark.
	rss := pf.Apps().V1().ReplicaSets()

	changed := make(chan struct{}, 1)
	notify := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke(changed) },
		UpdateFunc: func(any, any) { poke(changed) },
		DeleteFunc: func(any) { poke(changed) },
	}
	for _, inf := range []cache.SharedIndexInformer{deps.Informer(), stss.Informer(), dss.Informer(), jobs.Informer(), pods.Informer(), rss.Informer()} {
		if _, err := inf.AddEventHandler(notify); err != nil {
			return fmt.Errorf("wait ready: %w", err)
		}
	}
	stop := make(chan struct{})
	// Shutdown waits for the informers, which only stop once stop is closed.
	defer func() {
		close(stop)
		wf.Shutdown()
		pf.Shutdown()
	}()
	wf.Start(stop)
	pf.Start(stop)
	for typ, ok := range wf.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("wait ready: %s in %s: cache of %v not synced: %w", sel, ns, typ, context.Cause(ctx))
		}
	}
	for typ, ok := range pf.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("wait ready: %s in %s: cache of %v not synced: %w", sel, ns, typ, context.Cause(ctx))
		}
	}

	var last snapshot
	lastLine := ""
	st := newWatchState(start)
	for {
		snap, err := evaluate(ns, sel, st, deps.Lister(), stss.Lister(), dss.Lister(), jobs.Lister(), pods.Lister(), rss.Lister())
		if err != nil {
			return err
		}
		last = snap
		if line := snap.line(); line != lastLine && progress != nil {
			progress(line)
			lastLine = line
		}
		if snap.total == 0 {
			// Give the watch a moment: objects created just before this call may
			// still be on their way into the cache.
		} else if len(snap.pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				// Cancelled by the caller (a signal), not timed out: say so,
				// so that a cancel is never reported as "not ready after".
				return fmt.Errorf("wait ready: %s in %s: stopped after %s: %w", sel, ns,
					time.Since(start).Round(time.Millisecond), context.Cause(ctx))
			}
			if snap.total == 0 {
				return fmt.Errorf("wait ready: no Deployment, StatefulSet, DaemonSet or Job of %s in namespace %s", sel, ns)
			}
			return &NotReadyError{Timeout: timeout, Pending: last.pending}
		case <-changed:
		case <-st.timer():
		}
	}
}

// timer fires when a transient failure's grace ends, so that it is looked at
// again even when nothing changes; never when none runs.
func (st *watchState) timer() <-chan time.Time {
	if st.wake.IsZero() {
		return nil
	}
	return time.After(time.Until(st.wake) + 10*time.Millisecond)
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

type snapshot struct {
	total   int
	summary []string // "deployment/pachd 0/1 ready"
	pending []string
}

func (s snapshot) line() string {
	if s.total == 0 {
		return "no workloads found yet"
	}
	return strings.Join(s.summary, "; ")
}

func evaluate(ns string, sel Selection, st *watchState, dl interface {
	List(labels.Selector) ([]*appsv1.Deployment, error)
}, sl interface {
	List(labels.Selector) ([]*appsv1.StatefulSet, error)
}, dsl interface {
	List(labels.Selector) ([]*appsv1.DaemonSet, error)
}, jl interface {
	List(labels.Selector) ([]*batchv1.Job, error)
}, pl interface {
	List(labels.Selector) ([]*corev1.Pod, error)
}, rl interface {
	List(labels.Selector) ([]*appsv1.ReplicaSet, error)
}) (snapshot, error) {
	var snap snapshot
	var podSelectors []labels.Selector
	st.wake = time.Time{} // set again below while a transient failure's grace runs
	// old marks the pods of a workload's earlier template: they are being
	// replaced, so their failures say nothing about this rollout (the broken
	// version an upgrade or a rollback is leaving must not fail it).
	old := map[types.UID]bool{}
	mine := func(m metav1.Object) bool {
		return sel.Release == "" || m.GetAnnotations()[ReleaseNameAnnotation] == sel.Release
	}
	add := func(kind, name string, ready, want int32, why string, sl *metav1.LabelSelector) {
		snap.total++
		snap.summary = append(snap.summary, fmt.Sprintf("%s/%s %d/%d ready", kind, name, ready, want))
		if why != "" {
			snap.pending = append(snap.pending, fmt.Sprintf("%s/%s: %s", kind, name, why))
		}
		if s, err := metav1.LabelSelectorAsSelector(sl); err == nil && !s.Empty() {
			podSelectors = append(podSelectors, s)
		}
	}
	all := labels.Everything()
	ps, err := pl.List(all)
	if err != nil {
		return snap, fmt.Errorf("list pods: %w", err)
	}
	ds, err := dl.List(all)
	if err != nil {
		return snap, fmt.Errorf("list deployments: %w", err)
	}
	var rss []*appsv1.ReplicaSet
	if len(ds) > 0 {
		if rss, err = rl.List(all); err != nil {
			return snap, fmt.Errorf("list replicasets: %w", err)
		}
	}
	for _, d := range ds {
		if !mine(d) {
			continue
		}
		why, fail := deploymentPending(d, st.since)
		if fail != nil {
			return snap, fail
		}
		ready := d.Status.ReadyReplicas
		if why != "" {
			if n, done := deploymentRolledOut(d, rss, ps); done {
				why, ready = "", n
			}
		}
		markOldDeploymentPods(d, rss, ps, old)
		add("deployment", d.Name, ready, replicas(d.Spec.Replicas), why, d.Spec.Selector)
	}
	ss, err := sl.List(all)
	if err != nil {
		return snap, fmt.Errorf("list statefulsets: %w", err)
	}
	for _, s := range ss {
		if mine(s) {
			why := statefulSetPending(s)
			if stuck := markOldStatefulSetPods(s, ps, old); why != "" && stuck != "" {
				why += "; " + stuck
			}
			add("statefulset", s.Name, s.Status.ReadyReplicas, replicas(s.Spec.Replicas), why, s.Spec.Selector)
		}
	}
	dss, err := dsl.List(all)
	if err != nil {
		return snap, fmt.Errorf("list daemonsets: %w", err)
	}
	for _, d := range dss {
		if mine(d) {
			add("daemonset", d.Name, d.Status.NumberReady, d.Status.DesiredNumberScheduled, daemonSetPending(d), d.Spec.Selector)
		}
	}
	js, err := jl.List(all)
	if err != nil {
		return snap, fmt.Errorf("list jobs: %w", err)
	}
	for _, j := range js {
		if !mine(j) {
			continue
		}
		why, fail := jobPending(j)
		if fail != nil {
			return snap, fail
		}
		done := int32(0)
		if why == "" {
			done = 1
		}
		add("job", j.Name, done, 1, why, j.Spec.Selector)
	}
	sort.Strings(snap.summary)
	sort.Strings(snap.pending)

	sort.Slice(ps, func(i, k int) bool { return ps[i].Name < ps[k].Name })
	for _, p := range ps {
		if !matchesAny(podSelectors, p.Labels) || p.DeletionTimestamp != nil {
			continue
		}
		if old[p.UID] {
			continue
		}
		if err := st.podFailure(p); err != nil {
			return snap, err
		}
		if p.Status.Phase == corev1.PodSucceeded || isOwnedBy(p, "Job") {
			continue
		}
		if !podReady(p) && len(snap.pending) > 0 {
			snap.pending = append(snap.pending, fmt.Sprintf("pod %s: not ready (%s)", p.Name, podStatus(p)))
		}
	}
	return snap, nil
}

func matchesAny(sels []labels.Selector, l map[string]string) bool {
	for _, s := range sels {
		if s.Matches(labels.Set(l)) {
			return true
		}
	}
	return false
}

func isOwnedBy(p *corev1.Pod, kind string) bool {
	for _, o := range p.OwnerReferences {
		if o.Kind == kind {
			return true
		}
	}
	return false
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// deploymentPending follows `kubectl rollout status`: the controller has seen
// the latest spec, every replica runs it, no old replica is left, all available.
// A ProgressDeadlineExceeded from before since (the watch's start) is an
// earlier rollout's, which this one (a rollback) may have fixed.
func deploymentPending(d *appsv1.Deployment, since time.Time) (string, error) {
	if d.Generation > d.Status.ObservedGeneration {
		return "controller has not observed the latest spec yet", nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" &&
			!c.LastUpdateTime.Time.Before(since.Truncate(time.Second)) {
			return "", &WorkloadFailureError{Namespace: d.Namespace, Kind: "deployment", Name: d.Name, Reason: c.Reason, Message: c.Message}
		}
	}
	want := replicas(d.Spec.Replicas)
	s := d.Status
	switch {
	case s.UpdatedReplicas < want:
		return fmt.Sprintf("%d of %d replicas updated", s.UpdatedReplicas, want), nil
	case s.Replicas > s.UpdatedReplicas:
		return fmt.Sprintf("%d old replicas pending termination", s.Replicas-s.UpdatedReplicas), nil
	case s.AvailableReplicas < s.UpdatedReplicas || s.ReadyReplicas < want:
		return fmt.Sprintf("%d of %d updated replicas available", s.AvailableReplicas, s.UpdatedReplicas), nil
	}
	return "", nil
}

// deploymentRolledOut reads the end of a rollout from the pods themselves:
// every replica of the ReplicaSet that runs the Deployment's current template
// is Ready, and every pod of an older ReplicaSet is terminating. That is the
// condition deploymentPending reads from the status (the controllers count a
// terminating pod as gone too), seen before the controllers have written it:
// after the old pods are deleted, the ReplicaSet's and then the Deployment's
// status follow 100–200 ms later, which is most of the time between the last
// pod becoming Ready and the rollout being reported done.
//
// It answers only when the pods alone can say: with minReadySeconds a Ready
// pod is not yet available, and a paused or not yet observed Deployment may
// have no ReplicaSet for its template; those are left to the status.
func deploymentRolledOut(d *appsv1.Deployment, rss []*appsv1.ReplicaSet, pods []*corev1.Pod) (ready int32, done bool) {
	if d.Spec.Paused || d.Spec.MinReadySeconds > 0 || d.Generation > d.Status.ObservedGeneration {
		return 0, false
	}
	var current *appsv1.ReplicaSet
	owned := map[types.UID]bool{}
	for _, rs := range rss {
		if !metav1.IsControlledBy(rs, d) {
			continue
		}
		owned[rs.UID] = true
		if current == nil && sameTemplate(rs.Spec.Template, d.Spec.Template) {
			current = rs
		}
	}
	if current == nil {
		return 0, false
	}
	for _, p := range pods {
		ref := metav1.GetControllerOf(p)
		if ref == nil || !owned[ref.UID] || p.DeletionTimestamp != nil {
			continue
		}
		if ref.UID != current.UID {
			return 0, false // an old pod still serving
		}
		if podReady(p) {
			ready++
		}
	}
	return ready, ready >= replicas(d.Spec.Replicas)
}

// sameTemplate is the Deployment controller's test for "this ReplicaSet runs
// the current template": equal apart from the pod-template-hash label the
// controller adds to the ReplicaSet's copy.
func sameTemplate(rs, d corev1.PodTemplateSpec) bool {
	rs.Labels = withoutHash(rs.Labels)
	d.Labels = withoutHash(d.Labels)
	return equality.Semantic.DeepEqual(rs, d)
}

func withoutHash(l map[string]string) map[string]string {
	if _, ok := l[appsv1.DefaultDeploymentUniqueLabelKey]; !ok {
		return l
	}
	out := make(map[string]string, len(l))
	for k, v := range l {
		if k != appsv1.DefaultDeploymentUniqueLabelKey {
			out[k] = v
		}
	}
	return out
}

// markOldDeploymentPods marks in old the pods of d's ReplicaSets that do not
// run its current template.
func markOldDeploymentPods(d *appsv1.Deployment, rss []*appsv1.ReplicaSet, pods []*corev1.Pod, old map[types.UID]bool) {
	stale := map[types.UID]bool{}
	found := false
	for _, rs := range rss {
		if metav1.IsControlledBy(rs, d) {
			cur := sameTemplate(rs.Spec.Template, d.Spec.Template)
			found = found || cur
			stale[rs.UID] = !cur
		}
	}
	if !found && d.Generation <= d.Status.ObservedGeneration {
		return // the current template's ReplicaSet is not seen yet: judge every pod
	}
	// Not found while the controller has not observed the spec yet (a watch started right
	// after the apply): it has made no ReplicaSet for the new template, so every pod runs an
	// earlier one, and a crash loop there is the version being left.
	for _, p := range pods {
		if ref := metav1.GetControllerOf(p); ref != nil && stale[ref.UID] {
			old[p.UID] = true
		}
	}
}

// markOldStatefulSetPods marks in old the pods of s that run an earlier
// revision. One of them that is not Ready blocks a rolling update: the
// controller replaces pods in order and waits for each to be Ready first, so
// it never replaces a broken one (Kubernetes' known limit); the answer names
// it and the command that unblocks the rollout.
func markOldStatefulSetPods(s *appsv1.StatefulSet, pods []*corev1.Pod, old map[types.UID]bool) (stuck string) {
	rev := s.Status.UpdateRevision
	if rev == "" {
		return ""
	}
	for _, p := range pods {
		if !metav1.IsControlledBy(p, s) || p.Labels[appsv1.StatefulSetRevisionLabel] == rev {
			continue
		}
		old[p.UID] = true
		if stuck == "" && p.DeletionTimestamp == nil && !podReady(p) &&
			s.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
			stuck = fmt.Sprintf("pod %s is not Ready on the old revision %s and the StatefulSet controller will not replace it: "+
				"delete it to let the rollout go on: kubectl delete pod %s -n %s", p.Name, p.Labels[appsv1.StatefulSetRevisionLabel], p.Name, p.Namespace)
		}
	}
	return stuck
}

func statefulSetPending(s *appsv1.StatefulSet) string {
	if s.Status.ObservedGeneration == 0 || s.Generation > s.Status.ObservedGeneration {
		return "controller has not observed the latest spec yet"
	}
	want := replicas(s.Spec.Replicas)
	if s.Status.ReadyReplicas < want {
		return fmt.Sprintf("%d of %d replicas ready", s.Status.ReadyReplicas, want)
	}
	if s.Spec.MinReadySeconds > 0 && s.Status.AvailableReplicas < want {
		return fmt.Sprintf("%d of %d replicas available (Ready for minReadySeconds %d)", s.Status.AvailableReplicas, want, s.Spec.MinReadySeconds)
	}
	if s.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return "" // pods are replaced only when deleted: nothing to wait for
	}
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition > 0 {
		if s.Status.UpdatedReplicas < want-*ru.Partition {
			return fmt.Sprintf("%d of %d partitioned replicas updated", s.Status.UpdatedReplicas, want-*ru.Partition)
		}
		return ""
	}
	if s.Status.UpdateRevision != s.Status.CurrentRevision {
		return fmt.Sprintf("%d of %d replicas updated to revision %s", s.Status.UpdatedReplicas, want, s.Status.UpdateRevision)
	}
	return ""
}

func daemonSetPending(d *appsv1.DaemonSet) string {
	if d.Generation > d.Status.ObservedGeneration {
		return "controller has not observed the latest spec yet"
	}
	s := d.Status
	// Under OnDelete, pods take the new template only when deleted: the old
	// ones are never "updated", so only availability is waited for.
	if d.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType && s.UpdatedNumberScheduled < s.DesiredNumberScheduled {
		return fmt.Sprintf("%d of %d pods updated", s.UpdatedNumberScheduled, s.DesiredNumberScheduled)
	}
	if s.NumberAvailable < s.DesiredNumberScheduled {
		return fmt.Sprintf("%d of %d updated pods available", s.NumberAvailable, s.DesiredNumberScheduled)
	}
	return ""
}

func jobPending(j *batchv1.Job) (string, error) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobFailed:
			return "", &WorkloadFailureError{Namespace: j.Namespace, Kind: "job", Name: j.Name, Reason: c.Reason, Message: c.Message}
		case batchv1.JobComplete:
			return "", nil
		}
	}
	return fmt.Sprintf("not complete (%d active, %d succeeded, %d failed)", j.Status.Active, j.Status.Succeeded, j.Status.Failed), nil
}

func podFailure(p *corev1.Pod) error {
	return newWatchState(time.Time{}).podFailure(p)
}

// podFailure fails at once on a waiting reason that does not resolve by
// itself, and on a transient one once it lasted transientGrace.
func (st *watchState) podFailure(p *corev1.Pod) error {
	statuses := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, cs := range statuses {
		w := cs.State.Waiting
		if w == nil {
			continue
		}
		if waitingFailures[w.Reason] {
			return &PodFailureError{Namespace: p.Namespace, Pod: p.Name, Container: cs.Name, Reason: w.Reason, Message: w.Message}
		}
		if !transientFailures[w.Reason] {
			continue
		}
		key := p.Name + "/" + cs.Name + "/" + w.Reason
		first, ok := st.transient[key]
		if !ok {
			first = st.now()
			st.transient[key] = first
		}
		end := first.Add(transientGrace)
		if !st.now().Before(end) {
			return &PodFailureError{Namespace: p.Namespace, Pod: p.Name, Container: cs.Name, Reason: w.Reason,
				Message: fmt.Sprintf("%s (still after a grace of %s: such failures are often transient)", w.Message, transientGrace)}
		}
		if st.wake.IsZero() || end.Before(st.wake) {
			st.wake = end
		}
	}
	return nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
