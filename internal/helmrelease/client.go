// Package helmrelease reads, plans, upgrades and rolls back one Helm release through the Helm 4
// SDK, storing releases in Secrets (or ConfigMaps, as HELM_DRIVER=configmap) exactly as the
// Helm CLI does, so releases stay readable by the Helm 3 and Helm 4 CLIs. It never waits for workloads itself: the caller watches the
// rollout (internal/cluster) and decides whether to roll back.
package helmrelease

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// defaultDriver is Helm's default release storage, used unless WithDriver says otherwise.
const defaultDriver = "secret"

// FieldManager is the server-side apply field manager of every change this package makes:
// the Helm CLIs' own. Under server-side apply, fields owned by another manager conflict, so
// with the SDK's default (the binary's name) a release installed or last upgraded with the
// Helm CLI could not be upgraded here, nor one upgraded here be rolled back with the CLI.
const FieldManager = "helm"

// setFieldManager sets Helm's package-level manager name, the only way the SDK offers.
var setFieldManager = sync.OnceFunc(func() { kube.ManagedFieldsManager = FieldManager })

// Client runs Helm actions for releases in one namespace.
type Client struct {
	cfg       *action.Configuration
	namespace string
	records   *queryCache
	// revisions lists the release's stored revision numbers from the records' labels alone.
	revisions func(ctx context.Context, name string) ([]int, error)
}

// Option configures a Client.
type Option func(*options)

type options struct {
	logger *slog.Logger
	driver string
}

// WithDriver keeps release records where the Helm CLIs would with HELM_DRIVER=driver:
// "secret" (Helm's default) or "configmap". A release is only found in the storage it was
// installed with.
func WithDriver(driver string) Option {
	return func(o *options) { o.driver = driver }
}

// WithLogger sends the Helm SDK's own logs to l. By default they are discarded, because the
// SDK logs at debug level with values that the caller may not want in a job log.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// New returns a Client for namespace using restConfig.
func New(restConfig *rest.Config, namespace string, opts ...Option) (*Client, error) {
	if restConfig == nil {
		return nil, fmt.Errorf("helm client: no Kubernetes REST config")
	}
	if namespace == "" {
		return nil, fmt.Errorf("helm client: empty namespace")
	}
	setFieldManager()
	o := options{logger: slog.New(slog.NewTextHandler(io.Discard, nil)), driver: defaultDriver}
	for _, opt := range opts {
		opt(&o)
	}
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(o.logger.Handler()))
	getter := &restGetter{config: rest.CopyConfig(restConfig), namespace: namespace}
	var resource string // what the driver keeps release records in
	switch o.driver {
	case "secret", "secrets":
		resource = "secrets"
	case "configmap", "configmaps":
		resource = "configmaps"
	default:
		// memory keeps nothing between runs; sql needs a database this package never reaches.
		return nil, fmt.Errorf("helm client: storage driver %q: want secret or configmap", o.driver)
	}
	if err := cfg.Init(getter, namespace, o.driver); err != nil {
		return nil, fmt.Errorf("helm client for namespace %s: %w", namespace, err)
	}
	kc, ok := cfg.KubeClient.(*kube.Client)
	if !ok {
		return nil, fmt.Errorf("helm client for namespace %s: Kubernetes client is a %T, want Helm's", namespace, cfg.KubeClient)
	}
	cfg.KubeClient = newBuildMemo(kc)
	stamp, revisions, err := recordStamper(restConfig, namespace, resource)
	if err != nil {
		return nil, fmt.Errorf("helm client for namespace %s: %w", namespace, err)
	}
	fast, err := newFastRecords(cfg.Releases.Driver, restConfig, namespace, resource)
	if err != nil {
		return nil, fmt.Errorf("helm client for namespace %s: %w", namespace, err)
	}
	records := newQueryCache(fast, stamp)
	cfg.Releases.Driver = records
	return &Client{cfg: cfg, namespace: namespace, records: records, revisions: revisions}, nil
}

// recordStamper returns the cache's stamp for records kept in resource (secrets or
// configmaps): the revision and status labels of the release's objects, listed as metadata
// only; and revisions, the stored revision numbers read the same way.
func recordStamper(restConfig *rest.Config, namespace, resource string) (stamp func(ctx context.Context, name string) (string, error),
	revisions func(ctx context.Context, name string) ([]int, error), err error) {
	mc, err := metadata.NewForConfig(restConfig)
	if err != nil {
		return nil, nil, fmt.Errorf("metadata client: %w", err)
	}
	objects := mc.Resource(corev1.SchemeGroupVersion.WithResource(resource)).Namespace(namespace)
	list := func(ctx context.Context, name string) (map[int]string, error) {
		list, err := objects.List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(historyLabels(name)).String()})
		if err != nil {
			return nil, fmt.Errorf("list the %s of release %s/%s: %w", resource, namespace, name, err)
		}
		revs := map[int]string{}
		for _, o := range list.Items {
			if v, err := strconv.Atoi(o.Labels["version"]); err == nil {
				// The UID and resourceVersion change with any rewrite of the record, even one
				// that keeps its labels (a reinstall, another client's description).
				revs[v] = o.Labels["status"] + "@" + string(o.UID) + "/" + o.ResourceVersion
			}
		}
		return revs, nil
	}
	stamp = func(ctx context.Context, name string) (string, error) {
		revs, err := list(ctx, name)
		if err != nil {
			return "", err
		}
		return formatStamp(revs), nil
	}
	revisions = func(ctx context.Context, name string) ([]int, error) {
		revs, err := list(ctx, name)
		if err != nil {
			return nil, err
		}
		return slices.Sorted(maps.Keys(revs)), nil
	}
	return stamp, revisions, nil
}

// Namespace is the namespace the client works in.
func (c *Client) Namespace() string { return c.namespace }

// restGetter adapts a rest.Config to the getter Helm's kube client expects. Discovery and the
// REST mapper are built once: Helm asks for them on every manifest build, and rediscovering
// the API server's groups each time made a real-chart upgrade several times slower.
type restGetter struct {
	config    *rest.Config
	namespace string

	once      sync.Once
	discovery discovery.CachedDiscoveryInterface
	mapper    meta.RESTMapper
	err       error
}

func (g *restGetter) init() {
	g.once.Do(func() {
		dc, err := discovery.NewDiscoveryClientForConfig(g.config)
		if err != nil {
			g.err = fmt.Errorf("discovery client: %w", err)
			return
		}
		g.discovery = memory.NewMemCacheClient(dc)
		g.mapper = restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(g.discovery), g.discovery, nil)
	})
}

func (g *restGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.config), nil }

func (g *restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	g.init()
	return g.discovery, g.err
}

func (g *restGetter) ToRESTMapper() (meta.RESTMapper, error) {
	g.init()
	return g.mapper, g.err
}

// ToRawKubeConfigLoader only needs to answer the namespace: Helm's kube client takes its
// default namespace from it, and everything else comes from ToRESTConfig.
func (g *restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: g.config.Host}
	cfg.AuthInfos["c"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "c", Namespace: g.namespace}
	cfg.CurrentContext = "c"
	return clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{})
}
