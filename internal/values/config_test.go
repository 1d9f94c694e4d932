package values_test

import (
	"slices"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/values"
)

// The secrets table and the action's secret inputs are written in two places; a secret input
// without a row would be accepted and then silently ignored.
func TestSecretTableCoversEverySecretInput(t *testing.T) {
	var table []string
	for _, s := range values.SecretTable() {
		table = append(table, s.Input)
		if s.KeyInput != "" && !slices.ContainsFunc(config.Options(), func(o config.Option) bool { return o.Name == s.KeyInput }) {
			t.Errorf("secrets table row %s names key input %s, which is not an input", s.Input, s.KeyInput)
		}
	}
	inputs := config.SecretInputs()
	slices.Sort(table)
	slices.Sort(inputs)
	if !slices.Equal(table, inputs) {
		t.Errorf("secrets table inputs %v, config secret inputs %v: they must be the same", table, inputs)
	}
}
