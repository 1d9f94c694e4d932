package upgrade

import (
	"context"

	"github.com/pach-upgrade/pach-upgrade/internal/report"
)

// A beside step is a read-only step that runs on its own goroutine while
// the run does the steps before its row: pachd's health while the versions
// are checked (both only read the new pachd), the ownership dry run while
// pachd's health is read and a backup that only reads is taken. Its row
// comes after those steps', with its own time and the time the run waited on it;
// its log lines are held and shown in its own group when joined. A run
// that fails before the join drops it: no row, no lines, as when it never
// started.
type besideStep struct {
	b      *background
	cancel context.CancelFunc
}

// startBeside starts f under ctx.
func (r *runner) startBeside(ctx context.Context, name string, f backgroundFunc) *besideStep {
	ctx, cancel := context.WithCancel(ctx)
	b := &background{name: name, start: r.now(), log: &heldLog{redact: r.log.Redact}, done: make(chan struct{})}
	go b.run(ctx, f)
	return &besideStep{b: b, cancel: cancel}
}

// join waits for the step to end, however it ends (its context is the
// run's, so a timeout or cancel ends it promptly, with its own error), and
// records its row. It returns the step's error, as step does.
func (s *besideStep) join(r *runner) error {
	r.running = s.b.name
	start := r.now()
	<-s.b.done
	s.cancel()
	s.b.row = len(r.rep.Steps)
	r.rep.Steps = append(r.rep.Steps, report.Step{Name: s.b.name, Background: true})
	return r.settle(s.b, r.now().Sub(start), nil)
}

// drop stops the step and waits for it to end, recording nothing: the run
// failed before it needed it.
func (s *besideStep) drop() {
	s.cancel()
	<-s.b.done
}
