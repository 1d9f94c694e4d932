package helmrelease

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
)

// gzipLevelByte is the XFL byte of a gzip header: 2 for the best compression, 4 for the
// fastest (RFC 1952), which is how Go's writer marks BestCompression and BestSpeed.
func gzipLevelByte(t *testing.T, encoded string) byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil || len(b) < 10 || !bytes.Equal(b[:3], []byte{0x1f, 0x8b, 0x08}) {
		t.Fatalf("record is not base64 of gzip (%v)", err)
	}
	return b[8]
}

func sampleRelease(ns string, version int, status rcommon.Status, manifest string) *release.Release {
	return &release.Release{
		Name: testRelease, Namespace: ns, Version: version, Manifest: manifest,
		Labels: map[string]string{"team": "data"},
		Info:   &release.Info{Status: status, Description: "pach-upgrade 2.11.5 → 2.11.6"},
		Chart:  &chart.Chart{Metadata: &chart.Metadata{Name: "pachyderm", Version: "2.11.6", AppVersion: "2.11.6", APIVersion: "v2"}},
		Config: map[string]any{"deployTarget": "LOCAL"},
	}
}

// forEachDriver runs f for records in Secrets and in ConfigMaps, each in a namespace of its
// own, with Helm's driver for it and fastRecords over that driver.
func forEachDriver(t *testing.T, f func(t *testing.T, cs kubernetes.Interface, ns, resource string, helm driver.Driver, fast *fastRecords)) {
	rc := testenv.RESTConfig(t)
	cs := clientset(t)
	for _, resource := range []string{"secrets", "configmaps"} {
		t.Run(resource, func(t *testing.T) {
			ns := namespace(t)
			var helm driver.Driver = driver.NewSecrets(cs.CoreV1().Secrets(ns))
			if resource == "configmaps" {
				helm = driver.NewConfigMaps(cs.CoreV1().ConfigMaps(ns))
			}
			fast, err := newFastRecords(helm, rc, ns, resource)
			if err != nil {
				t.Fatal(err)
			}
			f(t, cs, ns, resource, helm, fast)
		})
	}
}

// TestFastRecordsAsHelmWritesThem writes the same release through Helm's own driver and
// through fastRecords, for both drivers, and compares the stored objects: type, labels
// (the timestamps' values aside) and decoded content must be Helm's, only the gzip level
// differs. The Helm 3 CLI reading and rolling back such records is TestHelmDriver's.
func TestFastRecordsAsHelmWritesThem(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, cs kubernetes.Interface, ns, resource string, helm driver.Driver, fast *fastRecords) {
		stored := func(key string) (string, string, map[string]string) {
			if resource == "configmaps" {
				o, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, key, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return "", o.Data["release"], o.Labels
			}
			o, err := cs.CoreV1().Secrets(ns).Get(ctx, key, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return string(o.Type), string(o.Data["release"]), o.Labels
		}
		compare := func(helmKey, fastKey, stamp string) {
			t.Helper()
			helmType, helmData, helmLabels := stored(helmKey)
			fastType, fastData, fastLabels := stored(fastKey)
			if helmType != fastType {
				t.Errorf("type %q, Helm's driver writes %q", fastType, helmType)
			}
			if _, ok := fastLabels[stamp]; !ok {
				t.Errorf("labels %v lack %s", fastLabels, stamp)
			}
			h, f := maps.Clone(helmLabels), maps.Clone(fastLabels)
			for _, k := range []string{"createdAt", "modifiedAt"} {
				if _, ok := h[k]; ok {
					h[k] = "set"
				}
				if _, ok := f[k]; ok {
					f[k] = "set"
				}
			}
			if !maps.Equal(h, f) {
				t.Errorf("labels %v, Helm's driver writes %v", f, h)
			}
			if l := gzipLevelByte(t, helmData); l != 2 {
				t.Errorf("Helm's driver wrote gzip XFL %d: no longer BestCompression, this wrapper may be moot", l)
			}
			if l := gzipLevelByte(t, fastData); l != 4 {
				t.Errorf("gzip XFL %d, want 4 (BestSpeed) for a small record", l)
			}
			want, err := helm.Get(helmKey)
			if err != nil {
				t.Fatal(err)
			}
			got, err := helm.Get(fastKey)
			if err != nil {
				t.Fatalf("Helm's driver cannot read the record: %v", err)
			}
			wj, _ := json.Marshal(want)
			gj, _ := json.Marshal(got)
			if !bytes.Equal(wj, gj) {
				t.Errorf("Helm's driver reads\n%s\nwant\n%s", gj, wj)
			}
		}

		rel := sampleRelease(ns, 1, rcommon.StatusPendingUpgrade, "kind: ConfigMap\n")
		if err := helm.Create("helm.v1", rel); err != nil {
			t.Fatal(err)
		}
		if err := fast.Create("fast.v1", rel); err != nil {
			t.Fatal(err)
		}
		compare("helm.v1", "fast.v1", "createdAt")
		if err := fast.Create("fast.v1", rel); err != driver.ErrReleaseExists {
			t.Errorf("second create: %v, want driver.ErrReleaseExists as Helm's driver returns", err)
		}

		rel.Info.Status = rcommon.StatusFailed
		if err := helm.Update("helm.v1", rel); err != nil {
			t.Fatal(err)
		}
		if err := fast.Update("fast.v1", rel); err != nil {
			t.Fatal(err)
		}
		compare("helm.v1", "fast.v1", "modifiedAt")
	})
}

// TestLargeRecordKeepsHelmsCompression: a record that BestSpeed would leave near the storage
// objects' 1 MiB limit is compressed as Helm compresses it, so that no release Helm can
// store becomes one this package cannot.
func TestLargeRecordKeepsHelmsCompression(t *testing.T) {
	// Hex digits: BestSpeed leaves them about 0.6 of their size, BestCompression about 0.5.
	random := make([]byte, 480<<10)
	_, _ = rand.Read(random)
	manifest := hex.EncodeToString(random)
	start := time.Now()
	encoded, err := encodeRecord(sampleRelease("ns", 1, rcommon.StatusDeployed, manifest))
	if err != nil {
		t.Fatal(err)
	}
	if l := gzipLevelByte(t, encoded); l != 2 {
		t.Errorf("gzip XFL %d for a %d-byte record, want 2 (BestCompression)", l, len(encoded))
	}
	small, err := encodeRecord(sampleRelease("ns", 1, rcommon.StatusDeployed, manifest[:64<<10]))
	if err != nil {
		t.Fatal(err)
	}
	if l := gzipLevelByte(t, small); l != 4 {
		t.Errorf("gzip XFL %d for a %d-byte record, want 4 (BestSpeed)", l, len(small))
	}
	b, _ := base64.StdEncoding.DecodeString(encoded)
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var rel release.Release
	if err := json.NewDecoder(r).Decode(&rel); err != nil || rel.Manifest != manifest {
		t.Fatalf("record does not decode to the release (%v)", err)
	}
	t.Logf("%d bytes encoded in %s", len(encoded), time.Since(start))
}

// TestFastQueryReadsAsHelm stores records as Helm's driver and fastRecords write them, one
// stored before Helm compressed records (plain JSON) and one that does not decode, for both
// drivers, and reads them through both: fastRecords' side-by-side Query must return what
// Helm's driver returns, in the same order, labels included.
func TestFastQueryReadsAsHelm(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, cs kubernetes.Interface, ns, resource string, helm driver.Driver, fast *fastRecords) {
		putRaw := func(key, data string, labels map[string]string) {
			_, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: key, Labels: labels},
				Type: "helm.sh/release.v1", Data: map[string][]byte{"release": []byte(data)}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
		}
		if resource == "configmaps" {
			putRaw = func(key, data string, labels map[string]string) {
				_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: key, Labels: labels},
					Data: map[string]string{"release": data}}, metav1.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		for v := 1; v <= 6; v++ {
			w := driver.Driver(fast)
			if v%2 == 1 {
				w = helm
			}
			status := rcommon.StatusSuperseded
			if v == 6 {
				status = rcommon.StatusDeployed
			}
			if err := w.Create(fmt.Sprintf("sh.helm.release.v1.%s.v%d", testRelease, v), sampleRelease(ns, v, status, fmt.Sprintf("kind: ConfigMap # %d\n", v))); err != nil {
				t.Fatal(err)
			}
		}
		labels := map[string]string{"name": testRelease, "owner": "helm", "status": "superseded", "version": "7"}
		plain, _ := json.Marshal(sampleRelease(ns, 7, rcommon.StatusSuperseded, "kind: ConfigMap # 7\n"))
		putRaw("sh.helm.release.v1."+testRelease+".v7", base64.StdEncoding.EncodeToString(plain), labels)
		labels["version"] = "8"
		putRaw("sh.helm.release.v1."+testRelease+".v8", "not base64 of a release", labels)

		for _, q := range []map[string]string{
			{"name": testRelease, "owner": "helm"},
			{"name": testRelease, "owner": "helm", "status": "deployed"},
			{"name": testRelease, "owner": "helm", "version": "7"},
		} {
			want, werr := helm.Query(q)
			got, gerr := fast.Query(q)
			if werr != nil || gerr != nil {
				t.Fatalf("query %v: Helm's driver: %v; fastRecords: %v", q, werr, gerr)
			}
			wj, _ := json.Marshal(want)
			gj, _ := json.Marshal(got)
			if !bytes.Equal(wj, gj) {
				t.Errorf("query %v: fastRecords reads\n%s\nHelm's driver reads\n%s", q, gj, wj)
			}
			for i := range min(len(want), len(got)) {
				// Labels are not in a record's JSON: they come from the storage object.
				wl, gl := want[i].(*release.Release).Labels, got[i].(*release.Release).Labels
				if len(wl) == 0 || !maps.Equal(wl, gl) {
					t.Errorf("query %v, record %d: labels %v, Helm's driver reads %v", q, i, gl, wl)
				}
			}
			if q["status"] == "" && q["version"] == "" && len(got) != 7 {
				t.Errorf("query %v: %d records, want 7 (the one that does not decode left out)", q, len(got))
			}
		}
		if _, err := fast.Query(map[string]string{"name": "absent", "owner": "helm"}); !errors.Is(err, driver.ErrReleaseNotFound) {
			t.Errorf("query of an absent release: %v, want driver.ErrReleaseNotFound", err)
		}
		if _, err := fast.Query(map[string]string{"name": "not a label value!"}); err == nil || !strings.Contains(err.Error(), "invalid label value") {
			t.Errorf("query with an invalid label value: %v, want refused as Helm's driver refuses it", err)
		}
	})
}
