package runnerenv

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// fixKubeconfig is what to do when a container cannot see the runner's
// kubeconfig file.
const fixKubeconfig = "pass the kubeconfig's content as the `kubeconfig` input " +
	"(e.g. `kubeconfig: ${{ secrets.KUBECONFIG }}`), or have the earlier step write the file " +
	"under ${{ github.workspace }} or ${{ runner.temp }} and set KUBECONFIG to that path"

// CheckKubeconfig tells why the kubeconfig a run would load from the
// environment is not there, before client-go says only "no configuration
// has been provided": a KUBECONFIG naming no file that exists is named with
// its path anywhere; in a container, also why the runner's files are out of
// sight. input is the `kubeconfig` input's content; when it is set, nothing
// is read from files and all is well.
func (e Env) CheckKubeconfig(input string) error {
	if strings.TrimSpace(input) != "" {
		return nil
	}
	if !e.container {
		return checkKubeconfigFiles(e.getenvOr("KUBECONFIG"))
	}
	if kc := e.getenvOr("KUBECONFIG"); kc != "" {
		var missing []string
		for _, p := range filepath.SplitList(kc) {
			if p == "" {
				continue
			}
			if _, err := os.Stat(p); err == nil {
				return nil // client-go merges the files that exist
			} else if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("KUBECONFIG names %s, which cannot be read: %w", p, err)
			}
			missing = append(missing, p)
		}
		if len(missing) == 0 {
			return nil
		}
		return fmt.Errorf("KUBECONFIG names %s, which this action cannot see: it runs in a Docker container, "+
			"into which the runner mounts only its workspace and temporary folders (%s), so a file elsewhere on the runner "+
			"(such as ~/.kube/config from `aws eks update-kubeconfig`) is not there; %s",
			strings.Join(missing, ", "), e.mountList(), fixKubeconfig)
	}
	if e.getenvOr("KUBERNETES_SERVICE_HOST") != "" {
		return nil // in-cluster configuration
	}
	home := e.getenvOr("HOME")
	if home == "" {
		return nil
	}
	def := filepath.Join(home, ".kube", "config")
	if _, err := os.Stat(def); err == nil {
		return nil
	}
	return fmt.Errorf("no kubeconfig: the `kubeconfig` input is empty, KUBECONFIG is not set, and %s does not exist: "+
		"this action runs in a Docker container whose HOME (%s) is not the runner's, so the runner's ~/.kube/config "+
		"(from `aws eks update-kubeconfig`, say) is not visible; %s", def, home, fixKubeconfig)
}

// checkKubeconfigFiles: KUBECONFIG set, and none of its files exists.
func checkKubeconfigFiles(kc string) error {
	var missing []string
	for _, p := range filepath.SplitList(kc) {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("KUBECONFIG names %s, which cannot be read: %w", p, err)
		}
		missing = append(missing, p)
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("KUBECONFIG names %s, which does not exist: write the kubeconfig there in an earlier step of the same job, "+
		"or pass its content as the `kubeconfig` input (e.g. `kubeconfig: ${{ secrets.KUBECONFIG }}`)", strings.Join(missing, ", "))
}

// mountList names the mounted folders as the runner knows them.
func (e Env) mountList() string {
	var names []string
	for _, m := range e.mounts {
		switch m.name {
		case Workspace:
			names = append(names, "GITHUB_WORKSPACE")
		case RunnerTemp:
			names = append(names, "RUNNER_TEMP")
		case Home:
			names = append(names, "HOME")
		}
	}
	return strings.Join(names, ", ")
}

// dialTimeout bounds the reachability check of a loopback API server.
const dialTimeout = 3 * time.Second

// CheckServer tells, in a container, that an API server on the loopback
// address cannot be reached because the container's loopback is not the
// runner's: a kind or k3d cluster on the runner listens on the runner's
// 127.0.0.1, and the action, on Docker's default bridge, dials itself.
// server is the REST config's host (a URL or host:port). A loopback server
// that answers (a job whose container shares the host network) is fine.
func (e Env) CheckServer(ctx context.Context, server string) error {
	if !e.container {
		return nil
	}
	addr, ok := loopbackAddr(server)
	if !ok {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err == nil {
		conn.Close()
		return nil
	}
	return fmt.Errorf("the kubeconfig's API server %s is on the loopback address, and it cannot be reached (%v): "+
		"this action runs in a Docker container, whose loopback is the container itself, not the runner's, "+
		"so a cluster listening on the runner's 127.0.0.1 (kind, k3d, minikube) is out of reach; "+
		"make the API server listen on an address the container can reach, such as the runner's Docker bridge "+
		"(172.17.0.1 by default) or 0.0.0.0, and put that address in the kubeconfig, "+
		"or run the image in a `run:` step with `docker run --network host`", server, err)
}

// loopbackAddr returns host:port of server when its host is a loopback
// name or address.
func loopbackAddr(server string) (string, bool) {
	if server == "" {
		return "", false
	}
	if !strings.Contains(server, "://") {
		server = "https://" + server
	}
	u, err := url.Parse(server)
	if err != nil || u.Hostname() == "" {
		return "", false
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err != nil {
		if !strings.EqualFold(host, "localhost") && !strings.HasSuffix(strings.ToLower(host), ".localhost") {
			return "", false
		}
	} else if !ip.Unmap().IsLoopback() {
		return "", false
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	return net.JoinHostPort(host, port), true
}
