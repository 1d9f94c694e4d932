package helmrelease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	ri "helm.sh/helm/v4/pkg/release"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"k8s.io/client-go/discovery"

	pvalues "github.com/pach-upgrade/pach-upgrade/internal/values"
)

// Outcome says what happens to one generated field in the upgrade.
type Outcome string

const (
	// CarriedByValues: the live value goes into the values key, which pins
	// it for good (later upgrades render it unchanged).
	CarriedByValues Outcome = "carried by values"
	// CarriedByPostRenderer: no values key sets this field alone, so a
	// post-renderer writes the live value into the rendered manifest, at
	// this and every later upgrade.
	CarriedByPostRenderer Outcome = "carried by post-renderer"
	// RolloutMarker: the chart renders the field only on upgrade, to force
	// a rollout; it stays as rendered.
	RolloutMarker Outcome = "rollout marker"
	// NotInLive: the live release has no such field, so there is nothing
	// to keep; it is generated now, for the first time.
	NotInLive Outcome = "new"
	// Regenerated: the regenerate input accepts a new value.
	Regenerated Outcome = "regenerated"
	// Uncarriable: the live value does not fit what the chart renders
	// around the random part, so neither way can keep it.
	Uncarriable Outcome = "cannot carry"
)

// GeneratedField is a field the chart fills with a new random value at
// every render. It never holds the value.
type GeneratedField struct {
	// Object is Kind/name (Kind/namespace/name outside the release's
	// namespace); Path the field in it, e.g. data.CLUSTER_DEPLOYMENT_ID.
	Object, Path string
	Outcome      Outcome
	// ValuesKey is the values key that pins the field for good: set now
	// when CarriedByValues, the one to set by hand otherwise (empty when
	// the chart has none).
	ValuesKey string
	// Note explains a post-renderer carry or a failure.
	Note string
}

// ID is the field as the regenerate input names it: Object/Path.
func (f GeneratedField) ID() string { return f.Object + "/" + f.Path }

// Carried reports whether the upgrade keeps the live value.
func (f GeneratedField) Carried() bool {
	return f.Outcome == CarriedByValues || f.Outcome == CarriedByPostRenderer
}

// Carry is what keeps a release's generated values through an upgrade:
// values to set and manifest patches for a post-renderer.
type Carry struct {
	Fields []GeneratedField
	// Values maps a dotted values key to the live value it must hold.
	// They are credentials: never print them.
	Values map[string]string
	// Secrets are all carried values, for the log's masking.
	Secrets []string
	// Renders is how many times the chart was rendered to find all this,
	// and Took how long that took.
	Renders int
	Took    time.Duration

	patches []patch
}

// UncarriableError lists the generated fields an upgrade would replace
// without the user's consent.
type UncarriableError struct {
	Fields []GeneratedField
}

func (e *UncarriableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the chart generates %d field(s) whose live value cannot be carried over; the upgrade would replace them:", len(e.Fields))
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "\n  - %s (%s)", f.ID(), f.Note)
	}
	b.WriteString("\nPin them in the values, or name them in the regenerate input to accept new values.")
	return b.String()
}

// Err returns an *UncarriableError when a field cannot be carried.
func (c *Carry) Err() error {
	var bad []GeneratedField
	for _, f := range c.Fields {
		if f.Outcome == Uncarriable {
			bad = append(bad, f)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return &UncarriableError{Fields: bad}
}

// Apply returns a copy of values with the carried values keys set.
func (c *Carry) Apply(values map[string]any) map[string]any {
	out := pvalues.Copy(values)
	for _, k := range sortedKeys(c.Values) {
		pvalues.Set(out, k, c.Values[k])
	}
	return out
}

// GeneratedOptions tune FindGenerated.
type GeneratedOptions struct {
	// Regenerate names fields (Object/Path) or whole objects (Object) whose
	// generated values the user accepts to replace.
	Regenerate []string
}

// FindGenerated finds what the target chart generates anew at every
// render and how to keep the live release's values of it.
//
// It renders the upgrade twice with the same values: fields that differ
// are generated. A generated field the chart does not render on a fresh
// install (pachd's UPGRADE_NO_OP, rendered only when .Release.IsUpgrade)
// exists only to force a rollout and stays as rendered; a field the live
// release lacks is new and has nothing to keep. Every other one keeps its
// live value: through the values key that a render with a sentinel in each
// candidate key shows to set it, or else through a post-renderer patch.
// The fresh-install render and the sentinel render are one render, so a
// chart with generated fields costs three renders, run side by side; one
// without candidate keys costs two (the install render only if a field
// differs), one with candidate keys three whatever it generates.
// A field whose live value does not fit the rendered text around the random
// part cannot be carried; Carry.Err reports those.
func (c *Client) FindGenerated(ctx context.Context, name string, ch *Chart, values map[string]any, opts GeneratedOptions) (*Carry, error) {
	if ch == nil || ch.Chart == nil {
		return nil, errors.New("find generated values: no chart")
	}
	start := time.Now()
	carry := &Carry{Values: map[string]string{}}
	defer func() { carry.Took = time.Since(start) }()

	// Values already pinned under a key that stands in for a random value
	// (by an earlier run) are generated values too: mask them as well.
	keys := randomKeys(ch.Chart)
	for _, k := range keys {
		if v, ok := pvalues.Lookup(values, k); ok {
			if s, isStr := v.(string); isStr && len(s) >= minMask {
				carry.Secrets = append(carry.Secrets, s)
			}
		}
	}

	current, err := action.NewGet(c.cfg).Run(name)
	if err != nil {
		return nil, c.wrapNotFound(name, "get", err)
	}
	live, err := parseObjects(fullManifest(current), c.namespace)
	if err != nil {
		return nil, fmt.Errorf("live release %s: %w", name, err)
	}
	// The sentinels depend on nothing rendered, so all three renders can run side by side.
	sentinels := map[string]string{}
	sentVals := pvalues.Copy(values)
	for i, k := range keys {
		if v, ok := pvalues.Lookup(values, k); ok && v != nil && v != "" {
			continue // set by the user: not what makes a field random
		}
		s := sentinel(i)
		sentinels[k] = s
		pvalues.Set(sentVals, k, s)
	}
	// Each render runs on its own Helm configuration (an upgrade sets its storage's history
	// limit as it runs), all with the capabilities read once here.
	if err := c.primeCapabilities(); err != nil {
		return nil, err
	}
	renderWith := func(cfg *action.Configuration, ch *Chart, vals map[string]any) (map[string]*object, error) {
		m, err := c.renderUpgradeWith(ctx, cfg, name, ch, vals)
		if err != nil {
			return nil, err
		}
		return parseObjects(m, c.namespace)
	}
	// A chart with candidate keys nearly always has generated fields (the real chart has
	// several): its fresh-install render starts with the two upgrade renders instead of
	// after them. A chart without any renders it only when a field differs.
	var a, b, installed map[string]*object
	var errA, errB, errInstall error
	var wg sync.WaitGroup
	carry.Renders += 2
	// Each concurrent render gets its own copy of the chart, which rendering changes.
	// Copied before any render starts.
	chB, chI := ch.clone(), ch.clone()
	wg.Go(func() { a, errA = renderWith(c.cfg, ch, values) })
	wg.Go(func() { b, errB = renderWith(c.sibling(), chB, values) })
	early := len(keys) > 0
	if early {
		carry.Renders++
		wg.Go(func() { installed, errInstall = c.renderInstall(ctx, name, chI, sentVals) })
	}
	wg.Wait()
	if err := errors.Join(errA, errB); err != nil {
		return nil, err
	}
	gen := generatedFields(a, b)
	if len(gen) == 0 {
		return carry, nil
	}

	// Only fields the live release has can be carried; the install render tells the
	// rollout markers among them, the sentinel render the keys.
	var inLive []genField
	for _, g := range gen {
		o := a[g.key]
		lo := live[g.key]
		f := GeneratedField{Object: o.id(c.namespace), Path: g.path}
		if lo == nil {
			f.Outcome, f.Note = NotInLive, "object not in the live release"
			carry.Fields = append(carry.Fields, f)
			continue
		}
		if _, ok := lo.liveText(g.path); !ok {
			f.Outcome, f.Note = NotInLive, "field not in the live release"
			carry.Fields = append(carry.Fields, f)
			continue
		}
		inLive = append(inLive, g)
	}
	if len(inLive) == 0 {
		return carry, nil
	}
	// One fresh-install render answers both remaining questions: which
	// fields a fresh install renders at all (the others are rollout
	// markers: a sentinel changes what a field holds, not whether it is
	// rendered), and which candidate key's sentinel lands in each field.
	// A chart that refuses a sentinel somewhere (a key also read as a
	// number, say) only loses the mapping: it is rendered again without
	// them, and every field then goes through the post-renderer.
	if !early {
		carry.Renders++
		installed, errInstall = c.renderInstall(ctx, name, ch, sentVals)
	}
	sent, err := installed, errInstall
	if err != nil && len(sentinels) > 0 {
		carry.Renders++
		installed, err = c.renderInstall(ctx, name, ch, values)
		sent = nil
	}
	if err != nil {
		return nil, err
	}
	if len(sentinels) == 0 {
		sent = nil
	}

	carry.classify(c.namespace, inLive, a, live, installed, sent, sentinels, opts.Regenerate)
	return carry, nil
}

// minMask is the shortest pinned value worth masking: shorter ones would
// blank unrelated text in every log line.
const minMask = 4

// classify decides, for each generated field the live release has, how its
// live value is kept: a is a render of the target, live the live release,
// installed a fresh-install render, sent a render with sentinels[key] in
// each candidate key (nil when there were none).
func (carry *Carry) classify(ns string, inLive []genField, a, live, installed, sent map[string]*object, sentinels map[string]string, regenerate []string) {
	accepted := map[string]bool{}
	for _, r := range regenerate {
		accepted[strings.TrimSpace(r)] = true
	}
	type keyed struct {
		field       int
		g           genField
		live, value string
	}
	byKey := map[string][]keyed{}
	for _, g := range inLive {
		o, lo := a[g.key], live[g.key]
		f := GeneratedField{Object: o.id(ns), Path: g.path}
		liveVal, _ := lo.liveText(g.path)
		key, keyVal, keyOK := mapToKey(sent[g.key], g.path, sentinels, liveVal)
		f.ValuesKey = key
		switch {
		case !installRenders(installed, g):
			f.Outcome, f.Note = RolloutMarker, "rendered only on upgrade, to force a rollout"
		case accepted[f.ID()] || accepted[f.Object]:
			f.Outcome, f.Note = Regenerated, "accepted by the regenerate input"
		case key != "" && keyOK:
			f.Outcome = CarriedByValues
			byKey[key] = append(byKey[key], keyed{field: len(carry.Fields), g: g, live: liveVal, value: keyVal})
			carry.Secrets = append(carry.Secrets, liveVal)
		case !fitsShape(liveVal, g.prefix, g.suffix):
			f.Outcome = Uncarriable
			f.Note = "the live value does not fit the text the chart renders around the random part"
		default:
			if _, isStr := o.fields[g.path].value.(string); !isStr {
				f.Outcome, f.Note = Uncarriable, "not a string field"
				break
			}
			f.Outcome, f.Note = CarriedByPostRenderer, "no values key sets it"
			if key != "" {
				f.Note = fmt.Sprintf("the live value does not fit what %s renders", key)
			}
			carry.patches = append(carry.patches, newPatch(o, g.path, liveVal))
			carry.Secrets = append(carry.Secrets, liveVal)
		}
		carry.Fields = append(carry.Fields, f)
	}
	// A key pins every field it sets to one value; when the live fields it
	// sets disagree (pachd and pachw each drew their own host path), it
	// cannot pin them all, so the post-renderer keeps each of them.
	for _, k := range sortedKeys(byKey) {
		ks := byKey[k]
		agree := true
		for _, x := range ks[1:] {
			agree = agree && x.value == ks[0].value
		}
		if agree {
			carry.Values[k] = ks[0].value
			carry.Secrets = append(carry.Secrets, ks[0].value)
			continue
		}
		for _, x := range ks {
			f := &carry.Fields[x.field]
			f.Outcome = CarriedByPostRenderer
			f.Note = fmt.Sprintf("%s sets %d fields whose live values differ", k, len(ks))
			carry.patches = append(carry.patches, newPatch(a[x.g.key], x.g.path, x.live))
		}
	}
}

// genField is a field that differs between two renders.
type genField struct {
	key, path      string // object key, field path
	prefix, suffix string // text around the random part, common to both renders
}

// generatedFields compares two renders of the same chart and values.
func generatedFields(a, b map[string]*object) []genField {
	var out []genField
	for _, k := range sortedKeys(a) {
		oa, ob := a[k], b[k]
		for _, p := range sortedKeys(oa.fields) {
			va, _ := oa.text(p)
			var vb string
			var ok bool
			if ob != nil {
				vb, ok = ob.text(p)
			}
			if ok && va == vb {
				continue
			}
			g := genField{key: k, path: p}
			if ok {
				g.prefix, g.suffix = commonAffixes(va, vb)
			}
			out = append(out, g)
		}
	}
	return out
}

// commonAffixes returns the text two renders share before and after their
// random part, cut back to a non-alphanumeric boundary: random characters
// that happen to match at the edge are not part of the template's text.
func commonAffixes(a, b string) (string, string) {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	for n > 0 && isAlnum(a[n-1]) {
		n--
	}
	prefix := a[:n]
	m := 0
	for m < len(a)-n && m < len(b)-n && a[len(a)-1-m] == b[len(b)-1-m] {
		m++
	}
	for m > 0 && isAlnum(a[len(a)-m]) {
		m--
	}
	return prefix, a[len(a)-m:]
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func fitsShape(v, prefix, suffix string) bool {
	return len(v) > len(prefix)+len(suffix) && strings.HasPrefix(v, prefix) && strings.HasSuffix(v, suffix)
}

// mapToKey finds the candidate key whose sentinel landed in the field, and
// the value that key needs for the field to render as the live value.
func mapToKey(sent *object, path string, sentinels map[string]string, liveVal string) (key, value string, ok bool) {
	if sent == nil {
		return "", "", false
	}
	v, found := sent.text(path)
	if !found {
		return "", "", false
	}
	for _, k := range sortedKeys(sentinels) {
		i := strings.Index(v, sentinels[k])
		if i < 0 {
			continue
		}
		prefix, suffix := v[:i], v[i+len(sentinels[k]):]
		if !fitsShape(liveVal, prefix, suffix) {
			return k, "", false
		}
		return k, liveVal[len(prefix) : len(liveVal)-len(suffix)], true
	}
	return "", "", false
}

// installRenders reports whether a fresh install renders the field: one it
// renders only on upgrade exists to force a rollout.
func installRenders(installed map[string]*object, g genField) bool {
	o := installed[g.key]
	if o == nil {
		return false
	}
	_, ok := o.fields[g.path]
	return ok
}

// sentinel is a value no chart renders by itself, alphanumeric so that it
// passes wherever a random alphanumeric value does.
func sentinel(i int) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("pachupgradesentinel%s%03d", hex.EncodeToString(b[:]), i)
}

// renderUpgrade renders the upgrade as Helm would run it (lookups against
// the cluster), without the OpenAPI validation a render alone does not need.
func (c *Client) renderUpgrade(ctx context.Context, name string, ch *Chart, values map[string]any) (string, error) {
	return c.renderUpgradeWith(ctx, c.cfg, name, ch, values)
}

// renderUpgradeWith is renderUpgrade on the Helm configuration cfg.
func (c *Client) renderUpgradeWith(ctx context.Context, cfg *action.Configuration, name string, ch *Chart, values map[string]any) (string, error) {
	up := dryRunUpgradeWith(cfg, c.namespace, nil)
	up.DisableOpenAPIValidation = true
	r, err := up.RunWithContext(ctx, name, ch.Chart, pvalues.Copy(values))
	if err != nil {
		return "", fmt.Errorf("render the upgrade of %s/%s to chart %s %s: %w", c.namespace, name, ch.Name(), ch.Version(), err)
	}
	return fullManifest(r), nil
}

// primeCapabilities reads the cluster's capabilities into c's configuration, as Helm's first
// action would (Configuration.getCapabilities, which is not exported): the version and the
// API versions the API server serves. Renders running side by side then share them instead
// of each writing them.
func (c *Client) primeCapabilities() error {
	if c.cfg.Capabilities != nil {
		return nil
	}
	dc, err := c.cfg.RESTClientGetter.ToDiscoveryClient()
	if err != nil {
		return fmt.Errorf("could not get Kubernetes discovery client: %w", err)
	}
	dc.Invalidate()
	kv, err := dc.ServerVersion()
	if err != nil {
		return fmt.Errorf("could not get server version from Kubernetes: %w", err)
	}
	apiVersions, err := action.GetVersionSet(dc)
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return fmt.Errorf("could not get apiVersions from Kubernetes: %w", err)
	}
	c.cfg.Capabilities = &common.Capabilities{
		APIVersions: apiVersions,
		KubeVersion: common.KubeVersion{Version: kv.GitVersion, Major: kv.Major, Minor: kv.Minor},
		HelmVersion: common.DefaultCapabilities.HelmVersion,
	}
	return nil
}

// sibling is a Helm configuration that shares c's cluster clients, release records and
// capabilities, with its own Storage: a render on it may run beside one on c's.
func (c *Client) sibling() *action.Configuration {
	return c.configWith(storage.Init(c.records))
}

// configWith is a Helm configuration with c's cluster clients, capabilities, hooks and a copy
// of its template functions, and releases as its storage.
func (c *Client) configWith(releases *storage.Storage) *action.Configuration {
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(c.cfg.Logger().Handler()))
	cfg.RESTClientGetter = c.cfg.RESTClientGetter
	cfg.KubeClient = c.cfg.KubeClient
	cfg.RegistryClient = c.cfg.RegistryClient
	cfg.Capabilities = c.cfg.Capabilities
	cfg.HookOutputFunc = c.cfg.HookOutputFunc
	cfg.CustomTemplateFuncs = maps.Clone(c.cfg.CustomTemplateFuncs)
	cfg.Releases = releases
	return cfg
}

// renderInstall renders the chart as a fresh install, client-side only,
// with the cluster's capabilities.
func (c *Client) renderInstall(ctx context.Context, name string, ch *Chart, values map[string]any) (map[string]*object, error) {
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.New(slog.NewTextHandler(io.Discard, nil)).Handler()))
	in := action.NewInstall(cfg)
	in.ReleaseName = name
	in.Namespace = c.namespace
	in.DryRunStrategy = action.DryRunClient
	in.DisableOpenAPIValidation = true
	if caps := c.cfg.Capabilities; caps != nil {
		kv := caps.KubeVersion
		in.KubeVersion = &kv
		in.APIVersions = append(in.APIVersions, caps.APIVersions...)
	}
	r, err := in.RunWithContext(ctx, ch.Chart, pvalues.Copy(values))
	if err != nil {
		return nil, fmt.Errorf("render chart %s %s as a fresh install: %w", ch.Name(), ch.Version(), err)
	}
	return parseObjects(fullManifest(r), c.namespace)
}

// fullManifest is a release's manifest with its hooks' manifests.
func fullManifest(r ri.Releaser) string {
	rel, ok := r.(*release.Release)
	if !ok || rel == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(rel.Manifest)
	for _, h := range rel.Hooks {
		if h != nil {
			b.WriteString("\n---\n")
			b.WriteString(h.Manifest)
		}
	}
	return b.String()
}
