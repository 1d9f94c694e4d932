package upgrade

import (
	"context"
	"fmt"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/report"
)

// stepFunc does one step and says in one line what it did. A skipped step
// returns errSkipped wrapped with the reason.
type stepFunc func(ctx context.Context) (detail string, err error)

// skipped is returned by a step that had nothing to do.
type skipped struct{ reason string }

func (s skipped) Error() string { return s.reason }

// skip builds the error of a skipped step.
func skip(format string, args ...any) error { return skipped{fmt.Sprintf(format, args...)} }

// warned is returned by a step that went on despite a problem worth
// surfacing (e.g. release notes that could not be fetched).
type warned struct{ detail string }

func (w warned) Error() string { return w.detail }

// step runs f in its own log group, times it and records it in the
// report. It returns f's error, except for skips and warnings.
func (r *runner) step(ctx context.Context, name string, f stepFunc) error {
	r.log.Group(name)
	defer r.log.EndGroup()
	r.running = name
	start := r.now()
	detail, err := f(ctx)
	s := report.Step{Name: name, Duration: r.now().Sub(start).Round(time.Millisecond)}
	err = r.outcome(&s, detail, err)
	r.rep.Steps = append(r.rep.Steps, s)
	return err
}

// outcome logs how step s ended and fills in its outcome and detail. It
// returns err, except for skips and warnings.
func (r *runner) outcome(s *report.Step, detail string, err error) error {
	name := s.Name
	s.Outcome, s.Detail = report.OutcomeOK, detail
	var sk skipped
	var wa warned
	switch {
	case err == nil:
		r.log.Infof("%s: %s", name, detail)
	case asError(err, &sk):
		s.Outcome, s.Detail = report.OutcomeSkipped, sk.reason
		r.log.Infof("%s: skipped: %s", name, sk.reason)
		err = nil
	case asError(err, &wa):
		s.Outcome, s.Detail = report.OutcomeWarning, wa.detail
		r.log.Warningf(name, "%s", wa.detail)
		r.rep.Warnings = append(r.rep.Warnings, name+": "+wa.detail)
		err = nil
	case r.cancelled():
		s.Outcome, s.Detail = report.OutcomeCancelled, err.Error()
		r.log.Warningf(name, "cancelled: %v", err)
	default:
		s.Outcome, s.Detail = report.OutcomeFailed, err.Error()
		r.log.Errorf(name, "%v", err)
	}
	return err
}
