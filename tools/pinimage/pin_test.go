package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	image  = "ghcr.io/acme/pach-upgrade"
	digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	ref    = "'docker://" + image + "@" + digest + "'"
)

// TestPinProjectActionYML pins the project's own action.yml: only the
// runs.image line changes, and pinning again changes nothing.
func TestPinProjectActionYML(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("..", "..", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Pin(in, image, digest)
	if err != nil {
		t.Fatal(err)
	}
	inLines, outLines := strings.Split(string(in), "\n"), strings.Split(string(out), "\n")
	if len(inLines) != len(outLines) {
		t.Fatalf("line count %d → %d", len(inLines), len(outLines))
	}
	changed := 0
	for i := range inLines {
		if inLines[i] == outLines[i] {
			continue
		}
		changed++
		if strings.TrimSpace(outLines[i]) != "image: "+ref {
			t.Errorf("line %d rewritten to %q", i+1, outLines[i])
		}
	}
	if changed != 1 {
		t.Errorf("%d lines changed, want only runs.image", changed)
	}
	again, err := Pin(out, image, digest)
	if err != nil || !bytes.Equal(again, out) {
		t.Errorf("pinning twice is not idempotent (err %v):\n%s", err, again)
	}
}

func TestPinKeepsEverythingElse(t *testing.T) {
	cases := map[string]struct{ in, want string }{
		"plain":        {"name: x\nruns:\n  using: docker\n  image: Dockerfile\n", "name: x\nruns:\n  using: docker\n  image: " + ref + "\n"},
		"quoted, CRLF": {"runs:\r\n  using: 'docker'\r\n  image: \"Dockerfile\"  # built on @main\r\nfoo: 1\r\n", "runs:\r\n  using: 'docker'\r\n  image: " + ref + "  # built on @main\r\nfoo: 1\r\n"},
		"repin": {"runs:\n  using: docker\n  image: 'docker://ghcr.io/acme/pach-upgrade@sha256:" + strings.Repeat("f", 64) + "'\n  args: [image]\n",
			"runs:\n  using: docker\n  image: " + ref + "\n  args: [image]\n"},
		// An "image:" key elsewhere (an input's description, another section) is left alone.
		"other image keys": {"inputs:\n  image:\n    description: 'image: x'\nruns:\n  using: docker\n  image: Dockerfile\nimage: keep\n",
			"inputs:\n  image:\n    description: 'image: x'\nruns:\n  using: docker\n  image: " + ref + "\nimage: keep\n"},
	}
	for name, c := range cases {
		got, err := Pin([]byte(c.in), image, digest)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("%s:\ngot  %q\nwant %q", name, got, c.want)
		}
	}
}

func TestPinRefuses(t *testing.T) {
	good := "runs:\n  using: docker\n  image: Dockerfile\n"
	cases := map[string]struct{ in, image, digest, want string }{
		"short digest":      {good, image, "sha256:abc", "digest"},
		"uppercase digest":  {good, image, "sha256:" + strings.Repeat("A", 64), "digest"},
		"other algorithm":   {good, image, "sha512:" + strings.Repeat("a", 64), "digest"},
		"digest with space": {good, image, digest + " ", "digest"},
		"empty digest":      {good, image, "", "digest"},
		"image with tag":    {good, image + ":v1", digest, "image"},
		"uppercase image":   {good, "ghcr.io/Acme/pach-upgrade", digest, "image"},
		"image with digest": {good, image + "@" + digest, digest, "image"},
		"not docker":        {"runs:\n  using: node20\n  main: x.js\n", image, digest, "not a Docker action"},
		"no image":          {"runs:\n  using: docker\n", image, digest, "no runs.image"},
		"block scalar":      {"runs:\n  using: docker\n  image: >-\n    Dockerfile\n", image, digest, "block scalar"},
		"flow mapping":      {"runs: {using: docker, image: Dockerfile}\n", image, digest, "one-line"},
		"not YAML":          {"runs: [\n", image, digest, "parse"},
	}
	for name, c := range cases {
		out, err := Pin([]byte(c.in), c.image, c.digest)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %q, %v; want an error about %q", name, out, err, c.want)
		}
	}
}

func TestPinFileWritesInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "action.yml")
	if err := os.WriteFile(path, []byte("runs:\n  using: docker\n  image: Dockerfile\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := pinFile(path, image, "sha256:nope"); err == nil {
		t.Fatal("a bad digest was accepted")
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "image: Dockerfile") {
		t.Fatalf("a refused pin changed the file: %s", b)
	}
	if err := pinFile(path, image, digest); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "image: "+ref) {
		t.Fatalf("file not pinned: %s", b)
	}
}
