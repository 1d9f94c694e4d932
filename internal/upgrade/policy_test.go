package upgrade

import (
	"strings"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/database"
	"github.com/pach-upgrade/pach-upgrade/internal/helmrelease"
)

// rev is a stored revision for the policy's tables.
func rev(n int, status, app, desc string) *helmrelease.Release {
	return &helmrelease.Release{Name: "pachd", Namespace: "ns", Revision: n, Status: status, AppVersion: app, Description: desc}
}

const verified = "pach-upgrade 2.11.5 → 2.11.6; " + helmrelease.VerifiedMark + " (every pod Ready)"

// TestDecideStart covers the release check's states: issue 20 items 1–3.
func TestDecideStart(t *testing.T) {
	for _, tc := range []struct {
		name      string
		history   []*helmrelease.Release
		recover   bool
		action    Action
		base, to  int
		reapply   bool
		ahead     bool
		inReason  string
		atTarget  bool
		thenSound Action // decideTarget's answer when the base runs the target
	}{
		{name: "deployed, verified", history: []*helmrelease.Release{rev(1, "superseded", "2.11.5", "Install complete"), rev(2, "deployed", "2.11.6", verified)},
			action: ActProceed, base: 2, thenSound: ActNoOp},
		// Item 1: Helm says deployed before the watch; a run killed or failed in the watch
		// leaves it so. It is verified, never a no-op.
		{name: "deployed, never verified", history: []*helmrelease.Release{rev(1, "superseded", "2.11.5", "Install complete"), rev(2, "deployed", "2.11.6", "pach-upgrade 2.11.5 → 2.11.6")},
			action: ActProceed, base: 2, thenSound: ActVerify},
		// Item 2: a failed latest revision is never current; the target is applied again.
		{name: "failed after recovery's rollback failed", history: []*helmrelease.Release{rev(1, "deployed", "2.11.5", "Install complete"),
			rev(2, "failed", "2.11.6", "interrupted while pending-upgrade; recovered by pach-upgrade: rollback to 1")},
			action: ActProceed, base: 1, reapply: true, inReason: "revision 2 is failed", thenSound: ActUpgrade},
		{name: "failed rollback goes to its own target", history: []*helmrelease.Release{rev(1, "superseded", "2.11.5", "Install complete"),
			rev(2, "deployed", "2.11.6", "pach-upgrade 2.11.5 → 2.11.6"), rev(3, "failed", "2.11.5", "Rollback to 1 by pach-upgrade")},
			action: ActProceed, base: 1, reapply: true, thenSound: ActUpgrade},
		// A revision left because its pachd migrated the database: fixing forward is allowed,
		// and the run knows a rollback to the base cannot work.
		{name: "left after migrating", history: []*helmrelease.Release{rev(1, "deployed", "2.10.7", "Install complete"),
			rev(2, "failed", "2.11.6", helmrelease.LeftMark+": schema migrations were added (18 → 21); restore databases pachyderm and dex from backup, then roll back to revision 1")},
			action: ActProceed, base: 1, reapply: true, ahead: true, inReason: "left again, not rolled back", thenSound: ActUpgrade},
		{name: "pending refused", history: []*helmrelease.Release{rev(1, "deployed", "2.11.5", ""), rev(2, "pending-upgrade", "2.11.6", "")},
			action: ActRefuse, inReason: "pending-upgrade"},
		{name: "pending upgrade recovered to the one before", recover: true,
			history: []*helmrelease.Release{rev(1, "deployed", "2.11.5", ""), rev(2, "pending-upgrade", "2.11.6", "")}, action: ActRecover, to: 1},
		// Item 3: an interrupted rollback is recovered to its own target, not to the newest
		// deployed revision (the broken version it was leaving).
		{name: "pending rollback recovered to its target", recover: true,
			history: []*helmrelease.Release{rev(1, "superseded", "2.11.5", ""), rev(2, "deployed", "2.11.6", "pach-upgrade 2.11.5 → 2.11.6"),
				rev(3, "pending-rollback", "2.11.5", "Rollback to 1 by pach-upgrade")}, action: ActRecover, to: 1},
		{name: "pending rollback by the Helm CLI", recover: true,
			history: []*helmrelease.Release{rev(1, "superseded", "2.11.5", ""), rev(2, "superseded", "2.11.6", ""), rev(3, "deployed", "2.11.7", ""),
				rev(4, "pending-rollback", "2.11.5", "Rollback to 1")}, action: ActRecover, to: 1},
		{name: "pending install has nothing to recover to", recover: true,
			history: []*helmrelease.Release{rev(1, "pending-install", "2.11.5", "")}, action: ActRefuse, inReason: "no earlier deployed revision"},
		{name: "failed install", history: []*helmrelease.Release{rev(1, "failed", "2.11.5", "boom")}, action: ActRefuse, inReason: "fix it by hand"},
		{name: "uninstalling", history: []*helmrelease.Release{rev(1, "uninstalling", "2.11.5", "")}, action: ActRefuse, inReason: "uninstalling"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			latest := tc.history[len(tc.history)-1]
			d := decideStart(observed{Latest: latest, History: tc.history}, tc.recover)
			if d.Action != tc.action || d.To != tc.to || d.Reapply != tc.reapply || d.DatabaseAhead != tc.ahead {
				t.Fatalf("decision = %+v, want %s to %d reapply %v", d, tc.action, tc.to, tc.reapply)
			}
			if tc.base != 0 && (d.Base == nil || d.Base.Revision != tc.base) {
				t.Errorf("base = %+v, want revision %d", d.Base, tc.base)
			}
			if !strings.Contains(d.Reason, tc.inReason) {
				t.Errorf("reason %q does not say %q", d.Reason, tc.inReason)
			}
			if tc.thenSound != "" {
				if got := decideTarget(d, true); got != tc.thenSound {
					t.Errorf("at the target: %s, want %s", got, tc.thenSound)
				}
				if got := decideTarget(d, false); got != ActUpgrade {
					t.Errorf("below the target: %s, want upgrade", got)
				}
			}
		})
	}
}

// TestDecideApply is item 5: a revision written between the read and the apply is named,
// with the one read, and nothing is applied.
func TestDecideApply(t *testing.T) {
	read := rev(1, "deployed", "2.11.5", "Install complete")
	if d := decideApply(read, rev(1, "deployed", "2.11.5", "Install complete")); d.Action != ActUpgrade {
		t.Errorf("unchanged release: %+v", d)
	}
	d := decideApply(read, rev(2, "deployed", "2.11.6", "Upgrade complete"))
	if d.Action != ActRefuse || !strings.Contains(d.Reason, "revision 1 (deployed)") || !strings.Contains(d.Reason, "revision 2 (deployed") {
		t.Errorf("another client's revision: %+v", d)
	}
	if d := decideApply(read, rev(2, "pending-upgrade", "2.11.6", "")); d.Action != ActRefuse {
		t.Errorf("another client's operation in progress: %+v", d)
	}
}

// TestDecideFailure is items 4 and 5 after a failure.
// TestDecideApplied: a revision another client wrote during the apply (Helm's rollback does
// not refuse a pending release) stops the run before it watches its own.
func TestDecideApplied(t *testing.T) {
	ours := rev(2, "deployed", "2.11.6", "pach-upgrade 2.11.5 → 2.11.6")
	if d := decideApplied(ours, ours); d.Action != ActProceed {
		t.Errorf("latest is ours: %s (%s), want proceed", d.Action, d.Reason)
	}
	d := decideApplied(ours, rev(3, "deployed", "2.11.5", "Rollback to 1"))
	if d.Action != ActRefuse {
		t.Fatalf("another client's revision 3 after ours: %s, want refuse", d.Action)
	}
	for _, want := range []string{"revision 3 (deployed, \"Rollback to 1\")", "another client", "revision 2 not watched, not verified", "helm history pachd -n ns"} {
		if !strings.Contains(d.Reason, want) {
			t.Errorf("reason %q does not say %q", d.Reason, want)
		}
	}
}

func TestDecideFailure(t *testing.T) {
	base := rev(1, "deployed", "2.11.5", "")
	for _, tc := range []struct {
		name     string
		f        failure
		action   Action
		inReason string
	}{
		{"ours failed", failure{Base: base, Applied: 2, Latest: rev(2, "deployed", "2.11.6", ""), RollbackAllowed: true}, ActRollBack, ""},
		{"nothing applied", failure{Base: base, Applied: 0, Latest: rev(2, "pending-upgrade", "2.11.6", "Flux"), RollbackAllowed: true}, ActLeave, "no revision"},
		{"another client after ours", failure{Base: base, Applied: 2, Latest: rev(3, "deployed", "2.11.7", "Upgrade complete"), RollbackAllowed: true},
			ActRefuse, "revision 3"},
		{"rollback disabled", failure{Base: base, Applied: 2, Latest: rev(2, "deployed", "2.11.6", "")}, ActLeave, "rollback-on-failure is false"},
		{"nothing to go back to", failure{Applied: 1, Latest: rev(1, "deployed", "2.11.6", ""), RollbackAllowed: true}, ActLeave, "no earlier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decideFailure(tc.f)
			if d.Action != tc.action || !strings.Contains(d.Reason, tc.inReason) {
				t.Errorf("decision = %+v, want %s saying %q", d, tc.action, tc.inReason)
			}
			if d.Action == ActRollBack && d.To != tc.f.Base.Revision {
				t.Errorf("rollback to %d, want %d", d.To, tc.f.Base.Revision)
			}
		})
	}
}

func TestRecoveryMethod(t *testing.T) {
	m := func(n int64) *database.Migrations { return &database.Migrations{Table: true, Count: n, MaxID: n} }
	cases := []struct {
		name          string
		before, after *database.Migrations
		dump          bool
		want          RecoveryMethod
	}{
		{"no migration added, dump held", m(12), m(12), true, RecoverChartRollback},
		{"no migration added, no dump", m(12), m(12), false, RecoverChartRollback},
		{"migrations added, dump held", m(12), m(15), true, RecoverRestoreAndRollback},
		{"migrations added, no dump", m(12), m(15), false, RecoverLeaveAndInstruct},
		{"first pachd created the table", &database.Migrations{}, m(3), false, RecoverLeaveAndInstruct},
		{"after unreadable, dump held", m(12), nil, true, RecoverRestoreAndRollback},
		{"nothing known, no dump", nil, nil, false, RecoverChartRollback},
		{"after unreadable, no dump", m(12), nil, false, RecoverLeaveAndInstruct},
	}
	for _, c := range cases {
		if got := recoveryMethod(recoveryInput{Before: c.before, After: c.after, HaveDump: c.dump}); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
		// Started from a revision an earlier run left: whatever this run read or dumped is
		// the migrated database, so the chart is never rolled back.
		in := recoveryInput{Before: c.before, After: c.after, HaveDump: c.dump, DatabaseAhead: true}
		if got := recoveryMethod(in); got != RecoverLeaveAndInstruct {
			t.Errorf("%s, database ahead of the base: %s, want %s", c.name, got, RecoverLeaveAndInstruct)
		}
	}
}
