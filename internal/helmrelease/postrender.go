package helmrelease

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"

	"helm.sh/helm/v4/pkg/postrenderer"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"sigs.k8s.io/kustomize/kyaml/kio"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// patch writes one carried value into one field of the rendered manifest.
type patch struct {
	kind, ns, name string
	segs           []segment
	value          string // as the field holds it (base64 under a Secret's data)
}

// newPatch carries the live value v (decoded) into path of the target object.
func newPatch(o *object, path, v string) patch {
	if o.isSecret() && strings.HasPrefix(path, "data") {
		v = base64.StdEncoding.EncodeToString([]byte(v))
	}
	return patch{kind: o.Kind, ns: o.Namespace, name: o.Name, segs: o.fields[path].segs, value: v}
}

// PostRenderer returns the Helm post-renderer that writes the carried values
// no values key can set, or nil when there are none.
func (c *Carry) PostRenderer() postrenderer.PostRenderer {
	if c == nil || len(c.patches) == 0 {
		return nil
	}
	return &carryRenderer{patches: c.patches}
}

// carryRenderer patches fields of the rendered stream in place: only the
// scalar's text changes, so the rest of each object stays as rendered.
type carryRenderer struct {
	patches []patch
}

func (p *carryRenderer) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	nodes, err := kio.ParseAll(in.String())
	if err != nil {
		return nil, fmt.Errorf("carry generated values: parse rendered manifests: %w", err)
	}
	done := make([]bool, len(p.patches))
	for _, n := range nodes {
		meta, err := n.GetMeta()
		if err != nil {
			continue
		}
		for i, pt := range p.patches {
			if meta.Kind != pt.kind || meta.Name != pt.name || meta.Namespace != pt.ns {
				continue
			}
			field, err := n.Pipe(kyaml.Lookup(kyamlPath(pt.segs)...))
			if err != nil || field == nil || field.YNode().Kind != kyaml.ScalarNode {
				return nil, fmt.Errorf("carry generated values: %s/%s has no field %s", pt.kind, pt.name, fieldPath(pt.segs))
			}
			y := field.YNode()
			y.Value, y.Tag = pt.value, kyaml.NodeTagString
			done[i] = true
		}
	}
	for i, d := range done {
		if !d {
			pt := p.patches[i]
			return nil, fmt.Errorf("carry generated values: %s/%s not rendered", pt.kind, pt.name)
		}
	}
	out, err := kio.StringAll(nodes)
	if err != nil {
		return nil, fmt.Errorf("carry generated values: write manifests: %w", err)
	}
	return bytes.NewBufferString(out), nil
}

// normalizeManifest writes every object of manifest the way Helm writes
// post-rendered ones (through kyaml), so that a plan diffing a manifest
// rendered without a post-renderer against one rendered with it shows only
// what changed, not how the YAML was laid out. It returns manifest as it is
// when it does not parse.
func normalizeManifest(manifest string) string {
	var b strings.Builder
	for _, doc := range releaseutil.SplitManifests(manifest) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		nodes, err := kio.ParseAll(doc)
		if err != nil {
			return manifest
		}
		out, err := kio.StringAll(nodes)
		if err != nil {
			return manifest
		}
		b.WriteString("---\n")
		b.WriteString(sourceComment(doc))
		b.WriteString(out)
	}
	return b.String()
}
