package pachstandin

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	// database/sql's PostgreSQL driver.
	_ "github.com/lib/pq"
)

// Pod annotations of the start gate. A pachd pod whose template carries
// AnnotationStart: StartPending stays Pending (the cluster's kwok stages leave it alone) until
// the gate has run pachd's start-up against the database for the pod's image tag.
const (
	AnnotationStart = "pach-upgrade.test/pachd-start"
	// AnnotationStartError holds the reason a start was refused.
	AnnotationStartError = "pach-upgrade.test/pachd-start-error"
	// AnnotationCrashLoop is the cluster's crash-loop injection (testenv.AnnotationCrashLoop).
	AnnotationCrashLoop = "pach-upgrade.test/crash-loop"

	StartPending = "pending"
	StartStarted = "started"
	StartRefused = "refused"
)

// PodAnnotations are the values to give the chart's pachd pods (pachd.podAnnotations) so that a
// StartGate decides when they start.
func PodAnnotations() map[string]any { return map[string]any{AnnotationStart: StartPending} }

// StartGateOptions configure a StartGate.
type StartGateOptions struct {
	Kube      kubernetes.Interface
	Namespace string
	// Selector picks the pachd pods; default "app=pachd".
	Selector string
	// DSN reaches database pachyderm (postgres.Server.DSN("pachyderm")).
	DSN string
	// Migrations is the chain of migrations; default DefaultMigrations.
	Migrations MigrationTable
	// Interval between looks at the pods; default 100ms.
	Interval time.Duration
	// Activity, when set, makes the running pachd write as a real one does: every Activity,
	// while a pachd pod is Ready and Paused (if set) says no, the gate inserts a row into table
	// standin_activity (at, pod) of database pachyderm. A dump taken while quiesced then holds
	// no row written after the quiesce began.
	Activity time.Duration
	// Paused reports an enterprise pause (Pachd.PausedByEnterprise), which stops the writes.
	Paused func() bool
	// Writing, when set, is used instead of Paused: it starts one unit of work (ok false while
	// paused) and done ends it, so that a pause waits for the work in flight (Pachd.Writing).
	Writing func() (ok bool, done func())
}

// Start is one pachd pod's start as the gate ran it.
type Start struct {
	Pod     string
	Version string
	Result  MigrationResult
	// Err is ErrDatabaseNewer (wrapped) when the pod was refused and now crash-loops.
	Err error
}

// StartGate plays pachd's start-up for the pachd pods of a namespace on kwok: for each new pod
// marked StartPending (or not marked at all) it applies the migrations the pod's version knows (its image tag), then
// lets the pod become Ready (StartStarted); when the database is newer than that version, it
// marks the pod StartRefused with the crash-loop annotation, so the pod crash-loops as pachd
// does. While the database cannot be reached the pod stays Pending, as a starting pachd.
type StartGate struct {
	o    StartGateOptions
	db   *sql.DB
	done chan struct{}

	mu     sync.Mutex
	starts []Start
	seen   map[types.UID]bool
	last   error
	writes int
}

// StartStartGate starts the gate until ctx ends.
func StartStartGate(ctx context.Context, o StartGateOptions) (*StartGate, error) {
	if o.Kube == nil || o.Namespace == "" || o.DSN == "" {
		return nil, errors.New("pachd start gate: Kube, Namespace and DSN are required")
	}
	if o.Selector == "" {
		o.Selector = "app=pachd"
	}
	if o.Migrations == nil {
		o.Migrations = DefaultMigrations
	}
	if o.Interval <= 0 {
		o.Interval = 100 * time.Millisecond
	}
	db, err := sql.Open("postgres", o.DSN)
	if err != nil {
		return nil, fmt.Errorf("pachd start gate: %w", err)
	}
	// A pachd scaled to zero holds no connection; neither does the gate between starts, so a
	// restore may drop and re-create database pachyderm.
	db.SetMaxIdleConns(0)
	g := &StartGate{o: o, db: db, done: make(chan struct{}), seen: map[types.UID]bool{}}
	go g.run(ctx)
	return g, nil
}

// Done is closed once the gate has stopped.
func (g *StartGate) Done() <-chan struct{} { return g.done }

// Starts lists the starts so far, oldest first.
func (g *StartGate) Starts() []Start {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Start(nil), g.starts...)
}

// LastError is the last error that kept a pod Pending (database unreachable, API errors).
func (g *StartGate) LastError() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last
}

func (g *StartGate) run(ctx context.Context) {
	defer close(g.done)
	defer g.db.Close()
	t := time.NewTicker(g.o.Interval)
	defer t.Stop()
	lastWrite := time.Time{}
	for {
		err := g.pass(ctx)
		if g.o.Activity > 0 && time.Since(lastWrite) >= g.o.Activity {
			lastWrite = time.Now()
			err = errors.Join(err, g.write(ctx))
		}
		g.mu.Lock()
		g.last = err
		g.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pass handles every pending pod once.
func (g *StartGate) pass(ctx context.Context) error {
	pods, err := g.o.Kube.CoreV1().Pods(g.o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: g.o.Selector})
	if err != nil {
		return fmt.Errorf("list pachd pods: %w", err)
	}
	var errs []error
	for i := range pods.Items {
		pod := &pods.Items[i]
		// A pod without the annotation (values that lost pachd.podAnnotations) is started too,
		// after kwok already made it Ready: a refusal then turns it into a crash loop.
		if a := pod.Annotations[AnnotationStart]; pod.DeletionTimestamp != nil || (a != StartPending && a != "") || g.isSeen(pod.UID) {
			continue
		}
		if err := g.start(ctx, pod); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (g *StartGate) isSeen(uid types.UID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.seen[uid]
}

func (g *StartGate) start(ctx context.Context, pod *corev1.Pod) error {
	tag, err := imageTag(pod)
	if err != nil {
		return err
	}
	version := trimV(tag)
	res, err := Migrate(ctx, g.db, version, g.o.Migrations)
	annotations := map[string]any{AnnotationStart: StartStarted}
	switch {
	case errors.Is(err, ErrDatabaseNewer):
		annotations = map[string]any{AnnotationStart: StartRefused, AnnotationCrashLoop: "true", AnnotationStartError: err.Error()}
	case err != nil:
		// pachd retries its database connection while Pending; so does the gate.
		return fmt.Errorf("pachd pod %s (%s): %w", pod.Name, version, err)
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if _, perr := g.o.Kube.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{}); perr != nil {
		return fmt.Errorf("mark pachd pod %s %s: %w", pod.Name, annotations[AnnotationStart], perr)
	}
	g.mu.Lock()
	g.seen[pod.UID] = true
	g.starts = append(g.starts, Start{Pod: pod.Name, Version: version, Result: res, Err: err})
	g.mu.Unlock()
	return nil
}

func trimV(tag string) string {
	if len(tag) > 0 && tag[0] == 'v' {
		return tag[1:]
	}
	return tag
}

// write records one unit of pachd's work, when a pachd pod is Ready and not paused.
func (g *StartGate) write(ctx context.Context) error {
	if g.o.Writing != nil {
		ok, done := g.o.Writing()
		if !ok {
			return nil
		}
		defer done()
	} else if g.o.Paused != nil && g.o.Paused() {
		return nil
	}
	// The row is stamped with the time before the pods are listed, not with the insert's: a
	// pod the list shows Ready was alive then, but may be gone by the time the row is written
	// (a real pachd would have died with it). Stamped at the insert, such a row fell inside a
	// quiesce that began, correctly, after the pod was gone.
	seen := time.Now()
	pods, err := g.o.Kube.CoreV1().Pods(g.o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: g.o.Selector})
	if err != nil {
		return fmt.Errorf("list pachd pods: %w", err)
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if !podReady(pod) {
			continue
		}
		if _, err := g.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS standin_activity (at TIMESTAMPTZ NOT NULL DEFAULT now(), pod TEXT NOT NULL)`); err != nil {
			return fmt.Errorf("pachd activity: %w", err)
		}
		if _, err := g.db.ExecContext(ctx, `INSERT INTO standin_activity (at, pod) VALUES ($1, $2)`, seen, pod.Name); err != nil {
			return fmt.Errorf("pachd activity: %w", err)
		}
		g.mu.Lock()
		g.writes++
		g.mu.Unlock()
		return nil
	}
	return nil
}

// Writes counts the activity rows written.
func (g *StartGate) Writes() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.writes
}
