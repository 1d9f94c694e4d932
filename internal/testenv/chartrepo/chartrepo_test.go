package chartrepo

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return b
}

func TestServeIndexesVersionsWithDigests(t *testing.T) {
	r := Serve(t, Chart{Version: "1.0.0", AppVersion: "2.11.5"}, Chart{Version: "1.0.1", AppVersion: "2.11.6"})
	if !strings.HasPrefix(r.URL, "http://127.0.0.1:") {
		t.Fatalf("repository URL %s is not on loopback", r.URL)
	}
	idxPath := filepath.Join(t.TempDir(), "index.yaml")
	if err := os.WriteFile(idxPath, get(t, r.URL+"/index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	idx, err := repo.LoadIndexFile(idxPath)
	if err != nil {
		t.Fatalf("served index does not load: %v", err)
	}
	for version, app := range map[string]string{"1.0.0": "2.11.5", "1.0.1": "2.11.6"} {
		cv, err := idx.Get(ChartName, version)
		if err != nil {
			t.Fatalf("index lacks %s: %v", version, err)
		}
		if cv.AppVersion != app {
			t.Errorf("chart %s: appVersion %q, want %q", version, cv.AppVersion, app)
		}
		archive := get(t, r.URL+"/"+cv.URLs[0])
		sum := sha256.Sum256(archive)
		if got := hex.EncodeToString(sum[:]); got != cv.Digest {
			t.Errorf("chart %s: archive digest %s, index says %s", version, got, cv.Digest)
		}
	}
}

func TestNewServesExistingIndexUntouched(t *testing.T) {
	dir := t.TempDir()
	if err := Build(dir, Chart{Version: "3.0.0", AppVersion: "2.11.4"}); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, "index.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r := ServeDir(t, dir)
	if got := get(t, r.URL+"/index.yaml"); string(got) != string(before) {
		t.Fatal("served index differs from the folder's index.yaml")
	}
}

func TestBuildRefusesNoVersions(t *testing.T) {
	if err := Build(t.TempDir()); err == nil {
		t.Fatal("Build with no chart versions succeeded")
	}
}

// render renders the packaged test chart like Helm would for an install.
func render(t *testing.T, version, app string, vals map[string]any) (map[string]string, error) {
	t.Helper()
	path, err := Package(mustFindChart(t), t.TempDir(), Chart{Version: version, AppVersion: app})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := loader.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	values, err := chartutil.ToRenderValues(ch, vals, common.ReleaseOptions{Name: "pachd", Namespace: "ns", IsInstall: true}, common.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	return engine.Render(ch, values)
}

func mustFindChart(t *testing.T) string {
	t.Helper()
	src, err := FindChart()
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestChartShape(t *testing.T) {
	out, err := render(t, "1.0.1", "2.11.6", map[string]any{
		"deployTarget": "LOCAL",
		"pachd":        map[string]any{"podAnnotations": map[string]any{"pach-upgrade.test/never-ready": "true"}},
	})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	all := ""
	for _, v := range out {
		all += v + "\n"
	}
	for _, want := range []string{
		"image: \"pachyderm/pachd:2.11.6\"", // tag follows appVersion, not the chart version
		"kind: StatefulSet\nmetadata:\n  name: etcd",
		"kind: StatefulSet\nmetadata:\n  name: postgres",
		"volumeClaimTemplates:",
		"name: pg-bouncer",
		"name: console",
		"port: 30650",
		"postgresql-password:",
		"postgresql-postgres-password:",
		"pach-upgrade.test/never-ready: \"true\"",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("rendered chart lacks %q", want)
		}
	}
	if strings.Count(all, "volumeClaimTemplates:") != 2 {
		t.Errorf("want volume claim templates on etcd and postgres, got %d", strings.Count(all, "volumeClaimTemplates:"))
	}
}

func TestChartValueHooks(t *testing.T) {
	out, err := render(t, "1.0.0", "2.11.5", map[string]any{
		"deployTarget": "LOCAL",
		"pachd":        map[string]any{"image": map[string]any{"tag": "9.9.9"}},
		"console":      map[string]any{"enabled": false},
		"postgresql":   map[string]any{"enabled": false},
	})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	all := ""
	for _, v := range out {
		all += v
	}
	if !strings.Contains(all, "pachyderm/pachd:9.9.9") {
		t.Error("pachd.image.tag does not override the image tag")
	}
	if strings.Contains(all, "name: console") {
		t.Error("console.enabled=false still renders the console")
	}
	if strings.Contains(all, "postgresql-postgres-password") || strings.Contains(all, "kind: StatefulSet\nmetadata:\n  name: postgres\n") {
		t.Error("postgresql.enabled=false still renders the built-in PostgreSQL")
	}
	// As the real chart: an external database's password goes into Secret postgres, from
	// global.postgresql.postgresqlPassword, unless an existing Secret is named.
	if !strings.Contains(all, "kind: Secret\nmetadata:\n  name: postgres\n") {
		t.Error("postgresql.enabled=false renders no Secret postgres for the external database's password")
	}
}

func TestChartRequiresDeployTarget(t *testing.T) {
	if _, err := render(t, "1.0.0", "2.11.5", nil); err == nil || !strings.Contains(err.Error(), "deployTarget") {
		t.Fatalf("render without deployTarget: err = %v, want one naming deployTarget", err)
	}
}

func TestFaults(t *testing.T) {
	r := Serve(t, Chart{Version: "1.0.0", AppVersion: "2.11.5"})
	archive := get(t, r.URL+"/pachyderm-1.0.0.tgz")

	r.Fail("pachyderm-1.0.0.tgz", FaultNotFound)
	resp, err := http.Get(r.URL + "/pachyderm-1.0.0.tgz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("not-found fault: %s", resp.Status)
	}

	r.Fail("pachyderm-1.0.0.tgz", FaultTruncated)
	resp, err = http.Get(r.URL + "/pachyderm-1.0.0.tgz")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || len(b) >= len(archive) || resp.ContentLength != int64(len(archive)) {
		t.Errorf("truncated fault: read %d of %d bytes (Content-Length %d), err %v; want a short read error",
			len(b), len(archive), resp.ContentLength, err)
	}

	r.Fail("pachyderm-1.0.0.tgz", FaultOtherBytes)
	if b := get(t, r.URL+"/pachyderm-1.0.0.tgz"); len(b) != len(archive) || string(b) == string(archive) {
		t.Errorf("other-bytes fault served %d bytes, same content: %v", len(b), string(b) == string(archive))
	}

	r.Fail("/index.yaml", FaultHTML)
	if b := get(t, r.URL+"/index.yaml"); !strings.Contains(string(b), "<html>") {
		t.Errorf("html fault served %q", b)
	}

	r.Fail("pachyderm-1.0.0.tgz", "")
	r.Fail("index.yaml", "")
	if b := get(t, r.URL+"/pachyderm-1.0.0.tgz"); string(b) != string(archive) {
		t.Error("archive not served again after clearing the fault")
	}
	if b := get(t, r.URL+"/index.yaml"); !strings.Contains(string(b), "apiVersion") {
		t.Error("index not served again after clearing the fault")
	}
}
