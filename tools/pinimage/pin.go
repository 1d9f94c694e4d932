package main

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"

	yaml "go.yaml.in/yaml/v3"
)

var (
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	// imageRE is a lowercase image name without tag or digest: a registry
	// host (with an optional port) and at least one path component.
	imageRE = regexp.MustCompile(`^[a-z0-9]+([.-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+$`)
	// imageLineRE is a `image: value` line with a plain or quoted value and
	// an optional comment.
	imageLineRE = regexp.MustCompile(`^(\s*image:[ \t]*)('[^']*'|"[^"]*"|[^\s#'"]+)([ \t]*(#.*)?)$`)
)

// Pin returns action (an action.yml) with runs.image pointing at image by
// digest, as `docker://image@digest`. Only that line changes; everything
// else, comments included, is kept byte for byte. Pinning a file already
// pinned to the same reference returns it unchanged.
func Pin(action []byte, image, digest string) ([]byte, error) {
	if !digestRE.MatchString(digest) {
		return nil, fmt.Errorf("digest %q: want sha256: and 64 lowercase hex digits", digest)
	}
	if !imageRE.MatchString(image) {
		return nil, fmt.Errorf("image %q: want a lowercase name like ghcr.io/owner/repo, without tag or digest", image)
	}
	ref := "docker://" + image + "@" + digest

	line, err := imageLine(action)
	if err != nil {
		return nil, err
	}
	lines := bytes.SplitAfter(action, []byte("\n"))
	text := string(bytes.TrimRight(lines[line-1], "\r\n"))
	eol := lines[line-1][len(text):]
	m := imageLineRE.FindStringSubmatch(text)
	if m == nil {
		return nil, fmt.Errorf("line %d: runs.image is not a one-line `image: value`: %q", line, text)
	}
	lines[line-1] = append([]byte(m[1]+"'"+ref+"'"+m[3]), eol...)
	out := bytes.Join(lines, nil)

	// The rewrite must leave a file whose runs.image is exactly ref.
	var got actionFile
	if err := yaml.Unmarshal(out, &got); err != nil || got.Runs.Image != ref {
		return nil, fmt.Errorf("rewriting line %d did not give runs.image %q (got %q, %v)", line, ref, got.Runs.Image, err)
	}
	return out, nil
}

type actionFile struct {
	Runs struct {
		Using string `yaml:"using"`
		Image string `yaml:"image"`
	} `yaml:"runs"`
}

// imageLine finds the line of runs.image in a Docker action.
func imageLine(action []byte) (int, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(action, &doc); err != nil {
		return 0, fmt.Errorf("parse action.yml: %w", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return 0, errors.New("action.yml is not a YAML mapping")
	}
	runs := value(doc.Content[0], "runs")
	if runs == nil || runs.Kind != yaml.MappingNode {
		return 0, errors.New("action.yml has no runs section")
	}
	if using := value(runs, "using"); using == nil || using.Value != "docker" {
		return 0, errors.New("action.yml is not a Docker action (runs.using is not docker)")
	}
	image := value(runs, "image")
	if image == nil || image.Kind != yaml.ScalarNode {
		return 0, errors.New("action.yml has no runs.image")
	}
	if image.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return 0, errors.New("runs.image is a block scalar; write it on one line")
	}
	return image.Line, nil
}

// value returns the value of key in mapping m, nil when absent.
func value(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
