package upgrade

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/helmrelease"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
)

// carryGenerated finds what the target chart generates anew at every
// render and keeps the live release's values of it (the seed's step 2,
// generalised from the built-in PostgreSQL password to every such value).
// A generated field it cannot keep fails the run before any change, unless
// the regenerate input accepts it.
func (r *runner) carryGenerated(ctx context.Context) (string, error) {
	for _, c := range r.values.Carried {
		r.rep.Generated = append(r.rep.Generated, report.GeneratedField{Object: c.Object, Path: c.Path,
			Carried: true, How: "values", ValuesKey: c.ValuesKey, Note: "built-in PostgreSQL password, from the live Secret"})
	}
	carry, err := r.d.Helm.FindGenerated(ctx, r.cfg.Release, r.chart, r.values.Values, helmrelease.GeneratedOptions{Regenerate: r.cfg.Regenerate})
	if err != nil {
		return "", err
	}
	for _, s := range carry.Secrets {
		r.log.AddMask(s)
	}
	r.carry = carry
	carried, asRendered := len(r.values.Carried), 0
	for _, f := range carry.Fields {
		// Rollout markers and fields new to the release have no live value
		// to keep: counted in the step, not listed.
		if f.Outcome == helmrelease.RolloutMarker || f.Outcome == helmrelease.NotInLive {
			asRendered++
			continue
		}
		how := string(f.Outcome)
		switch f.Outcome {
		case helmrelease.CarriedByValues:
			how = "values"
		case helmrelease.CarriedByPostRenderer:
			how = "post-renderer"
		}
		if f.Carried() {
			carried++
		}
		r.rep.Generated = append(r.rep.Generated, report.GeneratedField{Object: f.Object, Path: f.Path,
			Carried: f.Carried(), How: how, ValuesKey: f.ValuesKey, Note: f.Note})
	}
	if err := carry.Err(); err != nil {
		var ue *helmrelease.UncarriableError
		if errors.As(err, &ue) {
			return "", fmt.Errorf("%w (the plan's generated values table lists every field)", err)
		}
		return "", err
	}
	detail := fmt.Sprintf("%d generated field(s) kept their live value (%d renders of chart %s, %s)",
		carried, carry.Renders, r.target.ChartVersion, carry.Took.Round(time.Millisecond))
	if n := len(r.rep.Generated) - carried; n > 0 {
		detail += fmt.Sprintf("; %d regenerated as the regenerate input accepts", n)
	}
	if asRendered > 0 {
		detail += fmt.Sprintf("; %d new or rollout-only field(s) left as rendered", asRendered)
	}
	if len(carry.Values) > 0 {
		detail += "; pinned " + strings.Join(slices.Sorted(maps.Keys(carry.Values)), ", ")
	}
	return detail, nil
}

// upgradeValues are the prepared values with the carried generated values.
func (r *runner) upgradeValues() map[string]any {
	if r.carry == nil {
		return r.values.Values
	}
	return r.carry.Apply(r.values.Values)
}

// redactStrings applies redact to every string in v, deeply.
func redactStrings(v map[string]any, redact func(string) string) map[string]any {
	out, _ := redactAny(v, redact).(map[string]any)
	return out
}

func redactAny(v any, redact func(string) string) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = redactAny(e, redact)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, e := range t {
			l[i] = redactAny(e, redact)
		}
		return l
	case string:
		return redact(t)
	}
	return v
}
