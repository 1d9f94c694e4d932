package helmrelease

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"sigs.k8s.io/yaml"
)

// segment is one step of a field path: a map key, a list element picked by
// its "name" (as Kubernetes merges containers, env, volumes), or a list index.
type segment struct {
	key   string
	name  string // [name=...] when named
	index int    // [i] when key and name are empty and named is false
	kind  segKind
}

type segKind int

const (
	segKey segKind = iota
	segName
	segIndex
)

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_/-]+$`)

// fieldPath renders segments the way the plan and the regenerate input spell
// them: spec.template.spec.containers[name=pachd].env[name=X].value, with
// keys that hold dots or other punctuation quoted: data["tls.crt"].
func fieldPath(segs []segment) string {
	var b strings.Builder
	for i, s := range segs {
		switch s.kind {
		case segKey:
			if plainKey.MatchString(s.key) {
				if i > 0 {
					b.WriteByte('.')
				}
				b.WriteString(s.key)
			} else {
				b.WriteString("[" + strconv.Quote(s.key) + "]")
			}
		case segName:
			b.WriteString("[name=" + s.name + "]")
		case segIndex:
			fmt.Fprintf(&b, "[%d]", s.index)
		}
	}
	return b.String()
}

// kyamlPath turns segments into a kyaml Lookup path.
func kyamlPath(segs []segment) []string {
	out := make([]string, 0, len(segs))
	for _, s := range segs {
		switch s.kind {
		case segKey:
			out = append(out, s.key)
		case segName:
			out = append(out, "[name="+s.name+"]")
		case segIndex:
			out = append(out, strconv.Itoa(s.index))
		}
	}
	return out
}

// leaf is one scalar field of a rendered object.
type leaf struct {
	segs  []segment
	value any // string, float64, bool or nil, as YAML decodes them
}

// object is one rendered Kubernetes object, flattened to its scalar fields.
type object struct {
	Kind, Namespace, Name string
	fields                map[string]leaf // by fieldPath
}

// id names the object in plans and in the regenerate input: Kind/name, with
// the namespace only when it is not the release's.
func (o *object) id(releaseNS string) string {
	if o.Namespace != "" && o.Namespace != releaseNS {
		return o.Kind + "/" + o.Namespace + "/" + o.Name
	}
	return o.Kind + "/" + o.Name
}

func (o *object) isSecret() bool { return o.Kind == "Secret" }

// objectKey pairs the same object across manifests; an object without a
// namespace is in the release's namespace.
func objectKey(kind, ns, name, releaseNS string) string {
	if ns == "" {
		ns = releaseNS
	}
	return kind + "/" + ns + "/" + name
}

// parseObjects splits a rendered manifest into flattened objects by key.
func parseObjects(manifest, releaseNS string) (map[string]*object, error) {
	out := map[string]*object{}
	for _, doc := range releaseutil.SplitManifests(manifest) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return nil, fmt.Errorf("parse rendered manifest: %w", err)
		}
		if m == nil {
			continue
		}
		kind, _ := m["kind"].(string)
		meta, _ := m["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		ns, _ := meta["namespace"].(string)
		o := &object{Kind: kind, Namespace: ns, Name: name, fields: map[string]leaf{}}
		flatten(m, nil, o.fields)
		out[objectKey(kind, ns, name, releaseNS)] = o
	}
	return out, nil
}

func flatten(v any, segs []segment, out map[string]leaf) {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			flatten(val, appendSeg(segs, segment{kind: segKey, key: k}), out)
		}
	case []any:
		named := len(t) > 0
		seen := map[string]bool{}
		for _, e := range t {
			m, ok := e.(map[string]any)
			n, isStr := m["name"].(string)
			if !ok || !isStr || seen[n] || strings.ContainsAny(n, "[]=") {
				named = false
				break
			}
			seen[n] = true
		}
		for i, e := range t {
			s := segment{kind: segIndex, index: i}
			if named {
				s = segment{kind: segName, name: e.(map[string]any)["name"].(string)}
			}
			flatten(e, appendSeg(segs, s), out)
		}
	default:
		out[fieldPath(segs)] = leaf{segs: segs, value: v}
	}
}

func appendSeg(segs []segment, s segment) []segment {
	out := make([]segment, len(segs), len(segs)+1)
	copy(out, segs)
	return append(out, s)
}

// text is a field's value as compared and carried: a Secret's data is
// base64-decoded, so data and stringData compare alike.
func (o *object) text(path string) (string, bool) {
	l, ok := o.fields[path]
	if !ok {
		return "", false
	}
	s, isStr := l.value.(string)
	if !isStr {
		if l.value == nil {
			return "", true // a null compares as empty, as Kubernetes reads it
		}
		return fmt.Sprint(l.value), true
	}
	if o.isSecret() && strings.HasPrefix(path, "data") {
		if dec, err := base64.StdEncoding.DecodeString(s); err == nil {
			return string(dec), true
		}
	}
	return s, true
}

// liveText finds path in the live object; for a Secret, a key the target
// renders under data may live under stringData, or the reverse.
func (o *object) liveText(path string) (string, bool) {
	if v, ok := o.text(path); ok {
		return v, true
	}
	if !o.isSecret() {
		return "", false
	}
	for _, swap := range [][2]string{{"data", "stringData"}, {"stringData", "data"}} {
		if rest, ok := strings.CutPrefix(path, swap[0]); ok && (strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, "[")) {
			if v, ok := o.text(swap[1] + rest); ok {
				return v, true
			}
		}
	}
	return "", false
}

// sortedKeys returns m's keys in order, for stable output.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
