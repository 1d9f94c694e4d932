// Command pinimage rewrites the runs.image line of an action.yml to pin the
// image a release published, by digest:
//
//	go run ./tools/pinimage -image ghcr.io/owner/repo -digest sha256:… action.yml
//
// The release workflow runs it on the release commit, so the tag's
// action.yml runs exactly the image built and attested for it.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	image := flag.String("image", "", "image name without tag, e.g. ghcr.io/owner/repo (lowercase)")
	digest := flag.String("digest", "", "image digest, sha256:<64 hex>")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: pinimage -image NAME -digest sha256:HEX ACTION_YML\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := pinFile(flag.Arg(0), *image, *digest); err != nil {
		fmt.Fprintln(os.Stderr, "pinimage:", err)
		os.Exit(1)
	}
}

func pinFile(path, image, digest string) error {
	in, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := Pin(in, image, digest)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, info.Mode().Perm())
}
