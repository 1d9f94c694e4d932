package bench

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/github"
	"github.com/pach-upgrade/pach-upgrade/internal/helmrelease"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
	"github.com/pach-upgrade/pach-upgrade/internal/upgrade"
)

// Pipeline workers in the crowded namespace: what Pachyderm itself runs beside its release,
// with labels no workload of the chart selects.
const (
	workerPipelines   = 10
	workersPerPipline = 50
)

// BenchmarkUpgradeScale runs the same upgrade (the action in-process, real chart 2.11.5 →
// 2.11.6, rolled back untimed after each run) in an empty namespace and in one that also holds
// 500 pipeline worker pods (held Pending by a scheduling gate, see addWorkers), interleaved. It counts the action's API requests at its client (a
// counting RoundTripper through rest.Config.WrapTransport) and the API server's
// apiserver_request_total over the run (every client: the controllers and kwok as well).
func BenchmarkUpgradeScale(b *testing.B) {
	_, rc := clusterFor(b)
	rc.QPS, rc.Burst = 200, 400
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kube, err := cluster.New(rc)
	if err != nil {
		b.Fatal(err)
	}
	cc := realChart()
	type side struct {
		name  string
		ns    string
		world *world.World
		rc    *rest.Config
		count *countingTransport
	}
	var sides []*side
	for _, name := range []string{"empty", "crowded"} {
		s := &side{name: name, ns: namespace(b, kube)}
		if s.world, err = world.New(ctx, cc.worldOptions(b, world.Options{RESTConfig: rc, Namespace: s.ns, Dir: b.TempDir(),
			Changelog: realChangelog})); err != nil {
			b.Fatal(err)
		}
		defer s.world.Close()
		if _, err := s.world.Install(ctx, cc.releaseName, cc.fromChart, cc.values); err != nil {
			b.Fatal(err)
		}
		if err := kube.WaitReady(ctx, s.ns, cluster.Selection{Release: cc.releaseName}, 3*time.Minute, nil); err != nil {
			b.Fatal(err)
		}
		s.rc, s.count = counted(rc)
		sides = append(sides, s)
	}
	if err := addWorkers(ctx, kube, sides[1].ns); err != nil {
		b.Fatal(err)
	}

	tools := b.TempDir()
	runOnce := func(s *side) (time.Duration, error) {
		raw := s.world.Inputs()
		raw[config.InputRelease] = cc.releaseName
		raw[config.InputTargetVersion] = cc.toApp
		raw[config.InputBackupDir] = b.TempDir()
		raw[config.InputTimeout] = "5m"
		cfg, err := config.Parse(raw)
		if err != nil {
			return 0, err
		}
		gh, err := github.NewClient(github.Options{APIURL: s.world.GitHub.APIURL, ServerURL: s.world.GitHub.ServerURL})
		if err != nil {
			return 0, err
		}
		start := time.Now()
		k, err := cluster.New(s.rc)
		if err != nil {
			return 0, err
		}
		hc, err := helmrelease.New(s.rc, s.ns)
		if err != nil {
			return 0, err
		}
		rep := upgrade.Run(ctx, cfg, upgrade.Deps{Log: report.NewCLILogger(io.Discard, io.Discard), Cluster: k, Helm: hc,
			GitHub: gh, Holder: "bench " + s.name, ToolCache: tools, TempDir: b.TempDir()})
		d := time.Since(start)
		if rep.Result != report.ResultUpgraded {
			return 0, fmt.Errorf("%s: result %s: %s", s.name, rep.Result, rep.Failure)
		}
		return d, nil
	}
	st := samples{}
	byKind := map[string]map[string]int{}
	round := func(record bool) {
		for _, s := range sides {
			before, err := s.world.Helm.Get(ctx, cc.releaseName)
			if err != nil {
				b.Fatal(err)
			}
			if err := nodeSchedulable(ctx, kube); err != nil {
				b.Fatal(err)
			}
			s.count.reset()
			srvBefore, err := apiserverRequests(ctx, kube.Clientset())
			if err != nil {
				b.Fatal(err)
			}
			d, err := runOnce(s)
			if err != nil {
				b.Fatal(err)
			}
			srvAfter, err := apiserverRequests(ctx, kube.Clientset())
			if err != nil {
				b.Fatal(err)
			}
			client := s.count.total.Load()
			kinds := s.count.reset()
			if record {
				st.add(s.name+"-s", seconds(d))
				st.add(s.name+"-client-req", float64(client))
				st.add(s.name+"-server-req", srvAfter-srvBefore)
				byKind[s.name] = kinds
			}
			if err := s.world.Helm.Rollback(ctx, cc.releaseName, before.Revision, 3*time.Minute); err != nil {
				b.Fatalf("%s: roll back: %v", s.name, err)
			}
			if err := kube.WaitReady(ctx, s.ns, cluster.Selection{Release: cc.releaseName}, 3*time.Minute, nil); err != nil {
				b.Fatalf("%s: after roll back: %v", s.name, err)
			}
		}
	}
	round(false) // warm-up: pachctl into the tool cache
	for b.Loop() {
		round(true)
	}
	for _, m := range []struct{ name, unit string }{{"-s", "s"}, {"-client-req", "req"}, {"-server-req", "req"}} {
		for _, s := range sides {
			st.log(b, s.name+m.name, m.unit)
		}
		ratio := st.median("crowded"+m.name) / st.median("empty"+m.name)
		b.Logf("crowded/empty%s = %.3f", m.name, ratio)
		b.ReportMetric(st.median("empty"+m.name), "empty"+m.name)
		b.ReportMetric(st.median("crowded"+m.name), "crowded"+m.name)
		b.ReportMetric(ratio, "ratio"+m.name)
	}
	for _, s := range sides {
		b.Logf("%s: client requests of the last run by kind: %s", s.name, formatKinds(byKind[s.name]))
	}
}

func formatKinds(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// addWorkers creates 500 pipeline worker pods (ReplicationControllers, as pachd makes them)
// and waits until all exist.
func addWorkers(ctx context.Context, kube *cluster.Client, ns string) error {
	cs := kube.Clientset()
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return fmt.Errorf("default ServiceAccount in %s: %w", ns, err)
	}
	// The workers carry a scheduling gate, so they stay Pending and neither the scheduler nor
	// kwok works on them: on this loaded machine kwok, busy with 500 running pods, left the
	// release's new pods Pending for minutes. For the action they are what matters here: 500
	// more pods its watch lists and receives, none of them its own.
	for i := range workerPipelines {
		name := fmt.Sprintf("pipeline-edges-%d-v1", i)
		labels := map[string]string{"app": name, "component": "worker", "pipelineName": fmt.Sprintf("edges-%d", i), "suite": "pachyderm"}
		rc := &corev1.ReplicationController{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: corev1.ReplicationControllerSpec{
				Replicas: int32Ptr(workersPerPipline),
				Selector: labels,
				Template: &corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{SchedulingGates: []corev1.PodSchedulingGate{{Name: "bench/unscheduled"}}, Containers: []corev1.Container{
						{Name: "user", Image: "ubuntu:24.04"},
						{Name: "storage", Image: "pachyderm/pachd:2.11.5"},
					}},
				},
			},
		}
		if _, err := cs.CoreV1().ReplicationControllers(ns).Create(ctx, rc, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create worker controller %s: %w", name, err)
		}
	}
	want := workerPipelines * workersPerPipline
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, 40*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "component=worker"})
		if err != nil {
			return false, err
		}
		return len(pods.Items) == want, nil
	})
	if err != nil {
		return err
	}
	return nodeSchedulable(ctx, kube)
}

// nodeSchedulable waits until the kwok node is Ready and untainted. On a loaded machine kwok,
// busy with 500 pods, can miss its heartbeats: the node is then tainted unreachable and the
// release's new pods stay Pending, which is not what the benchmark is about.
func nodeSchedulable(ctx context.Context, kube *cluster.Client) error {
	return wait.PollUntilContextTimeout(ctx, time.Second, 10*time.Minute, true, func(ctx context.Context) (bool, error) {
		nodes, err := kube.Clientset().CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, n := range nodes.Items {
			if len(n.Spec.Taints) > 0 {
				return false, nil
			}
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
					return false, nil
				}
			}
		}
		return true, nil
	})
}
