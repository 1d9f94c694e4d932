package helmrelease

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"helm.sh/helm/v4/pkg/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Conflict is one field of one object that server-side apply would take
// from another field manager: someone ran `kubectl scale`, an autoscaler
// set the replicas, another tool edited the object.
type Conflict struct {
	Object string // "Deployment/pachd"
	Field  string // ".spec.replicas"
	// Manager is the field manager that owns it, e.g. "kubectl";
	// Subresource is set when it wrote through one ("scale").
	Manager     string
	Subresource string
}

// ConflictError lists the fields that an upgrade would overwrite although
// another manager owns them. Server-side apply refuses such a change unless
// conflicts are forced (`helm --force-conflicts`).
type ConflictError struct {
	Release   string
	Conflicts []Conflict
}

func (e *ConflictError) Error() string {
	parts := make([]string, 0, len(e.Conflicts))
	for _, c := range e.Conflicts {
		part := fmt.Sprintf("%s field %s is owned by field manager %q", c.Object, c.Field, c.Manager)
		if c.Subresource != "" {
			part += " (subresource " + c.Subresource + ")"
		}
		parts = append(parts, part)
	}
	return fmt.Sprintf("release %s: server-side apply conflicts (changed outside Helm): %s", e.Release, strings.Join(parts, "; "))
}

// conflictCause reads a cause's message, e.g.
// `conflict with "kubectl" using apps/v1` or
// `conflict with "kube-controller-manager" with subresource "scale" using apps/v1`.
var conflictCause = regexp.MustCompile(`conflict with "([^"]*)"(?: with subresource "([^"]*)")?`)

// helmConflict is how Helm's kube client names the object whose apply
// conflicted: "conflict occurred while applying object <ns>/<name> <gvk>:",
// the GroupVersionKind printed as "apps/v1, Kind=Deployment". The API
// server's conflict status itself carries no object name.
var helmConflict = regexp.MustCompile(`^conflict occurred while applying object [^/\s]*/(\S+) .*?Kind=(\w+):`)

// conflictsOf collects the server-side apply conflicts in err (Helm joins
// the errors of the objects it applies), or nil when there are none.
func conflictsOf(err error) []Conflict {
	var out []Conflict
	var walk func(err error, object string)
	walk = func(err error, object string) {
		if err == nil {
			return
		}
		if m := helmConflict.FindStringSubmatch(err.Error()); m != nil {
			object = m[2] + "/" + m[1]
		}
		if se, ok := err.(*apierrors.StatusError); ok && apierrors.IsConflict(se) && se.ErrStatus.Details != nil {
			d := se.ErrStatus.Details
			if d.Name != "" {
				object = kindName(d.Kind) + "/" + d.Name
			}
			for _, c := range d.Causes {
				if c.Type != metav1.CauseTypeFieldManagerConflict {
					continue
				}
				m := conflictCause.FindStringSubmatch(c.Message)
				if m == nil {
					continue
				}
				out = append(out, Conflict{Object: object, Field: c.Field, Manager: m[1], Subresource: m[2]})
			}
			return
		}
		// Helm joins one error per object, so every branch is walked.
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e, object)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap(), object)
		}
	}
	walk(err, "")
	seen := map[Conflict]bool{}
	var uniq []Conflict
	for _, c := range out {
		if !seen[c] {
			seen[c] = true
			uniq = append(uniq, c)
		}
	}
	sort.Slice(uniq, func(i, j int) bool {
		if uniq[i].Object != uniq[j].Object {
			return uniq[i].Object < uniq[j].Object
		}
		return uniq[i].Field < uniq[j].Field
	})
	return uniq
}

// kindName turns the resource name the API reports ("deployments") into
// the kind users know ("Deployment"), for the common workload kinds.
func kindName(resource string) string {
	switch resource {
	case "deployments":
		return "Deployment"
	case "statefulsets":
		return "StatefulSet"
	case "daemonsets":
		return "DaemonSet"
	case "services":
		return "Service"
	case "configmaps":
		return "ConfigMap"
	case "secrets":
		return "Secret"
	case "jobs":
		return "Job"
	}
	return resource
}

// CheckConflicts renders the upgrade of name to ch with values and sends
// every object through a server-side apply dry run as Helm's field
// manager, without forcing: a *ConflictError lists the fields that another
// manager owns, before anything changes. Helm applies objects one by one,
// so finding the conflict mid-upgrade would leave the release half
// applied. A release last applied client-side (by Helm 3) is upgraded
// client-side, where ownership does not conflict: nothing to check.
func (c *Client) CheckConflicts(ctx context.Context, name string, ch *Chart, values map[string]any, opts UpgradeOptions) error {
	if ch == nil || ch.Chart == nil {
		return errors.New("check conflicts: no chart")
	}
	if opts.ForceConflicts {
		return nil
	}
	// A backup command may have run for long since the release check: read what the cluster
	// has now.
	current, err := c.Get(ctx, name)
	if err != nil {
		return err
	}
	switch ssa := opts.serverSideApply(); {
	case ssa == "false", ssa == "auto" && current.ApplyMethod != "ssa":
		return nil
	}
	up := c.dryRunUpgrade(opts.PostRenderer) // the manifest the upgrade will apply
	// No client-side OpenAPI validation, here or below: fetching and parsing
	// the schema costs far more than the whole check (seconds against
	// milliseconds), and the dry-run apply is validated by the API server.
	up.DisableOpenAPIValidation = true
	if values == nil {
		values = map[string]any{}
	}
	r, err := up.RunWithContext(ctx, name, ch.Chart, values)
	if err != nil {
		return fmt.Errorf("check conflicts: render the upgrade of %s/%s to chart %s %s: %w", c.namespace, name, ch.Name(), ch.Version(), err)
	}
	proposed, err := fromReleaser(r)
	if err != nil {
		return err
	}
	target, err := c.cfg.KubeClient.Build(bytes.NewBufferString(proposed.Manifest), false)
	if err != nil {
		return fmt.Errorf("check conflicts: build objects: %w", err)
	}
	err = c.dryRunApply(target)
	if err == nil {
		return nil
	}
	if cs := conflictsOf(err); len(cs) > 0 {
		return &ConflictError{Release: name, Conflicts: cs}
	}
	return fmt.Errorf("check conflicts of %s/%s: server-side apply dry run: %w", c.namespace, name, err)
}

// dryRunLanes bounds the dry-run requests in flight at once.
const dryRunLanes = 8

// dryRunApply sends every object through a server-side apply dry run as Helm's field
// manager. The objects are independent, so the requests go out side by side rather than one
// after another as Helm's Update sends them: a real Pachyderm release has some forty
// objects, and one by one their round trips were most of the check's time. Each object is
// its own original, so Helm computes no deletions.
func (c *Client) dryRunApply(target kube.ResourceList) error {
	lanes := make([]kube.ResourceList, min(dryRunLanes, len(target)))
	for i, info := range target {
		lanes[i%len(lanes)] = append(lanes[i%len(lanes)], info)
	}
	errs := make([]error, len(lanes))
	var wg sync.WaitGroup
	for i, lane := range lanes {
		wg.Go(func() {
			_, errs[i] = c.cfg.KubeClient.Update(lane, lane,
				kube.ClientUpdateOptionDryRun(true),
				kube.ClientUpdateOptionServerSideApply(true, false))
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
