package main

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	etcdembed "go.etcd.io/etcd/server/v3/embed"
)

const supervisorCommand = "_supervise"

//go:embed stages/*.yaml stages/delayed-ready/*.yaml
var stagesFS embed.FS

// readyDelay is up's --pod-ready-after: when max is set, kwok starts every pod not Ready and
// makes it Ready a time drawn from [min, max) later (stages/delayed-ready), instead of Ready
// at once (stages/pod-ready.yaml).
type readyDelay struct{ min, max time.Duration }

func (d readyDelay) String() string {
	if d.max == 0 {
		return ""
	}
	return d.min.String() + "-" + d.max.String()
}

// Set parses MIN-MAX (3s-10s) or a single duration (no jitter).
func (d *readyDelay) Set(v string) error {
	if v == "" {
		*d = readyDelay{}
		return nil
	}
	lo, hi, ranged := strings.Cut(v, "-")
	if !ranged {
		hi = lo
	}
	from, err := time.ParseDuration(lo)
	if err != nil {
		return fmt.Errorf("pod-ready-after %q: want MIN-MAX, e.g. 3s-10s: %w", v, err)
	}
	to, err := time.ParseDuration(hi)
	if err != nil {
		return fmt.Errorf("pod-ready-after %q: want MIN-MAX, e.g. 3s-10s: %w", v, err)
	}
	if from < 0 || to < from || to == 0 {
		return fmt.Errorf("pod-ready-after %q: want 0 <= MIN <= MAX and MAX > 0, e.g. 3s-10s", v)
	}
	*d = readyDelay{min: from, max: to}
	return nil
}

// crdsFS holds kwok's CRDs for exec and port-forward into its pods.
//
//go:embed crds/*.yaml
var crdsFS embed.FS

// kwokCRDs are the kwok features served from CRDs: exec and port-forward into kwok's pods run a
// local command or reach a local port, as an Exec/ClusterExec or PortForward/ClusterPortForward
// object says.
const kwokCRDs = "Exec,ClusterExec,PortForward,ClusterPortForward"

// proc is one child process that the supervisor restarts when it exits unexpectedly.
type proc struct {
	name string
	path string
	args []string
	logf *os.File

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	stopped bool
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.path, p.args...)
	cmd.Stdout = p.logf
	cmd.Stderr = p.logf
	// Pdeathsig makes the kernel kill the child if the supervisor dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.stopped = cmd, done, false
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	return nil
}

// exited reports whether the process ended without being asked to.
func (p *proc) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.stopped {
		return false
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// stop sends SIGTERM, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.stopped = true
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// supervise runs the whole control plane in this process (etcd embedded) and its children, until
// it is told to stop (SIGTERM from down), its state dir disappears, its owner process exits or
// maxLife passes: the last three keep a crashed test from leaving clusters running forever.
func supervise(ctx context.Context, dir string, ownerPID int, maxLife time.Duration, webhook string, ready readyDelay) error {
	binDir := os.Getenv("PACH_UPGRADE_CLUSTER_BIN_DIR")
	if binDir == "" {
		return errors.New("PACH_UPGRADE_CLUSTER_BIN_DIR not set (the supervisor is started by up)")
	}
	bins := binariesIn(binDir)
	deadline := time.Now().Add(maxLife)
	if err := os.WriteFile(statePath(dir, pidFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	c, err := startControlPlane(ctx, dir, bins, webhook, ready)
	if err != nil {
		_ = os.WriteFile(statePath(dir, failedFile), []byte(err.Error()), 0o644)
		if c != nil {
			c.shutdown()
		}
		return err
	}
	defer c.shutdown()

	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Println("supervisor: asked to stop")
			return nil
		case <-usr1:
			if err := c.restartAPIServer(ctx); err != nil {
				fmt.Println("supervisor: restart API server:", err)
			}
		case <-tick.C:
			if _, err := os.Stat(statePath(dir, pidFile)); err != nil {
				fmt.Println("supervisor: state dir removed; stopping")
				return nil
			}
			if ownerPID > 0 && !processAlive(ownerPID) {
				fmt.Printf("supervisor: owner process %d exited; stopping\n", ownerPID)
				return nil
			}
			if time.Now().After(deadline) {
				fmt.Printf("supervisor: max lifetime %s reached; stopping\n", maxLife)
				return nil
			}
			for _, p := range c.procs {
				if p.exited() {
					fmt.Printf("supervisor: %s exited unexpectedly; restarting (log: %s)\n", p.name, p.logf.Name())
					if err := p.start(); err != nil {
						fmt.Println("supervisor:", err)
					}
					c.writeChildren()
				}
			}
		}
	}
}

type controlPlane struct {
	dir    string
	etcd   *etcdembed.Etcd
	pki    pki
	server string
	client *http.Client
	api    *proc
	procs  []*proc
	logs   []*os.File
}

func startControlPlane(ctx context.Context, dir string, bins Binaries, webhook string, ready readyDelay) (*controlPlane, error) {
	c := &controlPlane{dir: dir}
	start := time.Now()
	p, err := generatePKI(filepath.Join(dir, "pki"))
	if err != nil {
		return c, err
	}
	c.pki = p
	ports, err := freePorts(6)
	if err != nil {
		return c, err
	}
	etcdClient, etcdPeer, apiPort, cmPort, schedPort, kubeletPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]

	if err := c.startEtcd(etcdClient, etcdPeer); err != nil {
		return c, err
	}
	fmt.Printf("supervisor: etcd ready after %s\n", time.Since(start).Round(time.Millisecond))

	c.server = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	kubeconfig := statePath(dir, kubeconfigFile)
	if err := writeKubeconfig(kubeconfig, c.server, p); err != nil {
		return c, err
	}
	if c.client, err = adminClient(p); err != nil {
		return c, err
	}
	if err := os.MkdirAll(statePath(dir, logDir), 0o755); err != nil {
		return c, fmt.Errorf("create log dir: %w", err)
	}
	apiArgs := []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(etcdClient),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--cert-dir=" + filepath.Join(dir, "pki"),
		"--tls-cert-file=" + p.ServingCert,
		"--tls-private-key-file=" + p.ServingKey,
		"--client-ca-file=" + p.CACert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.SAPub,
		"--service-account-signing-key-file=" + p.SAKey,
		"--authorization-mode=Node,RBAC",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--profiling=false",
		// Exec and port-forward go to kwok's kubelet API, at the node's InternalIP (127.0.0.1):
		// the node's Hostname does not resolve.
		"--kubelet-client-certificate=" + p.KubeletClientCert,
		"--kubelet-client-key=" + p.KubeletClientKey,
		"--kubelet-certificate-authority=" + p.CACert,
		"--kubelet-preferred-address-types=InternalIP",
	}
	if webhook != "" {
		authn, err := writeTokenWebhookConfig(dir, webhook)
		if err != nil {
			return c, err
		}
		// A short webhook cache; the API server still keeps an accepted token for 10s.
		apiArgs = append(apiArgs, "--authentication-token-webhook-config-file="+authn,
			"--authentication-token-webhook-version=v1", "--authentication-token-webhook-cache-ttl=1s")
	}
	c.api, err = c.newProc("kube-apiserver", bins.APIServer, apiArgs...)
	if err != nil {
		return c, err
	}
	if err := c.api.start(); err != nil {
		return c, err
	}
	c.writeChildren()
	if err := waitAPIReady(ctx, c.client, c.server, 60*time.Second); err != nil {
		return c, fmt.Errorf("%w (log: %s)", err, c.api.logf.Name())
	}
	fmt.Printf("supervisor: API server ready after %s\n", time.Since(start).Round(time.Millisecond))

	if err := c.createObjects(ctx); err != nil {
		return c, err
	}
	kwokConfig := statePath(dir, "kwok.yaml")
	if err := writeKwokConfig(kwokConfig, ready); err != nil {
		return c, err
	}
	common := []string{"--kubeconfig=" + kubeconfig, "--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig, "--leader-elect=false", "--bind-address=127.0.0.1"}
	cm, err := c.newProc("kube-controller-manager", bins.ControllerManager, append(common,
		"--secure-port="+strconv.Itoa(cmPort),
		"--service-account-private-key-file="+p.SAKey,
		"--root-ca-file="+p.CACert,
		"--use-service-account-credentials=true",
		"--cluster-signing-cert-file="+p.CACert,
		"--cluster-signing-key-file="+p.CAKey,
		"--profiling=false",
	)...)
	if err != nil {
		return c, err
	}
	sched, err := c.newProc("kube-scheduler", bins.Scheduler, append(common,
		"--secure-port="+strconv.Itoa(schedPort),
		"--profiling=false",
	)...)
	if err != nil {
		return c, err
	}
	kwok, err := c.newProc("kwok", bins.Kwok,
		"--kubeconfig="+kubeconfig,
		"--config="+kwokConfig,
		"--manage-all-nodes=true",
		"--cidr=10.244.0.0/16",
		// The node's address and kubelet port are where the API server sends exec and
		// port-forward; kwok serves them there (kwokctl's binary runtime does the same).
		"--node-ip=127.0.0.1",
		"--node-port="+strconv.Itoa(kubeletPort),
		"--server-address=127.0.0.1:"+strconv.Itoa(kubeletPort),
		"--tls-cert-file="+p.KwokCert,
		"--tls-private-key-file="+p.KwokKey,
		"--enable-crds="+kwokCRDs,
	)
	if err != nil {
		return c, err
	}
	for _, p := range []*proc{cm, sched, kwok} {
		if err := p.start(); err != nil {
			return c, err
		}
	}
	c.writeChildren()

	env := fmt.Sprintf("DIR=%s\nAPI_SERVER=%s\nBIN_DIR=%s\nHELM3=%s\nHELM4=%s\nKUBECONFIG=%s\n", dir, c.server, bins.Dir, bins.Helm3, bins.Helm4, kubeconfig)
	if err := os.WriteFile(statePath(dir, envFile), []byte(env), 0o644); err != nil {
		return c, fmt.Errorf("write cluster env: %w", err)
	}
	if err := os.WriteFile(statePath(dir, restartsFile), []byte("0"), 0o644); err != nil {
		return c, fmt.Errorf("write restart counter: %w", err)
	}
	if err := os.WriteFile(statePath(dir, readyFile), []byte(time.Now().Format(time.RFC3339)), 0o644); err != nil {
		return c, fmt.Errorf("write ready marker: %w", err)
	}
	fmt.Printf("supervisor: control plane up after %s\n", time.Since(start).Round(time.Millisecond))
	return c, nil
}

func (c *controlPlane) newProc(name, path string, args ...string) (*proc, error) {
	f, err := os.OpenFile(filepath.Join(c.dir, logDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	c.logs = append(c.logs, f)
	p := &proc{name: name, path: path, args: args, logf: f}
	c.procs = append(c.procs, p)
	return p, nil
}

func (c *controlPlane) startEtcd(clientPort, peerPort int) error {
	cfg := etcdembed.NewConfig()
	cfg.Name = "pach-upgrade-test"
	cfg.Dir = filepath.Join(c.dir, "etcd")
	cu, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(clientPort))
	pu, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(peerPort))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	// The data is thrown away with the cluster, so fsync buys nothing but slowness.
	cfg.UnsafeNoFsync = true
	e, err := etcdembed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("start embedded etcd: %w", err)
	}
	c.etcd = e
	select {
	case <-e.Server.ReadyNotify():
		return nil
	case err := <-e.Err():
		return fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(30 * time.Second):
		return errors.New("embedded etcd not ready after 30s")
	}
}

// createObjects adds what kwok needs to schedule workloads: one fake Node and a default
// StorageClass whose claims kwok's volume stages bind.
func (c *controlPlane) createObjects(ctx context.Context) error {
	node := `{"apiVersion":"v1","kind":"Node","metadata":{"name":"kwok-node-0",
"annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},
"labels":{"type":"kwok","kubernetes.io/hostname":"kwok-node-0","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64"}},
"status":{"allocatable":{"cpu":"64","memory":"256Gi","pods":"500"},"capacity":{"cpu":"64","memory":"256Gi","pods":"500"}}}`
	sc := `{"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{"name":"kwok-volume",
"annotations":{"storageclass.kubernetes.io/is-default-class":"true"}},
"provisioner":"kwok.x-k8s.io/volume","reclaimPolicy":"Delete","volumeBindingMode":"Immediate"}`
	type object struct{ path, body, contentType string }
	objs := []object{{"/api/v1/nodes", node, "application/json"}, {"/apis/storage.k8s.io/v1/storageclasses", sc, "application/json"}}
	crds, err := fs.Glob(crdsFS, "crds/*.yaml")
	if err != nil {
		return fmt.Errorf("list kwok CRDs: %w", err)
	}
	for _, n := range crds {
		b, err := crdsFS.ReadFile(n)
		if err != nil {
			return fmt.Errorf("read %s: %w", n, err)
		}
		// The API server takes YAML bodies as they are.
		objs = append(objs, object{"/apis/apiextensions.k8s.io/v1/customresourcedefinitions", string(b), "application/yaml"})
	}
	for _, o := range objs {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.server+o.path, strings.NewReader(o.body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", o.contentType)
		resp, err := c.client.Do(req)
		if err != nil {
			return fmt.Errorf("create %s: %w", o.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusConflict {
			return fmt.Errorf("create %s: %s", o.path, resp.Status)
		}
	}
	return c.waitCRDsEstablished(ctx, len(crds))
}

// waitCRDsEstablished waits until the API server serves the kwok CRDs, which kwok lists and
// watches as it starts.
func (c *controlPlane) waitCRDsEstablished(ctx context.Context, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last error
	for {
		last = c.kwokGroupServes(ctx, n)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kwok CRDs not served after 30s: %w", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *controlPlane) kwokGroupServes(ctx context.Context, n int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.server+"/apis/kwok.x-k8s.io/v1alpha1", nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /apis/kwok.x-k8s.io/v1alpha1: %s", resp.Status)
	}
	if got := strings.Count(string(body), `"namespaced"`); got < n {
		return fmt.Errorf("%d of %d kwok resources served", got, n)
	}
	return nil
}

// writeTokenWebhookConfig writes the kubeconfig-format file that points kube-apiserver's webhook
// token authenticator at url.
func writeTokenWebhookConfig(dir, url string) (string, error) {
	path := statePath(dir, "token-webhook.kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: token-webhook
  cluster:
    server: %q
users:
- name: kube-apiserver
contexts:
- name: token-webhook
  context:
    cluster: token-webhook
    user: kube-apiserver
current-context: token-webhook
`, url)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return "", fmt.Errorf("write token webhook config: %w", err)
	}
	return path, nil
}

// writeKwokConfig writes all stages as one multi-document kwok config file. With a ready
// delay, pod-ready.yaml gives way to the delayed-ready stages.
func writeKwokConfig(path string, ready readyDelay) error {
	names, err := fs.Glob(stagesFS, "stages/*.yaml")
	if err != nil {
		return fmt.Errorf("list stages: %w", err)
	}
	if ready.max > 0 {
		names = slices.DeleteFunc(names, func(n string) bool { return n == "stages/pod-ready.yaml" })
		delayed, err := fs.Glob(stagesFS, "stages/delayed-ready/*.yaml")
		if err != nil {
			return fmt.Errorf("list stages: %w", err)
		}
		names = append(names, delayed...)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	for _, n := range names {
		b, err := stagesFS.ReadFile(n)
		if err != nil {
			return fmt.Errorf("read stage %s: %w", n, err)
		}
		b = bytes.ReplaceAll(b, []byte("POD_READY_MIN_MS"), []byte(strconv.FormatInt(ready.min.Milliseconds(), 10)))
		b = bytes.ReplaceAll(b, []byte("POD_READY_MAX_MS"), []byte(strconv.FormatInt(ready.max.Milliseconds(), 10)))
		buf.WriteString("---\n")
		buf.Write(b)
		if !bytes.HasSuffix(b, []byte("\n")) {
			buf.WriteByte('\n')
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write kwok config: %w", err)
	}
	return nil
}

// restartAPIServer stops and starts kube-apiserver on the same port and data, then bumps the
// restart counter that the restart-apiserver command waits on.
func (c *controlPlane) restartAPIServer(ctx context.Context) error {
	fmt.Println("supervisor: restarting API server")
	c.api.stop(10 * time.Second)
	if err := c.api.start(); err != nil {
		return err
	}
	c.writeChildren()
	if err := waitAPIReady(ctx, c.client, c.server, 60*time.Second); err != nil {
		return err
	}
	b, _ := os.ReadFile(statePath(c.dir, restartsFile))
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := os.WriteFile(statePath(c.dir, restartsFile), []byte(strconv.Itoa(n+1)), 0o644); err != nil {
		return fmt.Errorf("write restart counter: %w", err)
	}
	fmt.Println("supervisor: API server ready again")
	return nil
}

// writeChildren records child pids so status can report their memory.
func (c *controlPlane) writeChildren() {
	var b strings.Builder
	for _, p := range c.procs {
		if pid := p.pid(); pid > 0 {
			fmt.Fprintf(&b, "%s=%d\n", p.name, pid)
		}
	}
	_ = os.WriteFile(statePath(c.dir, childPIDsFile), []byte(b.String()), 0o644)
}

func (c *controlPlane) shutdown() {
	_ = os.Remove(statePath(c.dir, readyFile))
	// Reverse start order: the API server goes after its clients, etcd last.
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop(5 * time.Second)
	}
	if c.etcd != nil {
		c.etcd.Close()
	}
	for _, f := range c.logs {
		f.Close()
	}
}
