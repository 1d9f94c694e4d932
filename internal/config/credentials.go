package config

import (
	"strings"

	"github.com/pach-upgrade/pach-upgrade/internal/redact"
)

// urlInputs are the inputs whose value is a URL or address that may carry
// credentials.
func urlInputs() []string {
	return []string{InputChartRepo, InputPachdAddress, InputPachctlDownloadURL}
}

// URLCredentials returns the credentials found in the URL inputs of raw
// (input name → value), for masking before anything is logged — also when
// the inputs are refused.
func URLCredentials(raw map[string]string) []string {
	var out []string
	for _, in := range urlInputs() {
		out = append(out, redact.URLCredentials(strings.TrimSpace(raw[in]))...)
	}
	return out
}
