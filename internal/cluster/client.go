// Package cluster is the action's only door to the Kubernetes API (client-go):
// secrets, workload images, the Lease lock, the readiness watch, the pods table
// and the port-forward to pachd. It never talks to Helm or GitHub.
package cluster

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Client wraps a clientset together with the REST config it was built from,
// because port-forwarding needs the raw config for its SPDY transport.
type Client struct {
	cs  kubernetes.Interface
	cfg *rest.Config
}

// New builds a Client from a REST config.
func New(cfg *rest.Config) (*Client, error) {
	if cfg == nil {
		return nil, errors.New("new cluster client: nil rest config")
	}
	cfg = rest.CopyConfig(cfg)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("new cluster client: %w", err)
	}
	return &Client{cs: cs, cfg: cfg}, nil
}

// Clientset exposes the typed clientset for callers (and tests) that need an
// operation this package does not wrap.
func (c *Client) Clientset() kubernetes.Interface { return c.cs }

// RESTConfig returns a copy of the config the client uses.
func (c *Client) RESTConfig() *rest.Config { return rest.CopyConfig(c.cfg) }

// RESTConfig resolves the connection the way the action's inputs describe it.
// kubeconfig is the file's CONTENT (the `kubeconfig` input, usually a secret),
// not a path. When it is empty the usual places are honoured: the KUBECONFIG
// environment variable and the default file, then the in-cluster service
// account (the action running as a pod). kubeContext selects a context; empty
// means the kubeconfig's current context.
func RESTConfig(kubeconfig []byte, kubeContext string) (*rest.Config, error) {
	overrides := &clientcmd.ConfigOverrides{CurrentContext: kubeContext}
	if len(kubeconfig) > 0 {
		raw, err := clientcmd.Load(kubeconfig)
		if err != nil {
			// The content is a credential: never echo it back in the error.
			return nil, fmt.Errorf("parse kubeconfig input: %w", errors.New("not a valid kubeconfig document"))
		}
		cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, kubeContext, overrides, nil).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kubeconfig input (context %q): %w", kubeContext, err)
		}
		return cfg, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	haveFile := os.Getenv(clientcmd.RecommendedConfigPathEnvVar) != ""
	if !haveFile {
		if _, err := os.Stat(rules.GetDefaultFilename()); err == nil {
			haveFile = true
		}
	}
	if !haveFile && kubeContext == "" {
		if cfg, err := rest.InClusterConfig(); err == nil {
			return cfg, nil
		}
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig (KUBECONFIG, default file or in-cluster; context %q): %w", kubeContext, err)
	}
	return cfg, nil
}

// NewFromKubeconfig is RESTConfig followed by New.
func NewFromKubeconfig(kubeconfig []byte, kubeContext string) (*Client, error) {
	cfg, err := RESTConfig(kubeconfig, kubeContext)
	if err != nil {
		return nil, err
	}
	return New(cfg)
}
