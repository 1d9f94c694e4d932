package helmrelease

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
)

func TestCommonAffixes(t *testing.T) {
	for _, tc := range []struct{ a, b, prefix, suffix string }{
		{"/var/pachyderm-AbCdE/pachd", "/var/pachyderm-XyZ12/pachd", "/var/pachyderm-", "/pachd"},
		// Random characters that match at the edges are not template text.
		{"/var/pachyderm-aXYZb/pachd", "/var/pachyderm-aQRSb/pachd", "/var/pachyderm-", "/pachd"},
		{"Qw3rtY", "zxcvbn", "", ""},
		{"token-abcX", "token-abcY", "token-", ""},
	} {
		p, s := commonAffixes(tc.a, tc.b)
		if p != tc.prefix || s != tc.suffix {
			t.Errorf("commonAffixes(%q, %q) = %q, %q; want %q, %q", tc.a, tc.b, p, s, tc.prefix, tc.suffix)
		}
	}
}

func TestRandomKeysFromTemplates(t *testing.T) {
	tpl := func(name, text string) *common.File { return &common.File{Name: name, Data: []byte(text)} }
	sub := &chart.Chart{Metadata: &chart.Metadata{Name: "db"}, Templates: []*common.File{
		tpl("templates/secret.yaml", `pw: {{ .Values.password | default (randAlphaNum 10) }}
shared: {{ default (randAlpha 4) .Values.global.shared }}`),
	}}
	top := &chart.Chart{Metadata: &chart.Metadata{Name: "top"}, Templates: []*common.File{
		tpl("templates/_helpers.tpl", `{{- define "top.id" -}}{{ default (randAlphaNum 32) .Values.app.id }}{{- end -}}`),
		tpl("templates/deploy.yaml", `{{- $rand := printf "/var/x-%s/" (randAlphaNum 5) -}}
path: {{ .Values.storage.hostPath | default $rand }}data
image: {{ .Values.image.tag | default .Chart.AppVersion }}
{{- if not .Values.tokenSecretName }}
token: {{ randAlphaNum 8 }}
{{- end }}
{{- if .Release.IsUpgrade }}
nonce: {{ randAlphaNum 32 }}
{{- end }}`),
		tpl("templates/bad.yaml", `{{ if }}`),
	}}
	top.SetDependencies(sub)
	got := randomKeys(top)
	want := []string{"app.id", "db.password", "global.shared", "storage.hostPath"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("randomKeys = %v, want %v", got, want)
	}
}

func TestFieldPathsAndSecretText(t *testing.T) {
	objs, err := parseObjects(`---
apiVersion: v1
kind: Secret
metadata:
  name: s
data:
  tls.crt: aGVsbG8=
  TOKEN: d29ybGQ=
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
  namespace: other
spec:
  template:
    spec:
      containers:
      - name: app
        args: ["a", "b"]
        env:
        - name: X
          value: "1"
`, "ns")
	if err != nil {
		t.Fatal(err)
	}
	s := objs["Secret/ns/s"]
	if s == nil {
		t.Fatalf("objects: %v", sortedKeys(objs))
	}
	if v, ok := s.text(`data["tls.crt"]`); !ok || v != "hello" {
		t.Errorf(`data["tls.crt"] = %q, %v`, v, ok)
	}
	if v, ok := s.liveText("stringData.TOKEN"); !ok || v != "world" {
		t.Errorf("stringData.TOKEN read from data = %q, %v", v, ok)
	}
	d := objs["Deployment/other/d"]
	if d == nil || d.id("ns") != "Deployment/other/d" {
		t.Fatalf("deployment: %v", sortedKeys(objs))
	}
	for _, p := range []string{
		"spec.template.spec.containers[name=app].env[name=X].value",
		"spec.template.spec.containers[name=app].args[1]",
	} {
		if _, ok := d.fields[p]; !ok {
			t.Errorf("no field %s in %v", p, sortedKeys(d.fields))
		}
	}
}

func TestCarryRendererPatchesOnlyItsFields(t *testing.T) {
	in := `apiVersion: v1
kind: Secret
metadata:
  name: s
  annotations:
    postrenderer.helm.sh/postrender-filename: chart/templates/s.yaml
data:
  KEY: bmV3
  OTHER: b3RoZXI=
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - name: app
        env:
        - name: PATH_X
          value: /var/new/x
        - name: KEEP
          value: "as rendered"
`
	objs, err := parseObjects(in, "ns")
	if err != nil {
		t.Fatal(err)
	}
	carry := &Carry{patches: []patch{
		newPatch(objs["Secret/ns/s"], "data.KEY", "old"),
		newPatch(objs["Deployment/ns/d"], "spec.template.spec.containers[name=app].env[name=PATH_X].value", "/var/old/x"),
	}}
	out, err := carry.PostRenderer().Run(bytes.NewBufferString(in))
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseObjects(out.String(), "ns")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ obj, path, want string }{
		{"Secret/ns/s", "data.KEY", "old"},
		{"Secret/ns/s", "data.OTHER", "other"},
		{"Secret/ns/s", `metadata.annotations["postrenderer.helm.sh/postrender-filename"]`, "chart/templates/s.yaml"},
		{"Deployment/ns/d", "spec.template.spec.containers[name=app].env[name=PATH_X].value", "/var/old/x"},
		{"Deployment/ns/d", "spec.template.spec.containers[name=app].env[name=KEEP].value", "as rendered"},
	} {
		if v, _ := got[c.obj].text(c.path); v != c.want {
			t.Errorf("%s %s = %q, want %q", c.obj, c.path, v, c.want)
		}
	}

	// A patch whose object is gone must fail rather than silently drop the
	// carried value.
	missing := &Carry{patches: []patch{{kind: "Secret", name: "gone", segs: []segment{{kind: segKey, key: "data"}, {kind: segKey, key: "K"}}, value: "x"}}}
	if _, err := missing.PostRenderer().Run(bytes.NewBufferString(in)); err == nil || !strings.Contains(err.Error(), "Secret/gone") {
		t.Errorf("patch of a missing object: err = %v", err)
	}
	if (&Carry{}).PostRenderer() != nil {
		t.Error("a carry without patches has a post-renderer")
	}
}

func TestUncarriableErrorNamesFieldsNotValues(t *testing.T) {
	c := &Carry{Fields: []GeneratedField{
		{Object: "Secret/a", Path: "data.K", Outcome: CarriedByValues, ValuesKey: "a.k"},
		{Object: "ConfigMap/b", Path: "data.conf", Outcome: Uncarriable, Note: "the live value does not fit"},
	}}
	err := c.Err()
	if err == nil || !strings.Contains(err.Error(), "ConfigMap/b/data.conf") || strings.Contains(err.Error(), "Secret/a") {
		t.Errorf("Err() = %v", err)
	}
	if (&Carry{Fields: c.Fields[:1]}).Err() != nil {
		t.Error("Err() with every field carried")
	}
}

// TestClassify runs the decision on hand-made renders: the live release, two
// renders of the target, a fresh-install render and a sentinel render.
func TestClassify(t *testing.T) {
	objs := func(doc string) map[string]*object {
		t.Helper()
		o, err := parseObjects(doc, "ns")
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	const tmpl = `apiVersion: v1
kind: Secret
metadata: {name: s}
stringData:
  id: %[1]s
  token: %[2]s
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: app
        env:
        - {name: PATH_A, value: "/var/p-%[3]s/a"}
        - {name: PATH_B, value: "/var/p-%[4]s/a"}
        - {name: LAYOUT, value: "%[5]s"}
%[6]s`
	render := func(id, token, pa, pb, layout, nonce string) string {
		extra := ""
		if nonce != "" {
			extra = "        - {name: NONCE, value: " + nonce + "}\n"
		}
		return fmt.Sprintf(tmpl, id, token, pa, pb, layout, extra)
	}
	live := objs(render("liveID", "liveTok", "LiveA", "LiveB", "/var/l-OldLL/v1", "oldnonce"))
	a := objs(render("aaID", "aaTok", "AAAAA", "BBBBB", "/var/l-CCCCC/v2", "n1"))
	b := objs(render("bbID", "bbTok", "DDDDD", "EEEEE", "/var/l-FFFFF/v2", "n2"))
	installed := objs(render("iiID", "iiTok", "GGGGG", "HHHHH", "/var/l-IIIII/v2", ""))
	sentinels := map[string]string{"app.id": "SENT1", "storage.path": "SENT2"}
	sent := objs(render("SENT1", "ssTok", "SENT2", "SENT2", "/var/l-JJJJJ/v2", "n3"))

	gen := generatedFields(a, b)
	if len(gen) != 6 {
		t.Fatalf("generated fields: %+v", gen)
	}
	carry := &Carry{Values: map[string]string{}}
	carry.classify("ns", gen, a, live, installed, sent, sentinels, []string{"Secret/s/stringData.token"})
	got := map[string]GeneratedField{}
	for _, f := range carry.Fields {
		got[f.ID()] = f
	}
	env := "Deployment/d/spec.template.spec.containers[name=app].env"
	for id, want := range map[string]struct {
		outcome Outcome
		key     string
	}{
		"Secret/s/stringData.id":    {CarriedByValues, "app.id"},
		"Secret/s/stringData.token": {Regenerated, ""},
		env + "[name=PATH_A].value": {CarriedByPostRenderer, "storage.path"},
		env + "[name=PATH_B].value": {CarriedByPostRenderer, "storage.path"},
		env + "[name=LAYOUT].value": {Uncarriable, ""},
		env + "[name=NONCE].value":  {RolloutMarker, ""},
	} {
		if f := got[id]; f.Outcome != want.outcome || f.ValuesKey != want.key {
			t.Errorf("%s: %s (key %q, %s), want %s (key %q)", id, f.Outcome, f.ValuesKey, f.Note, want.outcome, want.key)
		}
	}
	if len(carry.Values) != 1 || carry.Values["app.id"] != "liveID" {
		t.Errorf("values to pin: %v", carry.Values)
	}
	if len(carry.patches) != 2 {
		t.Errorf("patches: %+v", carry.patches)
	}
	var ue *UncarriableError
	if err := carry.Err(); !errors.As(err, &ue) || len(ue.Fields) != 1 || !strings.Contains(err.Error(), "LAYOUT") {
		t.Errorf("Err() = %v", err)
	}
	for _, s := range carry.Secrets {
		if strings.Contains(carry.Err().Error(), s) {
			t.Errorf("the error shows a carried value")
		}
	}
}
