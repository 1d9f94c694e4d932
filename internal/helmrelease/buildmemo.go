package helmrelease

import (
	"bytes"
	"crypto/sha256"
	"io"
	"sync"

	"helm.sh/helm/v4/pkg/kube"
)

// buildMemo is Helm's Kubernetes client with its manifest parsing done once per manifest.
// Every upgrade Helm runs, dry runs included, parses the same YAML up to three times (the
// validation of the rendered manifest, then the live release's and the rendered one's object
// lists), and a run's renders (the generated values', the ownership check's, the upgrade's)
// all parse the live release's manifest: most of the parsing a run did was of manifests it
// had parsed before. A parse depends only on the manifest, the validation asked for and the
// API server's resource mappings, which a run does not change. Each caller gets its own deep
// copy of the objects, which Helm changes as it applies them; failures are not kept. A client
// serves one run, whose renders make a handful of distinct manifests: what is kept is bounded
// by them.
type buildMemo struct {
	*kube.Client
	// parse is the parse done once per manifest: the client's Build.
	parse func(reader io.Reader, validate bool) (kube.ResourceList, error)

	mu     sync.Mutex
	builds map[buildKey]*builtList
}

type buildKey struct {
	manifest [sha256.Size]byte
	validate bool
}

// builtList is one parse, shared by the callers that asked for it while it ran.
type builtList struct {
	done  chan struct{}
	infos kube.ResourceList
	err   error
}

func newBuildMemo(c *kube.Client) *buildMemo {
	return &buildMemo{Client: c, parse: c.Build, builds: map[buildKey]*builtList{}}
}

// Build is kube.Client's Build, parsed once per manifest and validation.
func (m *buildMemo) Build(reader io.Reader, validate bool) (kube.ResourceList, error) {
	manifest, err := io.ReadAll(reader)
	if err != nil {
		return nil, err
	}
	key := buildKey{manifest: sha256.Sum256(manifest), validate: validate}
	m.mu.Lock()
	b, ok := m.builds[key]
	if !ok {
		b = &builtList{done: make(chan struct{})}
		m.builds[key] = b
	}
	m.mu.Unlock()
	if !ok {
		b.infos, b.err = m.parse(bytes.NewReader(manifest), validate)
		if b.err != nil {
			m.mu.Lock()
			delete(m.builds, key) // a later caller tries again
			m.mu.Unlock()
		}
		close(b.done)
	} else {
		<-b.done
	}
	if b.err != nil {
		return nil, b.err
	}
	return copyInfos(b.infos), nil
}

// copyInfos copies each Info with its own copy of the object.
func copyInfos(infos kube.ResourceList) kube.ResourceList {
	out := make(kube.ResourceList, len(infos))
	for i, info := range infos {
		cp := *info
		if info.Object != nil {
			cp.Object = info.Object.DeepCopyObject()
		}
		out[i] = &cp
	}
	return out
}

var _ kube.Interface = (*buildMemo)(nil)
var _ kube.InterfaceWaitOptions = (*buildMemo)(nil)
