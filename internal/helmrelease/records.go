package helmrelease

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	ri "helm.sh/helm/v4/pkg/release"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// fastRecords writes release records as Helm's Secrets and ConfigMaps drivers do — the same
// object, labels and encoding (base64 of gzipped JSON), so that the Helm 3 and 4 CLIs read
// them as their own — but gzipped at a faster level while the record is far from the size
// limit. Helm compresses at gzip.BestCompression: on a real Pachyderm release (about 1 MB of
// JSON, the whole chart) that is some 0.2 s of CPU per record, and a failed upgrade and its
// rollback write seven records, most of them on the way to a safe state. BestSpeed takes a
// few milliseconds for a record about a third larger; a record that would come near the
// objects' 1 MiB limit that way is written at BestCompression, as Helm writes it, so that
// every release Helm can store is still stored. Reads go to Helm's driver unchanged.
type fastRecords struct {
	driver.Driver
	// put creates (or, with update, replaces) the storage object named key holding the
	// encoded record, with labels.
	put func(ctx context.Context, key string, labels map[string]string, encoded string, update bool) error
}

// fastLimit is the encoded size up to which a record stays at BestSpeed: half of the 1 MiB
// that a Secret's or ConfigMap's data may hold.
const fastLimit = 512 << 10

func newFastRecords(d driver.Driver, restConfig *rest.Config, namespace, resource string) (*fastRecords, error) {
	cs, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return nil, fmt.Errorf("release records client: %w", err)
	}
	f := &fastRecords{Driver: d}
	switch resource {
	case "secrets":
		secrets := cs.CoreV1().Secrets(namespace)
		f.put = func(ctx context.Context, key string, labels map[string]string, encoded string, update bool) error {
			// Helm 3 introduced the type; its version changes only with the record's format.
			obj := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: key, Labels: labels},
				Type: "helm.sh/release.v1", Data: map[string][]byte{"release": []byte(encoded)}}
			if update {
				_, err := secrets.Update(ctx, obj, metav1.UpdateOptions{})
				return err
			}
			_, err := secrets.Create(ctx, obj, metav1.CreateOptions{})
			return err
		}
	case "configmaps":
		cms := cs.CoreV1().ConfigMaps(namespace)
		f.put = func(ctx context.Context, key string, labels map[string]string, encoded string, update bool) error {
			obj := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: key, Labels: labels},
				Data: map[string]string{"release": encoded}}
			if update {
				_, err := cms.Update(ctx, obj, metav1.UpdateOptions{})
				return err
			}
			_, err := cms.Create(ctx, obj, metav1.CreateOptions{})
			return err
		}
	default:
		return nil, fmt.Errorf("release records in %s: want secrets or configmaps", resource)
	}
	return f, nil
}

// Create stores a new record, as the driver's Create: the release's own labels, createdAt,
// then Helm's system labels.
func (f *fastRecords) Create(key string, r ri.Releaser) error {
	rel, labels, encoded, err := f.encode(r, "createdAt")
	if err != nil {
		return fmt.Errorf("create: failed to encode release %q: %w", rel.Name, err)
	}
	if err := f.put(context.Background(), key, labels, encoded, false); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return driver.ErrReleaseExists
		}
		return fmt.Errorf("create: failed to create: %w", err)
	}
	return nil
}

// Update replaces a record, as the driver's Update (which sets modifiedAt and, like it,
// keeps no createdAt).
func (f *fastRecords) Update(key string, r ri.Releaser) error {
	rel, labels, encoded, err := f.encode(r, "modifiedAt")
	if err != nil {
		return fmt.Errorf("update: failed to encode release %q: %w", rel.Name, err)
	}
	if err := f.put(context.Background(), key, labels, encoded, true); err != nil {
		return fmt.Errorf("update: failed to update: %w", err)
	}
	return nil
}

// encode builds a record's labels (the driver's newSecretsObject and newConfigMapsObject)
// and its encoding.
func (f *fastRecords) encode(r ri.Releaser, stampLabel string) (*release.Release, map[string]string, string, error) {
	rel, ok := r.(*release.Release)
	if v, isValue := r.(release.Release); isValue {
		rel, ok = &v, true
	}
	if !ok || rel == nil || rel.Info == nil {
		return &release.Release{}, nil, "", fmt.Errorf("unsupported release type or no release info: %T", r)
	}
	labels := map[string]string{}
	for k, v := range rel.Labels {
		labels[k] = v
	}
	labels[stampLabel] = strconv.FormatInt(time.Now().Unix(), 10)
	labels["name"] = rel.Name
	labels["owner"] = "helm"
	labels["status"] = rel.Info.Status.String()
	labels["version"] = strconv.Itoa(rel.Version)
	encoded, err := encodeRecord(rel)
	return rel, labels, encoded, err
}

// encodeRecord is Helm's encodeRelease at BestSpeed, or at BestCompression (Helm's own
// level) when the fast encoding exceeds fastLimit.
func encodeRecord(rel *release.Release) (string, error) {
	b, err := json.Marshal(rel)
	if err != nil {
		return "", err
	}
	s, err := gzipBase64(b, gzip.BestSpeed)
	if err != nil || len(s) <= fastLimit {
		return s, err
	}
	return gzipBase64(b, gzip.BestCompression)
}

func gzipBase64(b []byte, level int) (string, error) {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		return "", err
	}
	if _, err := w.Write(b); err != nil {
		w.Close()
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}
