package helmrelease

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// tplChart is a chart that, like the real Pachyderm chart's
// loki-stack.loki.url, runs a value through tpl.
func tplChart(version string) *Chart {
	return &Chart{Chart: &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: "v2", Name: "tpl", Version: version, AppVersion: "2.11.5"},
		Values:   map[string]any{"url": "http://loki:3100"},
		Templates: []*common.File{{Name: "templates/cm.yaml", Data: []byte(
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: loki-url\ndata:\n  url: {{ tpl .Values.url . | quote }}\n")}},
	}}
}

// TestPlanLookupFindsNoSecret performs issue 21 item 4: a pull request's
// values ask lookup for a Secret, which the chart's tpl runs during the
// plan's server dry run. No byte of the Secret may reach the plan; a
// ConfigMap looked up the same way still is (the plan sees the cluster).
func TestPlanLookupFindsNoSecret(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	cs := clientset(t)
	const password = "hunter2-plan-must-not-show"
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		StringData: map[string]string{"password": password}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "plain"},
		Data: map[string]string{"k": "visible-config-value"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, ns)
	if _, err := c.Install(ctx, "tpl", tplChart("1.0.0"), nil, UpgradeOptions{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	hostile := `{{ (lookup "v1" "Secret" .Release.Namespace "db").data | toJson }}` +
		`|{{ (lookup "v1" "Secret" .Release.Namespace "") | toJson }}` +
		`|{{ (lookup "v1" "ConfigMap" .Release.Namespace "plain").data | toJson }}`
	p, err := c.Plan(ctx, "tpl", tplChart("1.0.1"), map[string]any{"url": hostile}, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	all := p.ManifestDiff + p.ValuesDiff
	for _, leak := range []string{password, base64.StdEncoding.EncodeToString([]byte(password))} {
		if strings.Contains(all, leak) {
			t.Fatalf("the plan shows the Secret (%q):\n%s", leak, p.ManifestDiff)
		}
	}
	if !strings.Contains(p.ManifestDiff, "visible-config-value") {
		t.Errorf("the plan's lookup of a ConfigMap found nothing; the test proves nothing:\n%s", p.ManifestDiff)
	}
}
