package values

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestRedactHidesObjectStoreCredentials performs issue 21 item 5 with the
// credentials the real chart documents for determined.checkpointStorage:
// S3's secretKey and Azure's connection_string, which went in plain text
// to the values diff, the comment, the bump PR body and the backup (all
// rendered from Redact and RedactChanges).
func TestRedactHidesObjectStoreCredentials(t *testing.T) {
	const s3Secret = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"
	const azureKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq"
	const connStr = "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=" + azureKey + ";EndpointSuffix=core.windows.net"
	in := parseYAML(t, `
determined:
  checkpointStorage:
    type: s3
    bucket: ckpt
    accessKey: AKIAEXAMPLE
    secret_key: `+s3Secret+`
    secretKey: `+s3Secret+`
  azure:
    connection_string: "`+connStr+`"
  extraEnv:
  - "`+connStr+`"
  logging:
    url: "https://user:`+azureKey+`@logs.example.com/ingest"
global:
  postgresql:
    postgresqlExistingSecretKey: postgresql-password
oidc:
  clientSecretKey: client-secret
`)
	for name, out := range map[string]map[string]any{
		"Redact":        Redact(in),
		"RedactChanges": RedactChanges(in, map[string]any{}),
	} {
		b, err := yaml.Marshal(out)
		if err != nil {
			t.Fatal(err)
		}
		shown := string(b)
		for _, leak := range []string{s3Secret, azureKey, "AKIAEXAMPLE"} {
			if strings.Contains(shown, leak) {
				t.Errorf("%s shows %q:\n%s", name, leak, shown)
			}
		}
		// Names of Secrets' keys stay readable: a reviewer needs them.
		for _, keep := range []string{"postgresql-password", "client-secret", "bucket: ckpt"} {
			if !strings.Contains(shown, keep) {
				t.Errorf("%s hid %q, which is no credential:\n%s", name, keep, shown)
			}
		}
	}
}
