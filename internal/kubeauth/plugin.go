package kubeauth

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Cloud names a managed Kubernetes service.
type Cloud string

// The clouds whose exec plugins Configure replaces.
const (
	CloudEKS Cloud = "EKS"
	CloudGKE Cloud = "GKE"
	CloudAKS Cloud = "AKS"
)

// Plugin is an exec configuration as the cloud's tool wrote it, reduced to what signing in needs.
type Plugin struct {
	Cloud   Cloud
	Command string // base name of the exec command

	// EKS: the cluster name (or, for local clusters on Outposts, its id) signed into the token,
	// the STS region and the role to assume first.
	ClusterID, Region, RoleARN string

	// AKS (kubelogin): login mode, the cluster's server application id, and the identity.
	Login, ServerID, ClientID, TenantID, Environment, AuthorityHost, FederatedTokenFile string
	ClientSecret                                                                        string
	DisableInstanceDiscovery                                                            bool

	// Env holds the exec config's env entries; they win over the process environment.
	Env map[string]string
}

var errUnknownPlugin = errors.New("unknown exec plugin")

// Recognise reads an exec configuration: command, args and env entries exactly as
// `aws eks update-kubeconfig`, aws-iam-authenticator, `gcloud container clusters
// get-credentials` and `kubelogin convert-kubeconfig` write them.
func Recognise(command string, args []string, env map[string]string) (*Plugin, error) {
	name := strings.TrimSuffix(filepath.Base(command), ".exe")
	p := &Plugin{Command: name, Env: env}
	switch name {
	case "aws":
		fl, pos := parseFlags(args, nil)
		if !(len(pos) >= 2 && pos[0] == "eks" && pos[1] == "get-token") {
			return nil, fmt.Errorf("exec plugin aws with arguments %q: only `aws eks get-token` signs in to a cluster", strings.Join(pos, " "))
		}
		p.Cloud = CloudEKS
		p.ClusterID = firstNonEmpty(fl["cluster-id"], fl["cluster-name"])
		p.Region = fl["region"]
		p.RoleARN = fl["role-arn"]
		if p.ClusterID == "" {
			return nil, errors.New("exec plugin aws eks get-token without --cluster-name")
		}
		if fl["profile"] != "" && p.Env["AWS_PROFILE"] == "" {
			p.Env = withEnv(p.Env, "AWS_PROFILE", fl["profile"])
		}
	case "aws-iam-authenticator":
		fl, pos := parseFlags(args, map[string]string{"i": "cluster-id", "r": "role"})
		if len(pos) == 0 || pos[0] != "token" {
			return nil, fmt.Errorf("exec plugin aws-iam-authenticator with arguments %q: only `token` signs in", strings.Join(pos, " "))
		}
		p.Cloud = CloudEKS
		p.ClusterID = fl["cluster-id"]
		p.RoleARN = fl["role"]
		p.Region = fl["region"]
		if p.ClusterID == "" {
			return nil, errors.New("exec plugin aws-iam-authenticator token without -i (cluster id)")
		}
	case "gke-gcloud-auth-plugin":
		p.Cloud = CloudGKE
	case "kubelogin":
		fl, pos := parseFlags(args, map[string]string{"l": "login", "t": "tenant-id"})
		if len(pos) == 0 || pos[0] != "get-token" {
			return nil, fmt.Errorf("exec plugin kubelogin with arguments %q: only `get-token` signs in", strings.Join(pos, " "))
		}
		p.Cloud = CloudAKS
		p.Login = firstNonEmpty(fl["login"], env["AAD_LOGIN_METHOD"], "devicecode")
		p.ServerID = fl["server-id"]
		p.ClientID = fl["client-id"]
		p.TenantID = fl["tenant-id"]
		p.Environment = fl["environment"]
		p.AuthorityHost = fl["authority-host"]
		p.FederatedTokenFile = fl["federated-token-file"]
		p.ClientSecret = fl["client-secret"]
		_, p.DisableInstanceDiscovery = fl["disable-instance-discovery"]
		if v := fl["disable-instance-discovery"]; v == "false" {
			p.DisableInstanceDiscovery = false
		}
		if p.ServerID == "" {
			return nil, errors.New("exec plugin kubelogin get-token without --server-id")
		}
	default:
		return nil, errUnknownPlugin
	}
	return p, nil
}

// getenv reads the exec config's env entries first, as the plugin would see them.
func (p *Plugin) getenv(process func(string) string) func(string) string {
	return func(k string) string {
		if v, ok := p.Env[k]; ok {
			return v
		}
		return process(k)
	}
}

func withEnv(env map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for kk, vv := range env {
		out[kk] = vv
	}
	return out
}

// boolFlags take no value.
var boolFlags = map[string]bool{
	"disable-instance-discovery": true, "legacy": true, "use_application_default_credentials": true,
	"debug": true, "no-verify-ssl": true, "forward-session-name": true,
}

// parseFlags splits args into --flag values (also --flag=value and the short aliases given) and
// positional words.
func parseFlags(args []string, short map[string]string) (map[string]string, []string) {
	flags := map[string]string{}
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		value, hasValue := "", false
		if k, v, ok := strings.Cut(name, "="); ok {
			name, value, hasValue = k, v, true
		}
		if !strings.HasPrefix(a, "--") {
			if long, ok := short[name]; ok {
				name = long
			}
		}
		if !hasValue && !boolFlags[name] && i+1 < len(args) {
			i++
			value = args[i]
		}
		flags[name] = value
	}
	return flags, pos
}
