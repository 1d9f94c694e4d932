package helmrelease

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	"helm.sh/helm/v4/pkg/postrenderer"
	"sigs.k8s.io/yaml"

	pvalues "github.com/pach-upgrade/pach-upgrade/internal/values"
)

// Plan is what an upgrade would change, with every credential redacted.
type Plan struct {
	Release          string
	CurrentRevision  int
	CurrentChart     string // chart version now deployed
	CurrentApp       string
	TargetChart      string
	TargetApp        string
	ManifestDiff     string // unified diff, Secret data and stringData redacted
	ValuesDiff       string // unified diff of redacted user values
	Created, Updated []string
}

// Changed reports whether the upgrade would change anything.
func (p *Plan) Changed() bool {
	return p.ManifestDiff != "" || p.ValuesDiff != "" || p.CurrentChart != p.TargetChart
}

// PlanOptions tune Plan.
type PlanOptions struct {
	// SkipServerDryRun skips the server-side dry-run apply of the rendered objects.
	SkipServerDryRun bool
	// PostRenderer patches the rendered manifest (Carry.PostRenderer).
	PostRenderer postrenderer.PostRenderer
}

// dryRunUpgrade is the upgrade of a release as Helm would run it — rendered with lookups
// against the cluster, checked against the live objects — and applied nowhere: what the plan,
// the conflict check and the generated-values renders each start from.
func (c *Client) dryRunUpgrade(postRenderer postrenderer.PostRenderer) *action.Upgrade {
	return dryRunUpgradeWith(c.cfg, c.namespace, postRenderer)
}

func dryRunUpgradeWith(cfg *action.Configuration, namespace string, postRenderer postrenderer.PostRenderer) *action.Upgrade {
	up := action.NewUpgrade(cfg)
	up.Namespace = namespace
	up.DryRunStrategy = action.DryRunServer
	up.WaitStrategy = kube.HookOnlyStrategy
	up.ResetValues = true
	up.PostRenderer = postRenderer
	return up
}

// Plan renders the upgrade of name to ch with values, without changing anything: Helm's
// server dry-run renders it (lookups against the cluster included), then every rendered
// object goes through a server-side apply dry-run so admission and schema errors show up now
// rather than mid-upgrade. It returns the redacted diffs. Its lookups find no
// Secret (see planConfig): the plan is published, and its values may come
// from a pull request.
func (c *Client) Plan(ctx context.Context, name string, ch *Chart, values map[string]any, opts PlanOptions) (*Plan, error) {
	if ch == nil || ch.Chart == nil {
		return nil, errors.New("plan: no chart")
	}
	if err := c.CheckPending(ctx, name); err != nil {
		return nil, err
	}
	current, err := c.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	cfg, err := c.planConfig()
	if err != nil {
		return nil, err
	}
	up := dryRunUpgradeWith(cfg, c.namespace, opts.PostRenderer)
	if values == nil {
		values = map[string]any{}
	}
	r, err := up.RunWithContext(ctx, name, ch.Chart, values)
	if err != nil {
		return nil, fmt.Errorf("plan upgrade of %s/%s to chart %s %s: %w", c.namespace, name, ch.Name(), ch.Version(), err)
	}
	proposed, err := fromReleaser(r)
	if err != nil {
		return nil, err
	}
	p := &Plan{
		Release:         name,
		CurrentRevision: current.Revision,
		CurrentChart:    current.ChartVersion,
		CurrentApp:      current.AppVersion,
		TargetChart:     ch.Version(),
		TargetApp:       ch.AppVersion(),
	}
	if !opts.SkipServerDryRun {
		if p.Created, p.Updated, err = c.serverDryRun(proposed.Manifest); err != nil {
			return nil, fmt.Errorf("plan upgrade of %s/%s: server-side dry run: %w", c.namespace, name, err)
		}
	}
	curRendered, newRendered := current.Manifest, proposed.Manifest
	if opts.PostRenderer != nil {
		curRendered, newRendered = normalizeManifest(curRendered), normalizeManifest(newRendered)
	}
	curManifest, newManifest, err := redactManifests(curRendered, newRendered)
	if err != nil {
		return nil, err
	}
	label := func(chart, app string) string {
		return fmt.Sprintf("manifest %s (chart %s, app %s)", name, chart, app)
	}
	if p.ManifestDiff, err = unifiedDiff(curManifest, newManifest,
		label(current.ChartVersion, current.AppVersion), label(ch.Version(), ch.AppVersion())); err != nil {
		return nil, err
	}
	// The one credential rule (package values), with markers saying which credentials
	// the upgrade adds or changes.
	redactCur, redactNew := pvalues.Redact(current.Values), pvalues.RedactChanges(values, current.Values)
	if redactCur == nil {
		redactCur = map[string]any{}
	}
	if redactNew == nil {
		redactNew = map[string]any{}
	}
	curValues, err := yaml.Marshal(redactCur)
	if err != nil {
		return nil, fmt.Errorf("write current values: %w", err)
	}
	newValues, err := yaml.Marshal(redactNew)
	if err != nil {
		return nil, fmt.Errorf("write proposed values: %w", err)
	}
	if p.ValuesDiff, err = unifiedDiff(string(curValues), string(newValues), "values (current)", "values (proposed)"); err != nil {
		return nil, err
	}
	return p, nil
}

// serverDryRun sends every object through a server-side apply dry run. Each object is its
// own "original", so Helm computes no deletions: its update path deletes objects missing
// from the target even in dry-run mode. Conflicts are forced because nothing is persisted
// and a release last applied client-side (by Helm 3) would otherwise conflict on every field.
func (c *Client) serverDryRun(manifest string) (created, updated []string, err error) {
	target, err := c.cfg.KubeClient.Build(bytes.NewBufferString(manifest), true)
	if err != nil {
		return nil, nil, fmt.Errorf("build objects: %w", err)
	}
	res, err := c.cfg.KubeClient.Update(target, target,
		kube.ClientUpdateOptionDryRun(true),
		kube.ClientUpdateOptionServerSideApply(true, true))
	if err != nil {
		return nil, nil, err
	}
	for _, i := range res.Created {
		created = append(created, i.Mapping.GroupVersionKind.Kind+"/"+i.Name)
	}
	for _, i := range res.Updated {
		updated = append(updated, i.Mapping.GroupVersionKind.Kind+"/"+i.Name)
	}
	return created, updated, nil
}

func unifiedDiff(a, b, from, to string) (string, error) {
	if a == b {
		return "", nil
	}
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        difflib.SplitLines(a),
		B:        difflib.SplitLines(b),
		FromFile: from,
		ToFile:   to,
		Context:  3,
	})
	if err != nil {
		return "", fmt.Errorf("diff %s: %w", from, err)
	}
	return strings.TrimRight(d, "\n") + "\n", nil
}
