package helmrelease

import (
	"fmt"
	"sort"
	"strings"

	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"sigs.k8s.io/yaml"

	"github.com/pach-upgrade/pach-upgrade/internal/redact"
)

// Markers put in place of Secret values: the project's one set (package redact). They tell
// a reviewer whether a value changes without revealing it, or anything derived from it (a
// hash of a short password can be brute-forced).
const (
	redacted        = redact.Marker
	redactedChanged = redact.Changed
	redactedAdded   = redact.Added
)

// manifestDoc is one object of a rendered manifest.
type manifestDoc struct {
	id   string // kind/namespace/name, for stable ordering and pairing
	text string
}

// splitManifest splits a rendered manifest into objects in a stable order.
func splitManifest(manifest string) ([]manifestDoc, error) {
	var docs []manifestDoc
	for _, doc := range releaseutil.SplitManifests(manifest) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return nil, fmt.Errorf("parse rendered manifest: %w", err)
		}
		docs = append(docs, manifestDoc{
			id:   head.Kind + "/" + head.Metadata.Namespace + "/" + head.Metadata.Name,
			text: strings.TrimSpace(doc),
		})
	}
	sort.SliceStable(docs, func(i, j int) bool { return docs[i].id < docs[j].id })
	return docs, nil
}

// secretValues returns the data and stringData of a Secret document, or nil when doc is
// not a Secret.
func secretValues(doc string) (obj map[string]any, isSecret bool, err error) {
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		return nil, false, fmt.Errorf("parse rendered manifest: %w", err)
	}
	kind, _ := obj["kind"].(string)
	return obj, kind == "Secret", nil
}

// redactManifests returns both manifests with every Secret's data and stringData values
// replaced by markers; in proposed, a marker also says whether the value differs from the
// same key of the same Secret in current.
func redactManifests(current, proposed string) (string, string, error) {
	curDocs, err := splitManifest(current)
	if err != nil {
		return "", "", err
	}
	newDocs, err := splitManifest(proposed)
	if err != nil {
		return "", "", err
	}
	curSecrets := map[string]map[string]any{}
	for _, d := range curDocs {
		obj, ok, err := secretValues(d.text)
		if err != nil {
			return "", "", err
		}
		if ok {
			curSecrets[d.id] = obj
		}
	}
	curOut, err := renderRedacted(curDocs, nil)
	if err != nil {
		return "", "", err
	}
	newOut, err := renderRedacted(newDocs, curSecrets)
	if err != nil {
		return "", "", err
	}
	return curOut, newOut, nil
}

// renderRedacted writes docs back out, Secrets redacted. With previous == nil every value
// becomes the plain marker.
func renderRedacted(docs []manifestDoc, previous map[string]map[string]any) (string, error) {
	var b strings.Builder
	for _, d := range docs {
		obj, isSecret, err := secretValues(d.text)
		if err != nil {
			return "", err
		}
		text := d.text
		if isSecret {
			var before map[string]any
			if previous != nil {
				before = previous[d.id]
			}
			for _, field := range []string{"data", "stringData"} {
				values, _ := obj[field].(map[string]any)
				var old map[string]any
				if before != nil {
					old, _ = before[field].(map[string]any)
				}
				for k, v := range values {
					values[k] = marker(previous != nil, old, k, v)
				}
			}
			out, err := yaml.Marshal(obj)
			if err != nil {
				return "", fmt.Errorf("write redacted Secret %s: %w", d.id, err)
			}
			text = sourceComment(d.text) + strings.TrimSpace(string(out))
		}
		b.WriteString("---\n")
		b.WriteString(text)
		b.WriteString("\n")
	}
	return b.String(), nil
}

func marker(compare bool, old map[string]any, key string, value any) string {
	if !compare {
		return redacted
	}
	prev, ok := old[key]
	switch {
	case !ok:
		return redactedAdded
	case fmt.Sprint(prev) != fmt.Sprint(value):
		return redactedChanged
	default:
		return redacted
	}
}

// sourceComment keeps Helm's "# Source: chart/templates/x.yaml" line, which re-marshalling
// would drop, so the diff still names the template.
func sourceComment(doc string) string {
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "# Source:") {
			return line + "\n"
		}
	}
	return ""
}

// RedactManifest returns manifest with the values of every Secret's data and
// stringData replaced by a marker, for snapshots and reports.
func RedactManifest(manifest string) (string, error) {
	docs, err := splitManifest(manifest)
	if err != nil {
		return "", err
	}
	return renderRedacted(docs, nil)
}
