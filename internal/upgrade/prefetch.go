package upgrade

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/changelog"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
)

// The network steps (chart, release notes, pachctl and its digest) depend
// only on the target, not on the cluster's state: once the target is
// resolved they run beside the cluster-side steps (values, generated
// values, backup, ownership check), and the run joins each where its
// result is first needed. Their rows keep their place in the step table,
// with their own time and the time the run waited on them; their log
// lines are held back and shown in their own group when joined, so groups
// never interleave.

// notesWait bounds how long a run that has done its work waits for the
// release notes: notes are for the report, and never hold up the upgrade,
// which is over by then.
const notesWait = 10 * time.Second

// digestListWait bounds how long the pachctl digest lookup waits for the
// notes' release list (which holds the digest) before asking on its own.
const digestListWait = 5 * time.Second

// backgroundFunc is the work of a step that may run on another goroutine.
// It logs only to log, touches no runner state, and returns what to record
// once joined (apply, run on the run's goroutine; nil for nothing).
type backgroundFunc func(ctx context.Context, log report.Logger) (detail string, apply func(), err error)

// inline runs f as an ordinary step's work.
func (r *runner) inline(ctx context.Context, f backgroundFunc) (string, error) {
	detail, apply, err := f(ctx, r.log)
	if apply != nil {
		apply()
	}
	return detail, err
}

// background is a step running on its own goroutine.
type background struct {
	name  string
	row   int // its row in rep.Steps
	start time.Time
	log   *heldLog
	done  chan struct{}
	// Set before done is closed.
	detail string
	apply  func()
	err    error
	took   time.Duration

	joined bool
}

// network is a run's background network steps.
type network struct {
	ctx    context.Context
	cancel context.CancelFunc
	chart  *background
	notes  *background
	pach   *background
	all    []*background
}

// startNetwork starts the chart download, the release notes and (when
// applying) the pachctl install. The pachctl digest lookup waits for the
// notes' release list, which already holds it: one API call, not two.
func (r *runner) startNetwork(ctx context.Context) {
	n := &network{}
	n.ctx, n.cancel = context.WithCancel(ctx)
	r.net = n
	n.chart = r.goStep("Fetch the chart", r.pullChart)
	listed := make(chan struct{})
	var once sync.Once
	signal := func() { once.Do(func() { close(listed) }) }
	var src changelog.Source
	if r.d.GitHub != nil {
		src = listedSource{Source: NotesSource(r.d.GitHub), listed: signal}
	}
	notes := r.collectNotes(src)
	n.notes = r.goStep("Release notes", func(ctx context.Context, log report.Logger) (string, func(), error) {
		defer signal()
		return notes(ctx, log)
	})
	if r.cfg.Mode == config.ModeApply {
		n.pach = r.goStep("Install pachctl", r.getPachctl(listed))
	}
}

// goStep starts f on its own goroutine under the run's network context and
// reserves its row in the step table.
func (r *runner) goStep(name string, f backgroundFunc) *background {
	b := &background{name: name, row: len(r.rep.Steps), start: r.now(), log: &heldLog{redact: r.log.Redact}, done: make(chan struct{})}
	r.rep.Steps = append(r.rep.Steps, report.Step{Name: name, Background: true, Outcome: report.OutcomeSkipped, Detail: "not awaited"})
	r.net.all = append(r.net.all, b)
	r.log.Infof("%s: started in the background", name)
	go b.run(r.net.ctx, f)
	return b
}

// run does b's work and closes b.done.
func (b *background) run(ctx context.Context, f backgroundFunc) {
	defer close(b.done)
	start := time.Now()
	defer func() { b.took = time.Since(start) }()
	defer func() {
		if p := recover(); p != nil {
			b.err = fmt.Errorf("%s: %v", b.name, p)
		}
	}()
	b.detail, b.apply, b.err = f(ctx, b.log)
}

// join waits for b's result (or ctx's end), shows its log group and
// records its row. It returns b's error, as step returns its step's.
func (r *runner) join(ctx context.Context, b *background) error {
	if b == nil || b.joined {
		return nil
	}
	r.running = b.name
	start := r.now()
	var err error
	select {
	case <-b.done:
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	return r.settle(b, r.now().Sub(start), err)
}

// stepOrJoin runs step name, or, when f is nil, joins the background step
// of that name.
func (r *runner) stepOrJoin(ctx context.Context, name string, f stepFunc) error {
	if f != nil {
		return r.step(ctx, name, f)
	}
	for _, b := range r.net.all {
		if b.name == name {
			return r.join(ctx, b)
		}
	}
	return fmt.Errorf("no background step %q", name)
}

// settle records b's row: its outcome when it is done, else stopped (err
// says why).
func (r *runner) settle(b *background, waited time.Duration, stopped error) error {
	b.joined = true
	r.log.Group(b.name)
	defer r.log.EndGroup()
	row := &r.rep.Steps[b.row]
	row.Waited = waited.Round(time.Millisecond)
	select {
	case <-b.done:
	default:
		row.Duration = r.now().Sub(b.start).Round(time.Millisecond)
		if stopped == nil {
			stopped = skip("stopped: the run ended before it needed this")
		}
		s := *row
		err := r.outcome(&s, "", stopped)
		r.rep.Steps[b.row] = s
		return err
	}
	b.log.replay(r.log)
	row.Duration = b.took.Round(time.Millisecond)
	s := *row
	err := r.outcome(&s, b.detail, b.err)
	r.rep.Steps[b.row] = s
	if b.apply != nil {
		b.apply()
	}
	return err
}

// finishNetwork ends a run's background steps on its way out: it waits for
// the notes (bounded: notesWait, or cancelCleanup once cancelled), stops
// the rest, and records every row not yet joined.
func (r *runner) finishNetwork() {
	n := r.net
	if n == nil {
		return
	}
	limit := notesWait
	if r.cancelled() {
		limit = cancelCleanup
	}
	// Not the run's context: this bounds the wait on the way out, which
	// also follows a cancel.
	wctx, stop := context.WithTimeout(context.Background(), limit)
	defer stop()
	if b := n.notes; b != nil && !b.joined && n.ctx.Err() == nil {
		start := r.now()
		select {
		case <-b.done:
		case <-wctx.Done():
		case <-n.ctx.Done():
		}
		_ = r.settle(b, r.now().Sub(start), nil)
	}
	n.cancel()
	for _, b := range n.all {
		if b.joined {
			continue
		}
		// Cancelled work returns promptly; wctx bounds it anyway, and what
		// is left writes only to b.
		select {
		case <-b.done:
		case <-wctx.Done():
		}
		_ = r.settle(b, 0, nil)
	}
}

// listedSource signals when the release list has been fetched (or failed):
// the pachctl digest lookup then finds the digest in the client's copy.
type listedSource struct {
	changelog.Source
	listed func()
}

func (s listedSource) ListReleases(ctx context.Context, repo string, done func([]changelog.Release) bool) ([]changelog.Release, error) {
	defer s.listed()
	return s.Source.ListReleases(ctx, repo, done)
}

// heldLog keeps a background step's log lines until the run joins it;
// report.Logger's other effects (masks, PATH, outputs) are held as well
// and take effect then, on the run's goroutine.
type heldLog struct {
	redact func(string) string
	mu     sync.Mutex
	calls  []func(report.Logger)
}

func (l *heldLog) hold(f func(report.Logger)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, f)
}

func (l *heldLog) replay(to report.Logger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.calls {
		f(to)
	}
	l.calls = nil
}

// Groups do not nest: the step's own group holds its lines.
func (l *heldLog) Group(string) {}
func (l *heldLog) EndGroup()    {}

func (l *heldLog) Infof(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	l.hold(func(to report.Logger) { to.Infof("%s", s) })
}

func (l *heldLog) Warningf(title, format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	l.hold(func(to report.Logger) { to.Warningf(title, "%s", s) })
}

func (l *heldLog) Errorf(title, format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	l.hold(func(to report.Logger) { to.Errorf(title, "%s", s) })
}

func (l *heldLog) AddMask(v string)         { l.hold(func(to report.Logger) { to.AddMask(v) }) }
func (l *heldLog) SetOutput(name, v string) { l.hold(func(to report.Logger) { to.SetOutput(name, v) }) }
func (l *heldLog) AddSummary(markdown string) {
	l.hold(func(to report.Logger) { to.AddSummary(markdown) })
}
func (l *heldLog) AddPath(dir string) { l.hold(func(to report.Logger) { to.AddPath(dir) }) }

// Redact uses the run's masks as they are now; the run's logger masks the
// held lines again when they are shown.
func (l *heldLog) Redact(s string) string { return l.redact(s) }
