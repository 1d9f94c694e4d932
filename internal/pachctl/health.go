package pachctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
)

// Health is what pachd serves beyond its version, read with pachctl:
// Pachyderm's own upgrade test checks the same after an upgrade.
type Health struct {
	// ClusterID is InspectCluster's answer.
	ClusterID string
	// Enterprise is the enterprise token state (ACTIVE, EXPIRED, ...), or
	// NONE when no token was found.
	Enterprise string
	// Pipelines maps "project/name" to its state (running, crashing, ...).
	Pipelines map[string]string
}

// PipelineList renders the pipelines and states, sorted, for the report.
func (h Health) PipelineList() []string {
	var out []string
	for name, st := range h.Pipelines {
		out = append(out, name+": "+st)
	}
	sort.Strings(out)
	return out
}

// ReadHealth asks pachd, through pachctl, for InspectCluster, the
// enterprise state and the pipelines with their states. Listing pipelines
// needs c's token where auth is active.
func ReadHealth(ctx context.Context, c Conn) (Health, error) {
	var h Health
	// The three reads are independent, each its own pachctl process with its
	// own config: they run side by side, and their results are taken in
	// order, so an error is the one the first failing read gives.
	var inspect, enterprise, pipelines struct {
		out []byte
		err error
	}
	var wg sync.WaitGroup
	wg.Go(func() { inspect.out, inspect.err = c.run(ctx, "inspect", "cluster") })
	wg.Go(func() { enterprise.out, enterprise.err = c.run(ctx, "enterprise", "get-state") })
	wg.Go(func() { pipelines.out, pipelines.err = c.run(ctx, "list", "pipeline", "--raw") })
	wg.Wait()
	if inspect.err != nil {
		return h, fmt.Errorf("InspectCluster does not answer: %w", inspect.err)
	}
	for _, line := range strings.Split(string(inspect.out), "\n") {
		if v, ok := strings.CutPrefix(line, "Cluster ID:"); ok {
			h.ClusterID = strings.TrimSpace(v)
		}
	}
	if enterprise.err != nil {
		return h, enterprise.err
	}
	h.Enterprise = "NONE"
	if v, ok := strings.CutPrefix(strings.TrimSpace(string(enterprise.out)), "Pachyderm Enterprise token state:"); ok {
		h.Enterprise = strings.TrimSpace(v)
	}
	if pipelines.err != nil {
		return h, pipelines.err
	}
	out := pipelines.out
	h.Pipelines = map[string]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			Pipeline struct {
				Name    string `json:"name"`
				Project struct {
					Name string `json:"name"`
				} `json:"project"`
			} `json:"pipeline"`
			State string `json:"state"`
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return h, fmt.Errorf("pachctl list pipeline --raw: %w", err)
		}
		project := p.Pipeline.Project.Name
		if project == "" {
			project = "default"
		}
		h.Pipelines[project+"/"+p.Pipeline.Name] = strings.ToLower(strings.TrimPrefix(p.State, "PIPELINE_"))
	}
	return h, nil
}

// HealthCompare says what is wrong with after, given before: enterprise
// state changed, a pipeline that was running is not running, or one is
// crashing or failed (standby, a running pipeline with no work, is
// healthy). It returns nil when after is healthy; pending is true when
// waiting may still fix it (a pipeline starting or restarting).
func HealthCompare(before, after Health) (problems []string, pending bool) {
	if before.Enterprise != after.Enterprise {
		problems = append(problems, fmt.Sprintf("enterprise state %s before the upgrade, %s after", before.Enterprise, after.Enterprise))
	}
	names := make([]string, 0, len(after.Pipelines))
	for n := range after.Pipelines {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if st := after.Pipelines[n]; st == "crashing" || st == "failure" {
			problems = append(problems, fmt.Sprintf("pipeline %s is %s", n, st))
		}
	}
	names = names[:0]
	for n, st := range before.Pipelines {
		if st == "running" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		st, ok := after.Pipelines[n]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("pipeline %s was running and is gone", n))
		case st == "starting" || st == "restarting":
			pending = true
			problems = append(problems, fmt.Sprintf("pipeline %s was running and is %s", n, st))
		case st != "running" && st != "standby" && st != "crashing" && st != "failure":
			problems = append(problems, fmt.Sprintf("pipeline %s was running and is %s", n, st))
		}
	}
	return problems, pending
}
