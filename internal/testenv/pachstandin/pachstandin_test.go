package pachstandin_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin"
)

// buildStandin builds the stand-in release asset once per test and returns
// it with the pachctl binary it holds, extracted.
func buildStandin(t *testing.T, version string) (pachstandin.Asset, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	a, err := pachstandin.BuildPachctl(ctx, version, runtime.GOARCH, dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if a.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("asset SHA-256 %s, file hashes to %x", a.SHA256, sum)
	}
	wantName := "pachctl_" + version + "_linux_" + runtime.GOARCH + ".tar.gz"
	if a.Name != wantName || filepath.Base(a.Path) != wantName {
		t.Errorf("asset %s at %s, want %s", a.Name, a.Path, wantName)
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	bin := filepath.Join(dir, "pachctl")
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, body, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	want := "pachctl_" + version + "_linux_" + runtime.GOARCH + "/pachctl"
	if len(names) != 1 || names[0] != want {
		t.Fatalf("archive holds %v, want exactly %s as the real release", names, want)
	}
	return a, bin
}

func pachctl(t *testing.T, bin, pachdAddress string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	// Like the real pachctl, the stand-in writes a config file on first use:
	// keep it out of the user's home.
	cmd.Env = append(os.Environ(), "PACHD_ADDRESS="+pachdAddress, "PACH_CONFIG="+filepath.Join(t.TempDir(), "config.json"))
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	if err != nil {
		return out.String(), errors.New(err.Error() + ": " + stderr.String())
	}
	return out.String(), nil
}

func TestStandinPachctlTalksToStandinPachd(t *testing.T) {
	_, bin := buildStandin(t, "2.11.6-rc.1")

	var serving atomic.Value
	serving.Store("2.11.5")
	ctx, cancel := context.WithCancel(t.Context())
	pachd, err := pachstandin.ServePachd(ctx, func(context.Context) (string, error) {
		v := serving.Load().(string)
		if v == "" {
			return "", errors.New("starting")
		}
		return v, nil
	})
	if err != nil {
		t.Fatal(err)
	}

	out, err := pachctl(t, bin, pachd.Address, "version", "--client-only")
	if err != nil || out != "2.11.6-rc.1\n" {
		t.Errorf("version --client-only = %q, %v", out, err)
	}

	out, err = pachctl(t, bin, pachd.Address, "version")
	wantTable := "COMPONENT           VERSION             \npachctl             2.11.6-rc.1         \npachd               2.11.5              \n"
	if err != nil || out != wantTable {
		t.Errorf("version = %q, %v; want %q", out, err, wantTable)
	}

	out, err = pachctl(t, bin, pachd.Address, "version", "--raw", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	var msgs []map[string]any
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("decode %q: %v", out, err)
		}
		msgs = append(msgs, m)
	}
	if len(msgs) != 2 || msgs[0]["minor"] != 11.0 || msgs[0]["micro"] != 6.0 || msgs[0]["additional"] != "-rc.1" ||
		msgs[1]["micro"] != 5.0 || msgs[1]["additional"] != nil {
		t.Errorf("raw JSON = %v, want client 2.11.6-rc.1 then server 2.11.5", msgs)
	}

	serving.Store("")
	if out, err := pachctl(t, bin, pachd.Address, "version"); err == nil || !strings.Contains(err.Error(), "Unavailable") {
		t.Errorf("version against a starting pachd = %q, %v; want Unavailable", out, err)
	}
	if pachd.Calls() != 3 {
		t.Errorf("pachd saw %d calls, want 3", pachd.Calls())
	}

	cancel()
	select {
	case <-pachd.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("pachd stand-in did not stop with its context")
	}
	if _, err := pachctl(t, bin, pachd.Address, "version", "--timeout", "1s"); err == nil {
		t.Error("pachctl reached a stopped pachd")
	}
}

func TestReleaseServer(t *testing.T) {
	srv := pachstandin.NewReleaseServer()
	defer srv.Close()
	a, err := pachstandin.PackAsset("2.11.6", "amd64", t.TempDir(), []pachstandin.File{{Name: "pachctl_2.11.6_linux_amd64/pachctl", Data: []byte("binary"), Mode: 0o755}})
	if err != nil {
		t.Fatal(err)
	}
	url := srv.AssetURL(a)
	if want := strings.NewReplacer("{version}", "2.11.6", "{arch}", "amd64").Replace(srv.URLTemplate()); url != want {
		t.Errorf("AssetURL %s, template expands to %s", url, want)
	}
	if !strings.HasSuffix(url, "/pachyderm/pachyderm/releases/download/v2.11.6/pachctl_2.11.6_linux_amd64.tar.gz") {
		t.Errorf("AssetURL %s does not follow the real layout", url)
	}
	get := func(u string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	if code, _ := get(url); code != http.StatusNotFound {
		t.Errorf("unpublished asset: %d, want 404", code)
	}
	if err := srv.Add(a); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(a.Path)
	srv.FailNext(a, 503, 500)
	for _, code := range []int{503, 500, 200} {
		if got, _ := get(url); got != code {
			t.Errorf("status %d, want %d", got, code)
		}
	}
	srv.Corrupt(a, true)
	if _, body := get(url); bytes.Equal(body, want) || len(body) != len(want) {
		t.Error("corrupted asset served intact")
	}
	srv.Corrupt(a, false)
	if _, body := get(url); !bytes.Equal(body, want) {
		t.Error("asset not served intact")
	}
	if code, _ := get(srv.URL() + "/pachyderm/pachyderm/releases/download/v2.11.6/../../../../etc/passwd"); code != http.StatusNotFound {
		t.Errorf("path outside the releases: %d, want 404", code)
	}
	if d, err := srv.Digest(t.Context(), "2.11.6", a.Name); err != nil || d != "sha256:"+a.SHA256 {
		t.Errorf("Digest = %q, %v; want sha256:%s", d, err, a.SHA256)
	}
	if _, err := srv.Digest(t.Context(), "2.11.7", a.Name); err == nil {
		t.Error("Digest of an unpublished release succeeded")
	}
	if srv.Requests(a) != 6 || srv.TotalRequests() != 7 {
		t.Errorf("counted %d requests for the asset, %d in all; want 6 and 7", srv.Requests(a), srv.TotalRequests())
	}
}

func TestImageTag(t *testing.T) {
	for image, want := range map[string]string{
		"pachyderm/pachd:2.11.6":                                   "2.11.6",
		"registry.example/pachyderm/pachd:v2.11.6":                 "v2.11.6",
		"registry.local:5000/pachyderm/pachd:2.11.6-rc.1":          "2.11.6-rc.1",
		"pachyderm/pachd:2.11.6@sha256:" + strings.Repeat("a", 64): "2.11.6",
		"registry.local:5000/pachyderm/pachd":                      "",
		"pachyderm/pachd":                                          "",
		"pachyderm/pachd:":                                         "",
	} {
		got, ok := pachstandin.ImageTag(image)
		if got != want || ok != (want != "") {
			t.Errorf("ImageTag(%q) = %q, %v; want %q", image, got, ok, want)
		}
	}
}

func TestPublishServesBuiltAssets(t *testing.T) {
	srv := pachstandin.NewReleaseServer()
	defer srv.Close()
	// The running architecture shares the build cache with the other tests;
	// another one would compile all of gRPC again.
	assets, err := srv.Publish(t.Context(), t.TempDir(), runtime.GOARCH, "2.11.4")
	if err != nil {
		t.Fatal(err)
	}
	if len(assets) != 1 || assets[0].Name != "pachctl_2.11.4_linux_"+runtime.GOARCH+".tar.gz" {
		t.Fatalf("published %+v", assets)
	}
	resp, err := http.Get(srv.AssetURL(assets[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", srv.AssetURL(assets[0]), resp.StatusCode, err)
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != assets[0].SHA256 {
		t.Errorf("served bytes hash to %x, asset says %s", sum, assets[0].SHA256)
	}
}
