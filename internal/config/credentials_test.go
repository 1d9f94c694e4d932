package config

import (
	"strings"
	"testing"

	"github.com/pach-upgrade/pach-upgrade/internal/redact"
)

// TestBadURLInputsNeverEchoCredentials tries URL inputs a hostile or careless
// user would give: each is refused, and the error names the input without
// the password, the token or the query.
func TestBadURLInputsNeverEchoCredentials(t *testing.T) {
	const pw, tok = "PW-s3cr3t", "T0k3n-s3cr3t"
	cases := []struct{ input, value string }{
		{InputPachctlDownloadURL, "https://u:" + pw + "@host/x?token=" + tok},
		{InputPachctlDownloadURL, "https://u:" + pw + "@host/x?token=" + tok + "&v={version}x y"},
		{InputChartRepo, "ftp://u:" + pw + "@charts.example/?token=" + tok},
		{InputChartRepo, "https://u:" + pw + "@/?token=" + tok},
		{InputPachdAddress, "grpc://u:" + pw + "@pachd?token=" + tok},
		{InputPachdAddress, "u:" + pw + "@pachd:99999?token=" + tok},
		{InputPachdAddress, "ftp://" + tok + "@pachd:30650"},
	}
	for _, tc := range cases {
		_, err := Parse(map[string]string{InputTargetVersion: "2.11.6", tc.input: tc.value})
		if err == nil {
			t.Errorf("%s=%q accepted", tc.input, redact.URL(tc.value))
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.input) {
			t.Errorf("error does not name %s: %s", tc.input, msg)
		}
		for _, secret := range []string{pw, tok} {
			if strings.Contains(msg, secret) {
				t.Errorf("%s: error echoes a credential: %s", tc.input, msg)
			}
		}
	}
}

func TestURLCredentialsAreMasked(t *testing.T) {
	c, err := Parse(map[string]string{
		InputTargetVersion:      "2.11.6",
		InputChartRepo:          "https://charts:repo-pass@charts.example/",
		InputPachctlDownloadURL: "https://mirror.example/{version}/pachctl.tgz?sig=signature-value&x=1",
	})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	masks := strings.Join(c.SecretValues(), "\n")
	for _, want := range []string{"repo-pass", "signature-value"} {
		if !strings.Contains(masks, want) {
			t.Errorf("SecretValues lacks %q: %q", want, c.SecretValues())
		}
	}
	// A refused address is masked too, from the raw inputs.
	if got := URLCredentials(map[string]string{InputPachdAddress: "grpcs://pachd-token@pachd.example:443"}); !strings.Contains(strings.Join(got, "\n"), "pachd-token") {
		t.Errorf("URLCredentials(pachd-address) = %q, lacks the token", got)
	}
	for _, v := range c.SecretValues() {
		if len(v) < redact.MinMaskLen {
			t.Errorf("mask %q is too short: it would star out unrelated log text", v)
		}
	}
}
