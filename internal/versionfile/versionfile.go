// Package versionfile reads and rewrites the Pachyderm version a repository
// pins: a plain file that holds only the version, or one key of a YAML file
// (`path/to/values.yaml#dotted.key`). A rewrite changes the version's bytes
// and nothing else, so comments, key order, quoting and blank lines survive
// and the pull request's diff is one line.
package versionfile

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/Masterminds/semver/v3"
	yaml "go.yaml.in/yaml/v3"

	"github.com/pach-upgrade/pach-upgrade/internal/version"
)

// Spec names where the version is pinned.
type Spec struct {
	// Path is the file's path in the repository, relative to its root.
	Path string
	// Key is the dotted path of a YAML key (`pachyderm.version`); empty
	// for a plain file.
	Key []string
}

// ParseSpec reads `path` or `path#dotted.key`.
func ParseSpec(s string) (Spec, error) {
	p, key, hasKey := strings.Cut(strings.TrimSpace(s), "#")
	clean := path.Clean(p)
	if p == "" || path.IsAbs(p) || clean == ".." || strings.HasPrefix(clean, "../") || strings.HasSuffix(p, "/") {
		return Spec{}, fmt.Errorf("%q is not a file path inside the repository", p)
	}
	spec := Spec{Path: clean}
	if hasKey {
		if key == "" {
			return Spec{}, errors.New("empty YAML key after '#'")
		}
		for _, k := range strings.Split(key, ".") {
			if k == "" {
				return Spec{}, fmt.Errorf("YAML key %q has an empty part", key)
			}
			spec.Key = append(spec.Key, k)
		}
	}
	return spec, nil
}

// String is the spec as the user writes it.
func (s Spec) String() string {
	if len(s.Key) == 0 {
		return s.Path
	}
	return s.Path + "#" + strings.Join(s.Key, ".")
}

// Read returns the version pinned in content.
func Read(s Spec, content []byte) (*semver.Version, error) {
	loc, err := locate(s, content)
	if err != nil {
		return nil, err
	}
	v, err := version.Parse(loc.value)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	return v, nil
}

// Write returns content with the pinned version replaced by v, keeping a
// leading "v" when the old pin had one. Every other byte is unchanged.
func Write(s Spec, content []byte, v *semver.Version) ([]byte, error) {
	loc, err := locate(s, content)
	if err != nil {
		return nil, err
	}
	if _, err := version.Parse(loc.value); err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	repl := v.String()
	if strings.HasPrefix(loc.value, "v") {
		repl = "v" + repl
	}
	out := make([]byte, 0, len(content)+len(repl))
	out = append(out, content[:loc.start]...)
	out = append(out, repl...)
	return append(out, content[loc.end:]...), nil
}

// location is where the version's text sits in the file, in bytes.
type location struct {
	value      string
	start, end int
}

func locate(s Spec, content []byte) (location, error) {
	if len(s.Key) == 0 {
		return locatePlain(s, content)
	}
	return locateYAML(s, content)
}

// locatePlain finds the version in a file that holds only it, around
// which whitespace (a trailing newline) is kept.
func locatePlain(s Spec, content []byte) (location, error) {
	trimmed := bytes.TrimSpace(content)
	if len(trimmed) == 0 {
		return location{}, fmt.Errorf("%s is empty: want a version such as 2.11.6", s)
	}
	if bytes.ContainsAny(trimmed, " \t\r\n") {
		return location{}, fmt.Errorf("%s holds more than a version: name the YAML key as %s#dotted.key, or keep only the version in the file", s, s.Path)
	}
	start := bytes.Index(content, trimmed)
	return location{value: string(trimmed), start: start, end: start + len(trimmed)}, nil
}

// locateYAML finds the scalar at the key through the YAML node tree, then
// maps its line and column back to bytes of the original text: re-encoding
// the tree would re-indent the file and drop its blank lines.
func locateYAML(s Spec, content []byte) (location, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return location{}, fmt.Errorf("%s: parse YAML: %w", s.Path, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return location{}, fmt.Errorf("%s: empty YAML document", s.Path)
	}
	// An alias or an anchor on the way makes the pin shared: rewriting it
	// would silently change every other place that aliases the same node.
	// A duplicate key makes it ambiguous: readers disagree on which wins.
	// Both are refused, naming the key.
	n := doc.Content[0]
	for i := 0; ; i++ {
		at := strings.Join(s.Key[:i], ".")
		if n.Kind == yaml.AliasNode {
			return location{}, fmt.Errorf("%s: %s is an alias (*%s, line %d): rewriting it would change every alias of &%s; write the version at %s itself",
				s, at, n.Value, n.Line, n.Value, strings.Join(s.Key, "."))
		}
		if n.Anchor != "" && i > 0 {
			return location{}, fmt.Errorf("%s: %s carries the anchor &%s (line %d): aliases of it would change with the pin; move the anchor off the version's path",
				s, at, n.Anchor, n.Line)
		}
		if i == len(s.Key) {
			break
		}
		k := s.Key[i]
		if n.Kind != yaml.MappingNode {
			return location{}, fmt.Errorf("%s: %s is not a mapping", s, at)
		}
		var next, first *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value != k {
				continue
			}
			if first != nil {
				return location{}, fmt.Errorf("%s: key %s appears twice (lines %d and %d): remove one",
					s, strings.Join(s.Key[:i+1], "."), first.Line, n.Content[j].Line)
			}
			first, next = n.Content[j], n.Content[j+1]
		}
		if next == nil {
			return location{}, fmt.Errorf("%s: no key %s", s, strings.Join(s.Key[:i+1], "."))
		}
		n = next
	}
	if n.Kind != yaml.ScalarNode {
		return location{}, fmt.Errorf("%s: the value is not a scalar: want a version such as 2.11.6", s)
	}
	start, err := offset(content, n.Line, n.Column)
	if err != nil {
		return location{}, fmt.Errorf("%s: %w", s, err)
	}
	if n.Style&yaml.TaggedStyle != 0 {
		return location{}, fmt.Errorf("%s: a tagged value cannot be rewritten in place", s)
	}
	quote := ""
	switch n.Style {
	case 0:
	case yaml.DoubleQuotedStyle:
		quote = `"`
	case yaml.SingleQuotedStyle:
		quote = "'"
	default:
		return location{}, fmt.Errorf("%s: a block scalar cannot be rewritten in place: write the version on the key's line", s)
	}
	raw := quote + n.Value + quote
	if !bytes.HasPrefix(content[start:], []byte(raw)) {
		return location{}, fmt.Errorf("%s: the value %q is not written plainly on one line", s, n.Value)
	}
	start += len(quote)
	return location{value: n.Value, start: start, end: start + len(n.Value)}, nil
}

// offset converts a 1-based line and column (counted in characters, as the
// YAML parser counts them) to a byte offset.
func offset(content []byte, line, col int) (int, error) {
	pos := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(content[pos:], '\n')
		if i < 0 {
			return 0, fmt.Errorf("line %d is past the end of the file", line)
		}
		pos += i + 1
	}
	for c := 1; c < col; c++ {
		if pos >= len(content) || content[pos] == '\n' {
			return 0, fmt.Errorf("column %d is past the end of line %d", col, line)
		}
		_, size := utf8.DecodeRune(content[pos:])
		pos += size
	}
	return pos, nil
}
