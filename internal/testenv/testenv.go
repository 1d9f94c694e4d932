// Package testenv gives tests (and the demo) a real Kubernetes API server: the local control
// plane that test/cluster builds and runs, or an already running one named by
// PACH_UPGRADE_TEST_KUBECONFIG.
//
// A test package opts in with
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// and its tests call RESTConfig, Namespace, Helm3 and friends.
package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Environment variables that connect tests to a cluster.
const (
	// EnvKubeconfig names the kubeconfig of a running cluster; Main sets it for the test process.
	EnvKubeconfig = "PACH_UPGRADE_TEST_KUBECONFIG"
	// EnvClusterDir names the test/cluster state dir, needed to restart the API server.
	EnvClusterDir = "PACH_UPGRADE_TEST_CLUSTER_DIR"
	// EnvHelm3 names the Helm 3 CLI built beside the control plane.
	EnvHelm3 = "PACH_UPGRADE_TEST_HELM3"
	// EnvHelm4 names the Helm 4 CLI built beside the control plane.
	EnvHelm4 = "PACH_UPGRADE_TEST_HELM4"
	// EnvFixtures names the folder of the real Pachyderm charts when it is not
	// ../shared/fixtures/pachyderm beside the repository.
	EnvFixtures = "PACH_UPGRADE_TEST_FIXTURES"
)

// Pod annotations that the cluster's kwok stages turn into failures.
const (
	// AnnotationNeverReady: the pod runs but never becomes Ready.
	AnnotationNeverReady = "pach-upgrade.test/never-ready"
	// AnnotationCrashLoop: the containers wait in CrashLoopBackOff, restartCount counting up.
	AnnotationCrashLoop = "pach-upgrade.test/crash-loop"
	// AnnotationImagePullBackOff: the pod stays Pending, its containers in ImagePullBackOff.
	AnnotationImagePullBackOff = "pach-upgrade.test/image-pull-backoff"
)

// Cluster is a control plane started by Start, or one found through the environment.
type Cluster struct {
	root       string
	dir        string
	kubeconfig string
	helm3      string
	helm4      string
	tmp        string // removed by Stop when Start created it
}

// Kubeconfig returns the path of the admin kubeconfig.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// Helm3 returns the path of the Helm 3 CLI built with the cluster.
func (c *Cluster) Helm3() string { return c.helm3 }

// Helm4 returns the path of the Helm 4 CLI built with the cluster.
func (c *Cluster) Helm4() string { return c.helm4 }

// Dir returns the cluster's state directory.
func (c *Cluster) Dir() string { return c.dir }

// RepoRoot walks up from the working directory to the repository root, the directory that
// holds test/cluster/go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("get working dir: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "test", "cluster", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root (with test/cluster/go.mod) not found above the working dir")
		}
		dir = parent
	}
}

// StartOptions change how Start boots a cluster.
type StartOptions struct {
	// TokenWebhookURL, when set, makes the API server also authenticate bearer tokens with this
	// TokenReview webhook (results cached for 1s), as managed clusters authenticate cloud
	// identities.
	TokenWebhookURL string
	// PodReadyAfter, when its Max is set, makes kwok start every pod not Ready and make it
	// Ready a time drawn uniformly from [Min, Max) later, as a program whose readiness probe
	// passes once it has started up. By default pods are Ready as soon as they run.
	PodReadyAfter DelayRange
}

// DelayRange is a random delay between Min and Max.
type DelayRange struct{ Min, Max time.Duration }

// Start builds (if needed) and starts a private cluster, streaming progress to logw. The
// cluster stops by itself if this process exits without calling Stop.
func Start(ctx context.Context, logw io.Writer) (*Cluster, error) {
	return StartWith(ctx, logw, StartOptions{})
}

// StartWith is Start with options.
func StartWith(ctx context.Context, logw io.Writer, opts StartOptions) (*Cluster, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "pach-upgrade-cluster-")
	if err != nil {
		return nil, fmt.Errorf("create cluster dir: %w", err)
	}
	c := &Cluster{root: root, dir: filepath.Join(tmp, "state"), tmp: tmp}
	var out bytes.Buffer
	args := []string{"up", "--dir", c.dir, "--owner-pid", strconv.Itoa(os.Getpid())}
	if opts.TokenWebhookURL != "" {
		args = append(args, "--token-webhook", opts.TokenWebhookURL)
	}
	if opts.PodReadyAfter.Max > 0 {
		args = append(args, "--pod-ready-after", opts.PodReadyAfter.Min.String()+"-"+opts.PodReadyAfter.Max.String())
	}
	err = c.tool(ctx, &out, logw, args...)
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("start local cluster: %w", err)
	}
	env := parseEnv(out.String())
	c.kubeconfig, c.helm3, c.helm4 = env["KUBECONFIG"], env["HELM3"], env["HELM4"]
	if c.kubeconfig == "" {
		_ = c.Stop(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("start local cluster: no KUBECONFIG line in its output:\n%s", out.String())
	}
	return c, nil
}

// Use returns the cluster named by PACH_UPGRADE_TEST_KUBECONFIG when it is set, and otherwise
// starts a private one as Start does. Stop leaves a cluster found through the environment
// running.
func Use(ctx context.Context, logw io.Writer) (*Cluster, error) {
	if c := fromEnv(); c != nil {
		return c, nil
	}
	return Start(ctx, logw)
}

// Stop stops a cluster that Start started and removes its state.
func (c *Cluster) Stop(ctx context.Context) error {
	if c.tmp == "" {
		return nil
	}
	err := c.tool(ctx, io.Discard, io.Discard, "down", "--dir", c.dir)
	// Removing the state dir also makes the cluster's watchdog stop it, so this is the fallback.
	if rmErr := os.RemoveAll(c.tmp); rmErr != nil && err == nil {
		err = rmErr
	}
	if err != nil {
		return fmt.Errorf("stop local cluster: %w", err)
	}
	return nil
}

// RestartAPIServer restarts the cluster's kube-apiserver and returns once it is Ready again.
func (c *Cluster) RestartAPIServer(ctx context.Context) error {
	if c.dir == "" {
		return fmt.Errorf("cluster state dir unknown: set %s", EnvClusterDir)
	}
	if err := c.tool(ctx, io.Discard, io.Discard, "restart-apiserver", "--dir", c.dir); err != nil {
		return fmt.Errorf("restart API server: %w", err)
	}
	return nil
}

// tool runs the test/cluster command with go run, outside any workspace of the caller.
func (c *Cluster) tool(ctx context.Context, stdout, stderr io.Writer, args ...string) error {
	root := c.root
	if root == "" {
		var err error
		if root, err = RepoRoot(); err != nil {
			return err
		}
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	var errBuf bytes.Buffer
	cmd := exec.CommandContext(ctx, goBin, append([]string{"-C", filepath.Join(root, "test", "cluster"), "run", "."}, args...)...)
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	cmd.Stdout = stdout
	cmd.Stderr = io.MultiWriter(stderr, &tailWriter{buf: &errBuf})
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cluster %s: %w: %s", args[0], err, lastLines(errBuf.String(), 15))
	}
	return nil
}

// fromEnv describes the cluster named by the environment, or nil.
func fromEnv() *Cluster {
	kc := os.Getenv(EnvKubeconfig)
	if kc == "" {
		return nil
	}
	c := &Cluster{kubeconfig: kc, dir: os.Getenv(EnvClusterDir), helm3: os.Getenv(EnvHelm3), helm4: os.Getenv(EnvHelm4)}
	// A cluster started by hand with test/cluster keeps its kubeconfig in its state dir.
	if c.dir == "" || c.helm3 == "" || c.helm4 == "" {
		if b, err := os.ReadFile(filepath.Join(filepath.Dir(kc), "cluster.env")); err == nil {
			env := parseEnv(string(b))
			if c.dir == "" {
				c.dir = env["DIR"]
			}
			if c.helm3 == "" {
				c.helm3 = env["HELM3"]
			}
			if c.helm4 == "" {
				c.helm4 = env["HELM4"]
			}
		}
	}
	return c
}

// Main runs the package's tests against a cluster: the one named by PACH_UPGRADE_TEST_KUBECONFIG,
// or a private one started for this test binary and stopped after it. When the cluster cannot
// start, the tests fail if CI=true and are skipped with the reason otherwise.
func Main(m *testing.M) {
	os.Exit(run(m))
}

// MainWith is Main for tests that need a cluster started with opts: it always starts a private
// one, since a cluster named by the environment was not started with them.
func MainWith(m *testing.M, opts StartOptions) int {
	return runWith(m, opts, true)
}

func run(m *testing.M) int { return runWith(m, StartOptions{}, false) }

func runWith(m *testing.M, opts StartOptions, private bool) int {
	if !private && fromEnv() != nil {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	c, err := StartWith(ctx, os.Stderr, opts)
	cancel()
	if err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "FAIL: testenv: local Kubernetes cluster did not start: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "SKIP: testenv: local Kubernetes cluster did not start, skipping this package's tests: %v\n", err)
		return 0
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
		}
	}()
	for k, v := range map[string]string{EnvKubeconfig: c.kubeconfig, EnvClusterDir: c.dir, EnvHelm3: c.helm3, EnvHelm4: c.helm4} {
		if err := os.Setenv(k, v); err != nil {
			fmt.Fprintln(os.Stderr, "testenv: set", k, err)
			return 1
		}
	}
	return m.Run()
}

func current(t testing.TB) *Cluster {
	t.Helper()
	c := fromEnv()
	if c == nil {
		msg := "no cluster: call testenv.Main from TestMain, or set " + EnvKubeconfig
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return c
}

// Kubeconfig returns the path of the cluster's admin kubeconfig.
func Kubeconfig(t testing.TB) string {
	t.Helper()
	return current(t).kubeconfig
}

// RESTConfig returns an admin *rest.Config for the cluster.
func RESTConfig(t testing.TB) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", Kubeconfig(t))
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	// Tests create many objects quickly; client-side throttling would only slow them down.
	cfg.QPS, cfg.Burst = 200, 400
	return cfg
}

// Helm3 returns the path of the Helm 3 CLI built with the cluster.
func Helm3(t testing.TB) string {
	t.Helper()
	c := current(t)
	if c.helm3 == "" {
		t.Fatalf("Helm 3 CLI unknown: set %s", EnvHelm3)
	}
	return c.helm3
}

// RestartAPIServer restarts the API server and returns once it is Ready again.
func RestartAPIServer(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := current(t).RestartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
}

// Namespace creates a namespace unique to the test, waits for its default ServiceAccount (pods
// are refused before it exists) and deletes the namespace when the test ends.
func Namespace(t testing.TB) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(RESTConfig(t))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := namespaceName(t.Name())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"pach-upgrade.test/owner": "testenv"}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
	err = wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("wait for default ServiceAccount in %s: %v", name, err)
	}
	return name
}

// namespaceName turns a test name into a valid, unique DNS label.
func namespaceName(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	base := strings.Trim(b.String(), "-")
	if len(base) > 48 {
		base = strings.Trim(base[:48], "-")
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	return "t-" + base + "-" + hex.EncodeToString(suffix)
}

// SharedFixtures returns the absolute path of the real Pachyderm charts kept beside the
// repository (../shared/fixtures/pachyderm). CI has them; a user's checkout may not.
func SharedFixtures(t testing.TB) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(filepath.Dir(root), "shared", "fixtures", "pachyderm")
	if d := os.Getenv(EnvFixtures); d != "" {
		dir = d // a checkout that is not beside ../shared (a git worktree elsewhere)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.yaml")); err != nil {
		msg := fmt.Sprintf("shared Pachyderm fixtures not found beside the repository: %v", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dir
}

func parseEnv(s string) map[string]string {
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok && k != "" && strings.ToUpper(k) == k {
			env[k] = v
		}
	}
	return env
}

// tailWriter keeps the last 64 KiB written, for error messages.
type tailWriter struct{ buf *bytes.Buffer }

func (w *tailWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if w.buf.Len() > 64<<10 {
		b := w.buf.Bytes()
		keep := append([]byte(nil), b[len(b)-(32<<10):]...)
		w.buf.Reset()
		w.buf.Write(keep)
	}
	return len(p), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
