package helmrelease

import (
	"fmt"
	"strings"
	"text/template"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/engine"
)

// What the plan may read. A plan is published: to the job summary, the PR
// comment and the bump PR body, where people who hold no cluster credential
// read it, and its values may come from the pull request under review. Its
// render runs Helm's server dry run, whose `lookup` reads the cluster; a
// chart that `tpl`s a value (the real chart does, e.g. loki-stack's URL)
// would run `{{ lookup "v1" "Secret" … }}` written in a PR's values and put
// the Secret into the manifest diff. So the plan's render sees the cluster
// as apply does, except that every lookup of a Secret finds nothing, as if
// it did not exist; the chart's own lookups (a Service) are unchanged.
// Apply renders with the real lookup: it publishes no manifest.

// planConfig is the Helm configuration for the plan's render: c's, with a
// lookup that sees no Secrets.
func (c *Client) planConfig() (*action.Configuration, error) {
	rc, err := c.cfg.RESTClientGetter.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("plan: REST config: %w", err)
	}
	cfg := c.configWith(c.cfg.Releases)
	if cfg.CustomTemplateFuncs == nil {
		cfg.CustomTemplateFuncs = template.FuncMap{}
	}
	// Helm adds custom functions after its own, so this one replaces lookup.
	cfg.CustomTemplateFuncs["lookup"] = secretlessLookup(engine.NewLookupFunction(rc))
	return cfg, nil
}

// secretlessLookup is lookup that answers an empty object for every Secret
// (and an empty list for a list of them), as Helm answers for an object
// that does not exist.
func secretlessLookup(lookup func(apiVersion, kind, namespace, name string) (map[string]any, error)) func(apiVersion, kind, namespace, name string) (map[string]any, error) {
	return func(apiVersion, kind, namespace, name string) (map[string]any, error) {
		if isSecretKind(kind) {
			return map[string]any{}, nil
		}
		return lookup(apiVersion, kind, namespace, name)
	}
}

func isSecretKind(kind string) bool {
	k := strings.ToLower(strings.TrimSpace(kind))
	return k == "secret" || k == "secrets" || k == "secretlist"
}
