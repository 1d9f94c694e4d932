// Package kubeauth signs in to managed Kubernetes clusters (EKS, GKE, AKS) in-process. Their
// kubeconfigs authenticate through exec plugins (aws, aws-iam-authenticator,
// gke-gcloud-auth-plugin, kubelogin) that the action's image does not hold; this package
// recognises those exec configurations as the clouds' own tools write them and replaces each
// with a refreshing token source built on the cloud's Go SDK. It belongs to the cluster side:
// it never talks to GitHub's API (only to the Actions OIDC token endpoint, as a credential).
package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/runnerenv"
	"golang.org/x/oauth2"
	authnv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
)

// Options carry what the token sources need from their surroundings.
type Options struct {
	// Getenv reads the process environment (the exec config's own env entries take
	// precedence). Nil means no variables.
	Getenv func(string) string
	// Mask registers every token issued, so that no log shows it (report.Logger.AddMask).
	Mask func(string)
	// HTTPClient, when set, carries every request to the clouds' token services and to the
	// Actions OIDC endpoint. Nil means the SDKs' defaults.
	HTTPClient *http.Client
	// AllowExecPlugins names the programs (base names or full commands) that configuration
	// may make us run: the `allow-exec-plugins` input. Every other kubeconfig exec plugin that
	// is not one we sign in for in-process, AWS credential_process and Google executable
	// credential source is refused, so no kubeconfig or credential file can make the action
	// run a program of its choosing.
	AllowExecPlugins []string
	// AllowHosts are host names, beyond the clouds' own sign-in hosts, that credential files
	// and variables may send tokens to: the `allow-credential-hosts` input.
	AllowHosts []string
	// Runner maps the paths credential variables name (runner paths) to this process's view
	// of the runner's folders; its zero value takes every path as it is.
	Runner runnerenv.Env
	// EKSTokenLifetime is how long the cluster accepts an EKS token after it is signed
	// (aws-iam-authenticator: 15 minutes). Zero means 15 minutes.
	EKSTokenLifetime time.Duration
}

// Signed describes a sign-in that Configure set up.
type Signed struct {
	// Cloud is "EKS", "GKE" or "AKS"; Plugin is the exec command it replaced.
	Cloud, Plugin string
	// User is the name the cluster knows the identity by (from a SelfSubjectReview).
	User string
}

// tokenSource is one cloud's sign-in: Token returns a fresh bearer token and when the cluster
// stops accepting it.
type tokenSource interface {
	token(ctx context.Context) (string, time.Time, error)
}

// Configure returns cfg unchanged (and a nil *Signed) when it does not authenticate through an
// exec plugin, or through one that opts.AllowExecPlugins allows; any other exec plugin we do not
// sign in for is refused before it can run. For a known plugin it returns
// a copy that signs in in-process, after proving that the cloud issues a token and that the
// cluster accepts it: a sign-in that cannot work fails here, before any change.
func Configure(ctx context.Context, cfg *rest.Config, opts Options) (*rest.Config, *Signed, error) {
	if cfg == nil {
		return nil, nil, errors.New("sign in: nil rest config")
	}
	var plugin *Plugin
	switch {
	case cfg.ExecProvider != nil:
		p, err := Recognise(cfg.ExecProvider.Command, cfg.ExecProvider.Args, execEnv(cfg))
		if errors.Is(err, errUnknownPlugin) {
			if !execAllowed(opts.AllowExecPlugins, cfg.ExecProvider.Command) {
				return nil, nil, unknownPluginError(cfg.ExecProvider.Command)
			}
			if _, lookErr := exec.LookPath(cfg.ExecProvider.Command); lookErr != nil {
				return nil, nil, fmt.Errorf("the kubeconfig signs in through exec plugin %q, which allow-exec-plugins allows but which is not in this image: %w",
					cfg.ExecProvider.Command, lookErr)
			}
			return cfg, nil, nil // allowed and installed: client-go runs it as kubectl would
		}
		if err != nil {
			return nil, nil, err
		}
		plugin = p
	case cfg.AuthProvider != nil && cfg.AuthProvider.Name == "gcp":
		// The removed in-tree gcp provider that old gcloud versions wrote.
		plugin = &Plugin{Cloud: CloudGKE, Command: "auth-provider gcp"}
	default:
		return cfg, nil, nil
	}
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	env := plugin.getenv(opts.Getenv)
	var src tokenSource
	var err error
	switch plugin.Cloud {
	case CloudEKS:
		src, err = newEKS(ctx, plugin, env, opts)
	case CloudGKE:
		src, err = newGKE(ctx, plugin, env, opts)
	case CloudAKS:
		src, err = newAKS(ctx, plugin, env, opts)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("sign in to %s (kubeconfig exec %s): %w", plugin.Cloud, plugin.Command, err)
	}
	cached := transport.NewCachedTokenSource(&refreshing{src: src, mask: opts.Mask})
	// The first token now: missing or wrong cloud credentials fail before any change.
	if _, err := cached.Token(); err != nil {
		return nil, nil, fmt.Errorf("sign in to %s (kubeconfig exec %s): %w", plugin.Cloud, plugin.Command, err)
	}
	out := rest.CopyConfig(cfg)
	out.ExecProvider, out.AuthProvider = nil, nil
	wrap := transport.ResettableTokenSourceWrapTransport(cached)
	if prev := cfg.WrapTransport; prev != nil {
		out.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return wrap(prev(rt)) }
	} else {
		out.WrapTransport = wrap
	}
	user, err := whoAmI(ctx, out)
	if err != nil {
		return nil, nil, fmt.Errorf("sign in to %s (kubeconfig exec %s): %w", plugin.Cloud, plugin.Command, clusterRefusal(plugin.Cloud, err))
	}
	return out, &Signed{Cloud: string(plugin.Cloud), Plugin: plugin.Command, User: user}, nil
}

// refreshing turns a cloud's token into an oauth2 token that expires early: client-go's cached
// source asks for a new one once 14/15 of the lifetime has passed (14 minutes of an EKS
// token's 15), so a long upgrade never sends a token the cluster is about to refuse.
type refreshing struct {
	src  tokenSource
	mask func(string)
}

func (r *refreshing) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	received := time.Now()
	tok, expiry, err := r.src.token(ctx)
	if err != nil {
		return nil, err
	}
	if r.mask != nil {
		r.mask(tok)
	}
	life := expiry.Sub(received)
	if life < 0 {
		life = 0
	}
	return &oauth2.Token{AccessToken: tok, TokenType: "Bearer", Expiry: received.Add(life * 14 / 15)}, nil
}

// whoAmI asks the cluster who the token signs in as: every authenticated user may create a
// SelfSubjectReview, so a refusal means the cluster does not accept the identity.
func whoAmI(ctx context.Context, cfg *rest.Config) (string, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return r.Status.UserInfo.Username, nil
}

func clusterRefusal(cloud Cloud, err error) error {
	if !apierrors.IsUnauthorized(err) {
		return fmt.Errorf("ask the cluster who we are: %w", err)
	}
	var fix string
	switch cloud {
	case CloudEKS:
		fix = "give the IAM role an EKS access entry (or an aws-auth mapping) for the cluster and check --cluster-name"
	case CloudGKE:
		fix = "grant the federated principal or service account roles/container.clusterViewer on the project and check the cluster's project"
	case CloudAKS:
		fix = "check --server-id and that the cluster uses Microsoft Entra ID authentication with the identity's tenant"
	}
	return fmt.Errorf("the cluster refused the %s token (401 Unauthorized): %s", cloud, fix)
}

func execEnv(cfg *rest.Config) map[string]string {
	env := map[string]string{}
	for _, e := range cfg.ExecProvider.Env {
		env[e.Name] = e.Value
	}
	return env
}

// execAllowed reports whether the allow-exec-plugins list names command: as written, or by its
// base name. A base name allows a bare command (found on PATH, which the workflow sets) and a path
// to the program PATH finds by that name, but not a same-named program elsewhere: a pull request
// could commit ./tools/<allowed name> and a configuration naming it.
func execAllowed(allowed []string, command string) bool {
	base := strings.TrimSuffix(filepath.Base(command), ".exe")
	bare := !strings.ContainsAny(command, `/\`)
	for _, a := range allowed {
		if a == command {
			return true
		}
		if a != base || strings.ContainsAny(a, `/\`) {
			continue
		}
		if bare {
			return true
		}
		if onPath, err := exec.LookPath(a); err == nil && samePath(onPath, command) {
			return true
		}
	}
	return false
}

func samePath(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

func unknownPluginError(command string) error {
	return fmt.Errorf("the kubeconfig signs in through exec plugin %q (command %s), which pach-upgrade does not sign in for itself, so it is refused and was not run: "+
		"use a kubeconfig written by `aws eks update-kubeconfig`, `gcloud container clusters get-credentials` "+
		"(gke-gcloud-auth-plugin) or `kubelogin convert-kubeconfig` (workloadidentity, spn or msi), or one with a token or client certificate; "+
		"or, if you trust that program, name it in the allow-exec-plugins input",
		strings.TrimSuffix(filepath.Base(command), ".exe"), command)
}

// missingVar names a variable the sign-in needs and the workflow change that provides it.
func missingVar(name, fix string) error {
	return fmt.Errorf("%s is not set: %s", name, fix)
}

// firstNonEmpty returns the first non-empty value.
func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
