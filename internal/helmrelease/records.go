package helmrelease

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	ri "helm.sh/helm/v4/pkg/release"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kblabels "k8s.io/apimachinery/pkg/labels"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
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
// every release Helm can store is still stored. Reads decode the records side by side (Query).
type fastRecords struct {
	driver.Driver
	// put creates (or, with update, replaces) the storage object named key holding the
	// encoded record, with labels.
	put func(ctx context.Context, key string, labels map[string]string, encoded string, update bool) error
	// list returns the stored records matching selector: each one's labels and encoded
	// release.
	list func(ctx context.Context, selector string) ([]storedRecord, error)
}

// storedRecord is one storage object's labels and encoded release.
type storedRecord struct {
	labels  map[string]string
	encoded string
}

// fastLimit is the encoded size up to which a record stays at BestSpeed: half of the 1 MiB
// that a Secret's or ConfigMap's data may hold.
const fastLimit = 512 << 10

func newFastRecords(d driver.Driver, restConfig *rest.Config, namespace, resource string) (*fastRecords, error) {
	// Records travel as protobuf, uncompressed. A record is some hundreds of kilobytes of
	// gzipped data, base64-encoded: JSON would carry it base64-encoded a second time, and the
	// API server's gzip of a history listing (megabytes) saves little more than the base64
	// overhead, at tens of milliseconds of CPU on each side, most of a release check.
	pb := rest.CopyConfig(restConfig)
	pb.DisableCompression = true
	pb.ContentType = kruntime.ContentTypeProtobuf
	pb.AcceptContentTypes = kruntime.ContentTypeProtobuf + "," + kruntime.ContentTypeJSON
	cs, err := kubernetes.NewForConfig(pb)
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
		f.list = func(ctx context.Context, selector string) ([]storedRecord, error) {
			l, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return nil, err
			}
			out := make([]storedRecord, len(l.Items))
			for i, item := range l.Items {
				out[i] = storedRecord{labels: item.Labels, encoded: string(item.Data["release"])}
			}
			return out, nil
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
		f.list = func(ctx context.Context, selector string) ([]storedRecord, error) {
			l, err := cms.List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return nil, err
			}
			out := make([]storedRecord, len(l.Items))
			for i, item := range l.Items {
				out[i] = storedRecord{labels: item.Labels, encoded: item.Data["release"]}
			}
			return out, nil
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

// queryTimeout bounds a records query (the driver's Query has no context).
const queryTimeout = 2 * time.Minute

// Query is the driver's Query with the records decoded side by side. Every Helm action reads
// the release's whole history, and each record holds the whole chart: on a real Pachyderm
// release decoding them one by one (mostly gunzip) was the largest part of the release
// check. The result is the driver's: the records in the order listed, each with its storage
// object's labels, a record that does not decode left out, and ErrReleaseNotFound when none
// matches.
func (f *fastRecords) Query(labels map[string]string) ([]ri.Releaser, error) {
	ls := kblabels.Set{}
	for k, v := range labels {
		if errs := validation.IsValidLabelValue(v); len(errs) != 0 {
			return nil, fmt.Errorf("invalid label value: %q: %s", v, strings.Join(errs, "; "))
		}
		ls[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	items, err := f.list(ctx, ls.AsSelector().String())
	if err != nil {
		return nil, fmt.Errorf("query: failed to query with labels: %w", err)
	}
	if len(items) == 0 {
		return nil, driver.ErrReleaseNotFound
	}
	decoded := make([]*release.Release, len(items))
	next := make(chan int, len(items))
	for i := range items {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(items)) {
		wg.Go(func() {
			for i := range next {
				if rls, err := decodeRecord(items[i].encoded); err == nil {
					rls.Labels = items[i].labels
					decoded[i] = rls
				}
			}
		})
	}
	wg.Wait()
	var out []ri.Releaser
	for _, rls := range decoded {
		if rls != nil {
			out = append(out, rls)
		}
	}
	return out, nil
}

// decodeRecord is Helm's decodeRelease: base64, then gunzip when the gzip magic leads (a
// record stored before Helm compressed them is plain JSON), then JSON.
func decodeRecord(data string) (*release.Release, error) {
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, err
	}
	if len(b) > 3 && bytes.Equal(b[:3], []byte{0x1f, 0x8b, 0x08}) {
		r, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		defer r.Close()
		if b, err = io.ReadAll(r); err != nil {
			return nil, err
		}
	}
	var rls release.Release
	if err := json.Unmarshal(b, &rls); err != nil {
		return nil, err
	}
	return &rls, nil
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
