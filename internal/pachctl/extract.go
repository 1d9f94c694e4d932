package pachctl

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// maxListed bounds how many entry names an error quotes.
const maxListed = 5

// extract copies pachctl_<version>_linux_<arch>/pachctl out of the tar.gz
// archive into a new temporary file in dir and returns its path. It reads
// the archive as untrusted: entries that would escape the archive, links in
// place of the binary, and anything bigger than max are refused.
func extract(archive, version, arch, dir string, max int64) (string, error) {
	f, err := os.Open(archive)
	if err != nil {
		return "", err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return "", fmt.Errorf("not a gzip archive: %w", err)
	}
	defer gz.Close()
	// Bounding the decompressed stream stops a gzip bomb hidden in entries
	// that are skipped rather than copied.
	tr := tar.NewReader(io.LimitReader(gz, 2*max))

	want := fmt.Sprintf("pachctl_%s_linux_%s/pachctl", version, arch)
	var seen []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("read tar entry: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") || strings.Contains(hdr.Name, `\`) {
			return "", fmt.Errorf("%w: entry %q points outside the archive", ErrUnsafeArchive, hdr.Name)
		}
		if len(seen) < maxListed {
			seen = append(seen, name)
		}
		if name != want {
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			return "", fmt.Errorf("%w: %s is not a regular file (tar type %q)", ErrUnsafeArchive, want, hdr.Typeflag)
		}
		if hdr.Size > max {
			return "", fmt.Errorf("%w: %s is %d bytes, more than the %d allowed", ErrUnsafeArchive, want, hdr.Size, max)
		}
		return writeBinary(tr, dir, hdr.Size)
	}
	return "", fmt.Errorf("%w: no %s in the archive (it holds %s)", ErrNoPachctl, want, describe(seen))
}

func describe(names []string) string {
	if len(names) == 0 {
		return "nothing"
	}
	s := strings.Join(names, ", ")
	if len(names) == maxListed {
		s += ", …"
	}
	return s
}

func writeBinary(r io.Reader, dir string, size int64) (string, error) {
	out, err := os.CreateTemp(dir, ".pachctl-*")
	if err != nil {
		return "", err
	}
	n, err := io.Copy(out, io.LimitReader(r, size))
	if err == nil && n != size {
		err = fmt.Errorf("pachctl entry truncated: %d of %d bytes", n, size)
	}
	if err == nil {
		err = out.Chmod(0o755)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out.Name())
		return "", fmt.Errorf("write pachctl: %w", err)
	}
	return out.Name(), nil
}
