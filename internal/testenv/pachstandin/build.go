// Package pachstandin provides stand-ins for pachctl and pachd, which cannot
// be built here: a pachctl release asset laid out like the real one, a local
// release server for it, and a pachd serving the real version API whose answer
// can come from the pachd pods actually Ready in a cluster. Tests and the demo
// use them so that installing pachctl and verifying versions run for real.
package pachstandin

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// modulePath identifies this repository's go.mod when looking for the source
// of the stand-in pachctl.
const modulePath = "github.com/pach-upgrade/pach-upgrade"

// standinPackage is the stand-in pachctl's package, relative to the module root.
const standinPackage = "./testdata/pachctl-standin"

// Asset is a packed pachctl release archive.
type Asset struct {
	// Version is the release the asset belongs to (without a leading v).
	Version string
	// Arch is the Go architecture (amd64, arm64).
	Arch string
	// Name is the release asset's file name: pachctl_<v>_linux_<arch>.tar.gz.
	Name string
	// Path is where the archive was written.
	Path string
	// SHA256 is the hex SHA-256 of the archive, as a user would pin it.
	SHA256 string
}

// AssetName is the real release asset name for pachctl on Linux.
func AssetName(version, arch string) string {
	return fmt.Sprintf("pachctl_%s_linux_%s.tar.gz", version, arch)
}

// ArchiveDir is the directory every real pachctl archive wraps its files in.
func ArchiveDir(version, arch string) string {
	return fmt.Sprintf("pachctl_%s_linux_%s", version, arch)
}

// BuildPachctl builds the stand-in pachctl reporting version for linux/goarch
// and packs it into outDir as the real release asset would be.
func BuildPachctl(ctx context.Context, version, goarch, outDir string) (Asset, error) {
	data, err := builtBinary(ctx, version, goarch, outDir)
	if err != nil {
		return Asset{}, err
	}
	return PackAsset(version, goarch, outDir, []File{{Name: ArchiveDir(version, goarch) + "/pachctl", Data: data, Mode: 0o755}})
}

// built keeps each stand-in binary this process compiled. Every end-to-end scenario publishes
// the same few versions, and relinking them each time was most of a scenario's setup.
var built sync.Map // "version/arch" → []byte

func builtBinary(ctx context.Context, version, goarch, dir string) ([]byte, error) {
	key := version + "/" + goarch
	if b, ok := built.Load(key); ok {
		return b.([]byte), nil
	}
	bin := filepath.Join(dir, "pachctl-"+version+"-"+goarch)
	if err := BuildBinary(ctx, version, goarch, bin); err != nil {
		return nil, err
	}
	defer os.Remove(bin)
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("read built pachctl: %w", err)
	}
	built.Store(key, data)
	return data, nil
}

// BuildBinary compiles the stand-in pachctl with its client version set to
// clientVersion, for linux/goarch, to outPath.
func BuildBinary(ctx context.Context, clientVersion, goarch, outPath string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags", "-s -w -X main.version="+clientVersion,
		"-o", outPath, standinPackage)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build stand-in pachctl %s for %s: %w\n%s", clientVersion, goarch, err, out)
	}
	return nil
}

// File is one entry of a packed archive. Tests use odd names and contents to
// build broken or hostile archives.
type File struct {
	Name string
	Data []byte
	Mode int64
	// Type is the tar entry type; zero means a regular file.
	Type byte
	// Linkname is the target of a symlink or hard link entry.
	Linkname string
}

// PackAsset writes files as the gzipped tar release asset of version/arch in
// outDir and returns it with its SHA-256.
func PackAsset(version, arch, outDir string, files []File) (Asset, error) {
	var buf bytes.Buffer
	// Fastest compression: tests pack many archives, and the size matters little.
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return Asset{}, fmt.Errorf("pack archive: %w", err)
	}
	tw := tar.NewWriter(gz)
	for _, f := range files {
		typ := f.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Name: f.Name, Mode: f.Mode, Typeflag: typ, Linkname: f.Linkname, Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(f.Data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return Asset{}, fmt.Errorf("pack %s: %w", f.Name, err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				return Asset{}, fmt.Errorf("pack %s: %w", f.Name, err)
			}
		}
	}
	if err := errors.Join(tw.Close(), gz.Close()); err != nil {
		return Asset{}, fmt.Errorf("pack archive: %w", err)
	}
	a := Asset{Version: version, Arch: arch, Name: AssetName(version, arch)}
	a.Path = filepath.Join(outDir, a.Name)
	if err := os.WriteFile(a.Path, buf.Bytes(), 0o644); err != nil {
		return Asset{}, fmt.Errorf("write %s: %w", a.Name, err)
	}
	sum := sha256.Sum256(buf.Bytes())
	a.SHA256 = hex.EncodeToString(sum[:])
	return a, nil
}

// ModuleRoot finds this repository's root by walking up from the working
// directory, so tests (run from their package directory) and the demo (run
// from the root) both find the stand-in's source.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if isThisModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find module root: no go.mod of %s above the working directory", modulePath)
		}
		dir = parent
	}
}

func isThisModule(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" {
			return fields[1] == modulePath
		}
	}
	return false
}
