package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/actionrun"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/chartrepo"
)

// slowReady is how long after it starts a pod of BenchmarkSlowReadyVsHelm's cluster turns
// Ready: a time drawn uniformly from this range, per pod (kwok's delay with jitter).
var slowReady = testenv.DelayRange{Min: 3 * time.Second, Max: 10 * time.Second}

// readyLine is the action's log line when its readiness watch has declared the rollout done
// (the "Helm upgrade" step's success).
const readyLine = "every workload and pod Ready"

// BenchmarkSlowReadyVsHelm: issue 23's healthy upgrade with realistic pod start times. A
// private cluster whose pods run not Ready at first and turn Ready 3–10 s after they start
// (testenv.StartOptions.PodReadyAfter); the real chart 2.11.5 → 2.11.6, interleaved:
//
//	action: the pach-upgrade binary as an Actions step on a PR (as in BenchmarkUpgradeVsHelm);
//	helm:   helm upgrade --reuse-values --wait with the Helm 4 CLI.
//
// A watch of each variant's pods, in this process, stamps the first new pod and every pod's
// turn to Ready. Besides each variant's wall time it reports:
//
//	applied:     from the start to the first new pod (the tool's work before the cluster's);
//	pods:        from there to the last pod's turn to Ready (the cluster's share, drawn at
//	             random anew for each run and variant);
//	after-ready: from the last pod's turn to Ready to the end (action: process exit, with the
//	             version check, summary and PR comment; helm: CLI exit);
//	own:         applied + after-ready, what the tool adds to the pods' time; and
//	             action/helm-same-pods, the ratio with the same pods' share for both (the
//	             median of all runs);
//	action lag:  from the last pod's turn to Ready to the moment the action's log says its
//	             readiness watch declared the rollout done (the line arrives through a pipe
//	             as the binary prints it). Target ≤ 100 ms.
//
// Both watches take the same events from the API server, so the lag is the action's own
// reaction plus the controllers' (the old pods deleted after the last new one is Ready),
// reported apart: lag-controllers from the last Ready to the last old pod marked for deletion
// (0 when that came first), lag-own the rest. The two stamps are taken in this process: on a
// loaded machine both can wait for it to be scheduled, and a small negative lag is the two
// arriving in the other order.
func BenchmarkSlowReadyVsHelm(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := testenv.StartWith(ctx, io.Discard, testenv.StartOptions{PodReadyAfter: slowReady})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Stop(context.Background()) })
	if c.Helm4() == "" {
		b.Fatal("the cluster has no Helm 4 CLI (HELM4 line): rebuild test/cluster's binaries")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		b.Fatal(err)
	}
	kube, err := cluster.New(rc)
	if err != nil {
		b.Fatal(err)
	}
	bin, err := actionrun.Build(ctx, repoRoot(b), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	cc := realChart()
	order := []string{"action", "helm"}
	vs, w := installVariants(ctx, b, kube, rc, cc, order, b.TempDir())
	defer w.Close()

	helmHome := b.TempDir()
	runner, inputs := prRun(b, c, w, bin, cc)
	inputs[config.InputGitHubToken] = "bench-token" // as when this benchmark's figures were taken
	inputs[config.InputNamespace] = vs["action"].ns
	inputs[config.InputPachdAddress] = w.Pachd.Address

	// run runs one variant and returns its start, its end and, for the action, when its log
	// said the rollout was done.
	run := map[string]func() (start, end, done time.Time, err error){
		"action": func() (start, end, done time.Time, err error) {
			r := runner
			stamp := &lineStamper{want: readyLine}
			r.Output = stamp
			start = time.Now()
			res, err := r.Run(ctx, maps.Clone(inputs))
			end = time.Now()
			if err != nil {
				return start, end, done, err
			}
			if res.ExitCode != 0 || res.Outputs["result"] != "upgraded" {
				return start, end, done, fmt.Errorf("action exit %d, result %q:\n%s", res.ExitCode, res.Outputs["result"], res.Log)
			}
			if done = stamp.at(); done.IsZero() {
				return start, end, done, fmt.Errorf("action log has no line %q:\n%s", readyLine, res.Log)
			}
			return start, end, done, nil
		},
		"helm": func() (start, end, done time.Time, err error) {
			cmd := exec.CommandContext(ctx, c.Helm4(), "upgrade", cc.releaseName, chartrepo.ChartName, "--repo", w.Charts.URL,
				"--version", cc.toChart, "--reuse-values", "--wait", "--timeout", "5m", "--namespace", vs["helm"].ns,
				"--kubeconfig", c.Kubeconfig())
			cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(helmHome, "cache"),
				"HELM_CONFIG_HOME="+filepath.Join(helmHome, "config"), "HELM_DATA_HOME="+filepath.Join(helmHome, "data"))
			start = time.Now()
			out, err := cmd.CombinedOutput()
			end = time.Now()
			if err != nil {
				return start, end, done, fmt.Errorf("helm upgrade --wait: %w\n%s", err, out)
			}
			return start, end, done, nil
		},
	}
	s := samples{}
	round := func(record bool) {
		for _, name := range order {
			v := vs[name]
			before, err := v.helm.Get(ctx, cc.releaseName)
			if err != nil {
				b.Fatal(err)
			}
			rw, err := watchReady(ctx, kube, v.ns)
			if err != nil {
				b.Fatal(err)
			}
			start, end, done, err := run[name]()
			if err != nil {
				rw.stop()
				b.Fatalf("%s: %v", name, err)
			}
			// Every pod Ready before the stamps are read: a tool that returned early would show
			// a pod turning Ready after its end (a negative after-ready).
			if err := kube.WaitReady(ctx, v.ns, cluster.Selection{Release: cc.releaseName}, 3*time.Minute, nil); err != nil {
				b.Fatalf("%s: after the upgrade: %v", name, err)
			}
			first, last, pod, n, delays, gone := rw.stop()
			if n == 0 || first.IsZero() {
				b.Fatalf("%s: no new pod turned Ready during the upgrade", name)
			}
			b.Logf("%s: first new pod %.3f s after the start; %d pods turned Ready, the last (%s) %.3f s after the start; end %.3f s after that; Ready after running: %s",
				name, seconds(first.Sub(start)), n, pod, seconds(last.Sub(start)), seconds(end.Sub(last)), strings.Join(delays, ", "))
			if record {
				s.add(name, seconds(end.Sub(start)))
				s.add(name+"-applied", seconds(first.Sub(start)))
				s.add(name+"-pods", seconds(last.Sub(first)))
				s.add(name+"-after-ready", seconds(end.Sub(last)))
				s.add(name+"-own", seconds(first.Sub(start)+end.Sub(last)))
				if !done.IsZero() {
					ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
					s.add(name+"-lag-ms", ms(done.Sub(last)))
					// Of which the controllers', when the old pods went after the last Ready;
					// the rest is the action's own reaction to the event that ended it.
					ctl := max(gone.Sub(last), 0)
					s.add(name+"-lag-controllers-ms", ms(ctl))
					s.add(name+"-lag-own-ms", ms(done.Sub(last)-ctl))
				}
			}
			// Back to the old chart, untimed, so every timed run is the same change.
			if err := v.helm.Rollback(ctx, cc.releaseName, before.Revision, 3*time.Minute); err != nil {
				b.Fatalf("%s: roll back: %v", name, err)
			}
			if err := kube.WaitReady(ctx, v.ns, cluster.Selection{Release: cc.releaseName}, 3*time.Minute, nil); err != nil {
				b.Fatalf("%s: after roll back: %v", name, err)
			}
		}
	}
	if os.Getenv("BENCH_NO_WARMUP") == "" {
		round(false) // pachctl into the tool cache, binaries into the page cache, Helm's repo cache
	}
	for b.Loop() {
		round(true)
	}
	for _, name := range []string{"action", "helm", "action-applied", "helm-applied", "action-pods", "helm-pods",
		"action-after-ready", "helm-after-ready", "action-own", "helm-own"} {
		s.log(b, name, "s")
	}
	// The pods' share drawn at random differs between the variants; with the same share (the
	// median of all runs of both) the ratio is that of what each tool adds to it.
	pods := samples{"all": append(append([]float64{}, s["action-pods"]...), s["helm-pods"]...)}.median("all")
	b.ReportMetric((s.median("action-own")+pods)/(s.median("helm-own")+pods), "action/helm-same-pods")
	b.ReportMetric(s.median("action-own"), "action-own-s")
	b.ReportMetric(s.median("helm-own"), "helm-own-s")
	for _, name := range []string{"action-lag-ms", "action-lag-controllers-ms", "action-lag-own-ms"} {
		s.log(b, name, "ms")
	}
	b.ReportMetric(s.median("action"), "action-s")
	b.ReportMetric(s.median("helm"), "helm-wait-s")
	b.ReportMetric(s.median("action")/s.median("helm"), "action/helm")
	b.ReportMetric(s.median("action-after-ready"), "action-after-ready-s")
	b.ReportMetric(s.median("helm-after-ready"), "helm-after-ready-s")
	b.ReportMetric(s.median("action-lag-ms"), "action-lag-ms")
}

// lineStamper is the action's live output: it notes when the first line holding want arrives.
type lineStamper struct {
	want string
	mu   sync.Mutex
	buf  []byte
	when time.Time
}

func (l *lineStamper) Write(p []byte) (int, error) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.when.IsZero() {
		return len(p), nil
	}
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		if strings.Contains(string(l.buf[:i]), l.want) {
			l.when, l.buf = now, nil
			return len(p), nil
		}
		l.buf = l.buf[i+1:]
	}
}

func (l *lineStamper) at() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.when
}

// readyWatch stamps, as the events arrive, every pod of a namespace turning Ready.
type readyWatch struct {
	w    watch.Interface
	done chan struct{}
	mu   sync.Mutex
	// first is when the first new pod appeared: the upgrade applied.
	first time.Time
	last  time.Time
	pod   string
	n     int
	// started is when each new pod was first seen running; delays how long after that each
	// turned Ready ("pod 4.2s"), to check the stages' draw.
	started map[types.UID]time.Time
	delays  []string
	// gone is when the last pod of those listed at the start was marked for deletion (or
	// deleted): the controllers' end of a rollout, which the action's watch waits for too.
	gone time.Time
}

func watchReady(ctx context.Context, kube *cluster.Client, ns string) (*readyWatch, error) {
	pods := kube.Clientset().CoreV1().Pods(ns)
	list, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	ready := map[types.UID]bool{}
	old := map[types.UID]bool{}
	for i := range list.Items {
		ready[list.Items[i].UID] = isReady(&list.Items[i])
		if list.Items[i].DeletionTimestamp == nil {
			old[list.Items[i].UID] = true
		}
	}
	w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		return nil, err
	}
	rw := &readyWatch{w: w, done: make(chan struct{}), started: map[types.UID]time.Time{}}
	go func() {
		defer close(rw.done)
		for ev := range w.ResultChan() {
			now := time.Now()
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted || p.DeletionTimestamp != nil {
				if _, wasOld := old[p.UID]; wasOld {
					delete(old, p.UID)
					rw.mu.Lock()
					rw.gone = now
					rw.mu.Unlock()
				}
			}
			if ev.Type == watch.Deleted {
				continue
			}
			r := isReady(p) && p.DeletionTimestamp == nil
			if _, known := ready[p.UID]; !known {
				rw.mu.Lock()
				if rw.first.IsZero() {
					rw.first = now
				}
				rw.mu.Unlock()
			}
			if _, ok := rw.started[p.UID]; !ok && p.Status.Phase == corev1.PodRunning {
				rw.started[p.UID] = now
			}
			if r && !ready[p.UID] {
				rw.mu.Lock()
				if t, ok := rw.started[p.UID]; ok {
					rw.delays = append(rw.delays, fmt.Sprintf("%s %.3fs", p.Name, seconds(now.Sub(t))))
				}
				rw.last, rw.pod = now, p.Name
				rw.n++
				rw.mu.Unlock()
			}
			ready[p.UID] = r
		}
	}()
	return rw, nil
}

// stop ends the watch and returns when the first new pod appeared, when the last pod turned
// Ready, its name and how many did.
func (rw *readyWatch) stop() (first, last time.Time, pod string, n int, delays []string, gone time.Time) {
	rw.w.Stop()
	<-rw.done
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.first, rw.last, rw.pod, rw.n, rw.delays, rw.gone
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
