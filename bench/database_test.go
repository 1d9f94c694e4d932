package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/database"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/postgres"
)

// benchDBSizeEnv sets the database size in MiB of BenchmarkDatabaseDump (default 1024: the
// issue's 1 GiB) and of BenchmarkUpgradeDumpQuiesce (default 16).
const benchDBSizeEnv = "PACH_UPGRADE_BENCH_DB_MIB"

// BenchmarkDatabaseDump dumps database pachyderm of a real PostgreSQL
// filled to 1 GiB twice per round, interleaved: with pg_dump run directly
// against the server writing its own file (the baseline), and as the
// action does, pg_dump in pod postgres-0 through the Kubernetes exec API
// (the local control plane's kwok serves it) streamed by this process into
// the backup file. It reports both times, their ratio (target <= 1.2) and
// this process's peak RSS (target < 150 MiB): the dump must stream, never
// sit in memory.
func BenchmarkDatabaseDump(b *testing.B) {
	mib := dbSizeMiB(b, 1024)
	ctx := context.Background()
	srv := postgres.Start(b)
	fill(b, srv, mib)

	_, rc := clusterFor(b)
	kube, err := cluster.New(rc)
	if err != nil {
		b.Fatal(err)
	}
	ns := namespace(b, kube)
	undo, err := srv.ServeChartContext(ctx, rc, ns)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = undo(context.Background()) })
	postgresPod(b, kube, ns)
	pod := database.Pod{Cluster: kube, Namespace: ns, Pod: postgres.Pod}

	dir := b.TempDir()
	var direct, viaExec time.Duration
	var size int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out := filepath.Join(dir, "direct.dump")
		cmd := exec.CommandContext(ctx, srv.Bin("pg_dump"), "--format=custom", "--file="+out, "--dbname="+postgres.DBPachyderm)
		cmd.Env = append(os.Environ(), srv.Env()...)
		start := time.Now()
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("pg_dump: %v\n%s", err, o)
		}
		direct += time.Since(start)
		os.Remove(out)

		start = time.Now()
		d, err := database.DumpDatabase(ctx, pod, database.DumpOptions{Database: postgres.DBPachyderm, Dir: dir, Name: "exec.dump"})
		if err != nil {
			b.Fatal(err)
		}
		viaExec += time.Since(start)
		size = d.Size
		os.Remove(filepath.Join(dir, d.File))
	}
	b.StopTimer()
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(direct.Seconds()/float64(b.N), "s-direct")
	b.ReportMetric(viaExec.Seconds()/float64(b.N), "s-exec")
	b.ReportMetric(viaExec.Seconds()/direct.Seconds(), "exec/direct")
	b.ReportMetric(float64(ru.Maxrss)/1024, "MiB-bench-peak-rss")
	b.ReportMetric(float64(size)/(1<<20), "MiB-dump")
}

// dbSizeMiB is the database size benchDBSizeEnv asks for, def when it is not set.
func dbSizeMiB(b *testing.B, def int) int {
	b.Helper()
	v := os.Getenv(benchDBSizeEnv)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a size in MiB", benchDBSizeEnv, v)
	}
	return n
}

// fill writes about mib MiB into a table of database pachyderm: rows of
// md5 text, which pg_dump's compression shrinks about as much as pachd's
// metadata. It returns the database's size in bytes.
func fill(b *testing.B, srv *postgres.Server, mib int) int64 {
	b.Helper()
	db := srv.Open(b, postgres.DBPachyderm)
	if _, err := db.Exec(`CREATE TABLE bulk (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	// One row is ~1 KiB of text: 32 md5 hex strings.
	const perBatch = 64 * 1024
	rows := mib * 1024
	for from := 0; from < rows; from += perBatch {
		to := min(from+perBatch, rows)
		_, err := db.Exec(fmt.Sprintf(`INSERT INTO bulk SELECT i, (SELECT string_agg(md5(i::text || ':' || k), '') FROM generate_series(1, 32) k)
			FROM generate_series(%d, %d) i`, from+1, to))
		if err != nil {
			b.Fatal(err)
		}
	}
	var size int64
	if err := db.QueryRow(`SELECT pg_database_size(current_database())`).Scan(&size); err != nil {
		b.Fatal(err)
	}
	b.Logf("database pachyderm: %d MiB", size>>20)
	return size
}

// postgresPod creates the chart's postgres-0 as a bare pod on a kwok node
// and waits until it runs: exec needs a running pod.
func postgresPod(b *testing.B, kube *cluster.Client, ns string) {
	b.Helper()
	ctx := context.Background()
	pods := kube.Clientset().CoreV1().Pods(ns)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: postgres.Pod},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "postgres", Image: "pachyderm/postgresql:13.3.0"}},
			Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}}}
	// A fresh namespace has no default service account until the
	// controller makes one, and admission refuses the pod until then.
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, lastErr = pods.Create(ctx, pod, metav1.CreateOptions{})
		return lastErr == nil, nil
	})
	if err != nil {
		b.Fatalf("create %s: %v", postgres.Pod, lastErr)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, postgres.Pod, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, nil
	})
	if err != nil {
		b.Fatalf("%s not running: %v", postgres.Pod, err)
	}
}
