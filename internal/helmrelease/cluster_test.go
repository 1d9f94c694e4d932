package helmrelease

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/chartrepo"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const testRelease = "pachd"

// oldAndNew serves the test chart at two versions whose chart versions differ from their
// Pachyderm (app) versions, as they may in a real repository.
func oldAndNew(t *testing.T) (old, next *Chart) {
	t.Helper()
	r := chartrepo.Serve(t, chartrepo.Chart{Version: "1.0.0", AppVersion: "2.11.5"}, chartrepo.Chart{Version: "1.0.1", AppVersion: "2.11.6"})
	var err error
	if old, err = PullChart(context.Background(), r.URL, "pachyderm", "1.0.0", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if next, err = PullChart(context.Background(), r.URL, "pachyderm", "1.0.1", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	return old, next
}

func localValues() map[string]any {
	return map[string]any{"deployTarget": "LOCAL"}
}

func newClient(t *testing.T, ns string) *Client {
	t.Helper()
	c, err := New(testenv.RESTConfig(t), ns)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func install(t *testing.T, c *Client, ch *Chart, values map[string]any) *Release {
	t.Helper()
	rel, err := c.Install(context.Background(), testRelease, ch, values, UpgradeOptions{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

func pachdImage(t *testing.T, ns string) string {
	t.Helper()
	d, err := clientset(t).AppsV1().Deployments(ns).Get(context.Background(), "pachd", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pachd Deployment: %v", err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

func wantRelease(t *testing.T, got *Release, revision int, status, chartVersion, app string) {
	t.Helper()
	if got.Revision != revision || got.Status != status || got.ChartVersion != chartVersion || got.AppVersion != app {
		t.Fatalf("release: revision %d %s chart %s app %s; want revision %d %s chart %s app %s",
			got.Revision, got.Status, got.ChartVersion, got.AppVersion, revision, status, chartVersion, app)
	}
}

func TestUpgradeThenRollback(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	c := newClient(t, ns)
	old, next := oldAndNew(t)
	install(t, c, old, localValues())

	vals := localValues()
	vals["console"] = map[string]any{"enabled": false}
	up, err := c.Upgrade(ctx, testRelease, next, vals, UpgradeOptions{Timeout: time.Minute, Description: "pach-upgrade test"})
	if err != nil {
		t.Fatal(err)
	}
	wantRelease(t, up, 2, "deployed", "1.0.1", "2.11.6")

	got, err := c.Get(ctx, testRelease)
	if err != nil {
		t.Fatal(err)
	}
	wantRelease(t, got, 2, "deployed", "1.0.1", "2.11.6")
	if got.ApplyMethod != "ssa" {
		t.Errorf("apply method %q, want server-side apply (Helm 4's default)", got.ApplyMethod)
	}
	if got.Values["console"] == nil || got.Description != "pach-upgrade test" {
		t.Errorf("user values or description not stored: %v %q", got.Values, got.Description)
	}
	if img := pachdImage(t, ns); img != "pachyderm/pachd:2.11.6" {
		t.Errorf("pachd image after upgrade: %s", img)
	}
	if _, err := clientset(t).AppsV1().Deployments(ns).Get(ctx, "console", metav1.GetOptions{}); err == nil {
		t.Error("console Deployment still exists after console.enabled=false")
	}

	if err := c.Rollback(ctx, testRelease, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err = c.Get(ctx, testRelease)
	if err != nil {
		t.Fatal(err)
	}
	wantRelease(t, got, 3, "deployed", "1.0.0", "2.11.5")
	if img := pachdImage(t, ns); img != "pachyderm/pachd:2.11.5" {
		t.Errorf("pachd image after rollback: %s", img)
	}
	history, err := c.History(ctx, testRelease)
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, h := range history {
		statuses = append(statuses, h.Status)
	}
	if strings.Join(statuses, ",") != "superseded,superseded,deployed" {
		t.Errorf("history statuses %v", statuses)
	}
}

func TestGetMissingRelease(t *testing.T) {
	c := newClient(t, namespace(t))
	if _, err := c.Get(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing release: %v, want ErrNotFound", err)
	}
}

func TestPlanChangesNothing(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	c := newClient(t, ns)
	old, next := oldAndNew(t)
	const oldPass, newPass = "first-pass-1234", "second-pass-5678"
	oldVals := localValues()
	oldVals["global"] = map[string]any{"postgresql": map[string]any{"postgresqlPassword": oldPass}}
	// A credential known by its path only (its key, "id", says nothing): the one rule
	// of package values covers it in the plan too.
	const oldKeyID, newKeyID = "AKIA-OLD-KEY-ID", "AKIA-NEW-KEY-ID"
	oldVals["pachd"] = map[string]any{"storage": map[string]any{"amazon": map[string]any{"id": oldKeyID}}}
	install(t, c, old, oldVals)

	newVals := localValues()
	newVals["global"] = map[string]any{"postgresql": map[string]any{"postgresqlPassword": newPass}}
	newVals["pachd"] = map[string]any{"storage": map[string]any{"amazon": map[string]any{"id": newKeyID}}}
	p, err := c.Plan(ctx, testRelease, next, newVals, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, testRelease)
	if err != nil {
		t.Fatal(err)
	}
	wantRelease(t, got, 1, "deployed", "1.0.0", "2.11.5")
	if h, _ := c.History(ctx, testRelease); len(h) != 1 {
		t.Errorf("plan added revisions: %d", len(h))
	}
	if img := pachdImage(t, ns); img != "pachyderm/pachd:2.11.5" {
		t.Errorf("plan changed the pachd image: %s", img)
	}
	s, err := clientset(t).CoreV1().Secrets(ns).Get(ctx, "postgres", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Data["postgresql-password"]) != oldPass {
		t.Error("plan changed the postgres Secret")
	}

	if !p.Changed() || p.CurrentRevision != 1 || p.TargetApp != "2.11.6" || p.CurrentApp != "2.11.5" {
		t.Errorf("plan summary: %+v", p)
	}
	if !strings.Contains(p.ManifestDiff, "-        image: \"pachyderm/pachd:2.11.5\"") ||
		!strings.Contains(p.ManifestDiff, "+        image: \"pachyderm/pachd:2.11.6\"") {
		t.Errorf("manifest diff does not show the pachd image change:\n%s", p.ManifestDiff)
	}
	if !strings.Contains(p.ManifestDiff, redactedChanged) {
		t.Errorf("manifest diff does not mark the changed Secret value:\n%s", p.ManifestDiff)
	}
	for _, leak := range []string{oldPass, newPass, oldKeyID, newKeyID, base64.StdEncoding.EncodeToString([]byte(oldPass)), base64.StdEncoding.EncodeToString([]byte(newPass))} {
		if strings.Contains(p.ManifestDiff, leak) || strings.Contains(p.ValuesDiff, leak) {
			t.Fatalf("plan leaks a Secret value (%d chars)", len(leak))
		}
	}
	if !hasMarker(p.ValuesDiff, "+      id", redactedChanged) {
		t.Errorf("values diff does not mark the changed key id:\n%s", p.ValuesDiff)
	}
	if !hasMarker(p.ValuesDiff, "+    postgresqlPassword", redactedChanged) {
		t.Errorf("values diff does not mark the changed password:\n%s", p.ValuesDiff)
	}
	if len(p.Updated) == 0 {
		t.Error("server-side dry run reported no objects")
	}
}

// makePending stores a copy of the latest revision as a new pending revision, as an upgrade
// killed between writing its record and finishing would leave it.
func makePending(t *testing.T, c *Client, status rcommon.Status) int {
	t.Helper()
	last, err := c.cfg.Releases.Last(testRelease)
	if err != nil {
		t.Fatal(err)
	}
	rel := *last.(*release.Release)
	info := *rel.Info
	info.Status = status
	info.Description = "Preparing upgrade"
	rel.Info = &info
	rel.Version++
	if err := c.cfg.Releases.Create(&rel); err != nil {
		t.Fatal(err)
	}
	return rel.Version
}

func TestPendingDetectionAndRecovery(t *testing.T) {
	ctx := context.Background()
	c := newClient(t, namespace(t))
	old, next := oldAndNew(t)
	install(t, c, old, localValues())
	if _, err := c.Upgrade(ctx, testRelease, next, localValues(), UpgradeOptions{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckPending(ctx, testRelease); err != nil {
		t.Fatalf("deployed release reported pending: %v", err)
	}
	pendingRev := makePending(t, c, rcommon.StatusPendingUpgrade)

	err := c.CheckPending(ctx, testRelease)
	var pending *PendingError
	if !errors.As(err, &pending) || pending.Status != "pending-upgrade" || pending.Revision != pendingRev {
		t.Fatalf("CheckPending: %v", err)
	}
	if !strings.Contains(err.Error(), "pending-upgrade") {
		t.Errorf("error does not name the state: %v", err)
	}
	if _, err := c.Upgrade(ctx, testRelease, next, localValues(), UpgradeOptions{Timeout: time.Minute}); err == nil {
		t.Fatal("upgrade of a pending release succeeded")
	}

	to, err := c.RecoverPending(ctx, testRelease, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if to != 2 {
		t.Errorf("recovered to revision %d, want 2 (the last deployed)", to)
	}
	got, err := c.Get(ctx, testRelease)
	if err != nil {
		t.Fatal(err)
	}
	wantRelease(t, got, pendingRev+1, "deployed", "1.0.1", "2.11.6")
	h, err := c.History(ctx, testRelease)
	if err != nil {
		t.Fatal(err)
	}
	if h[pendingRev-1].Status != "failed" {
		t.Errorf("interrupted revision left %s", h[pendingRev-1].Status)
	}
	if _, err := c.Upgrade(ctx, testRelease, next, localValues(), UpgradeOptions{Timeout: time.Minute}); err != nil {
		t.Fatalf("upgrade after recovery: %v", err)
	}
	if to, err := c.RecoverPending(ctx, testRelease, time.Minute); err != nil || to != 0 {
		t.Errorf("RecoverPending on a deployed release: %d, %v", to, err)
	}
}

func TestRealPachydermChart(t *testing.T) {
	ctx := context.Background()
	repo := chartrepo.ServeDir(t, testenv.SharedFixtures(t))
	ns := namespace(t)
	c := newClient(t, ns)
	old, err := PullChart(ctx, repo.URL, "pachyderm", "2.11.5", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	next, err := PullChart(ctx, repo.URL, "pachyderm", "2.11.6", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{"deployTarget": "LOCAL", "pachd": map[string]any{"lokiDeploy": false}}
	install(t, c, old, vals)

	p, err := c.Plan(ctx, testRelease, next, vals, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.ManifestDiff, "pachyderm/pachd:2.11.6") {
		t.Errorf("real chart plan does not show the pachd image change")
	}
	if strings.Contains(p.ManifestDiff, base64.StdEncoding.EncodeToString([]byte("insecure-user-password"))) {
		t.Error("real chart plan leaks the postgres password")
	}

	if _, err := c.Upgrade(ctx, testRelease, next, vals, UpgradeOptions{Timeout: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, testRelease)
	if err != nil {
		t.Fatal(err)
	}
	wantRelease(t, got, 2, "deployed", "2.11.6", "2.11.6")
	if img := pachdImage(t, ns); !strings.HasSuffix(img, ":2.11.6") {
		t.Errorf("pachd image after the real upgrade: %s", img)
	}
}

// installedAndUpgraded installs the test chart 1.0.0 in a new namespace and upgrades it to
// 1.0.1 through the SDK, returning the namespace, the client and the 1.0.1 chart.
func installedAndUpgraded(t *testing.T) (string, *Client, *Chart) {
	t.Helper()
	ns := namespace(t)
	c := newClient(t, ns)
	old, next := oldAndNew(t)
	install(t, c, old, localValues())
	if _, err := c.Upgrade(context.Background(), testRelease, next, localValues(), UpgradeOptions{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	return ns, c, next
}

// TestHelm3CanReadAndRollBack proves the Helm 3 CLI still manages a release this package
// upgraded through the Helm 4 SDK (server-side apply, Helm 4 release records), and that the
// SDK reads what Helm 3 wrote back.
func TestHelm3CanReadAndRollBack(t *testing.T) {
	ctx := context.Background()
	ns, c, next := installedAndUpgraded(t)

	run := func(args ...string) string { t.Helper(); return helm3(t, ns, args...) }
	if v := run("version", "--short"); !strings.HasPrefix(v, "v3.") {
		t.Fatalf("not a Helm 3 CLI: %s", v)
	}
	list := run("list", "--output", "json")
	if !strings.Contains(list, `"name":"pachd"`) || !strings.Contains(list, `"revision":"2"`) || !strings.Contains(list, `"app_version":"2.11.6"`) || !strings.Contains(list, `"status":"deployed"`) {
		t.Fatalf("helm3 list does not show our upgraded release:\n%s", list)
	}
	history := run("history", testRelease, "--output", "json")
	if !strings.Contains(history, `"revision":1`) || !strings.Contains(history, `"revision":2`) || !strings.Contains(history, `"app_version":"2.11.6"`) {
		t.Fatalf("helm3 history does not show both revisions:\n%s", history)
	}
	run("rollback", testRelease, "1")

	got, err := c.Get(ctx, testRelease)
	if err != nil {
		t.Fatalf("SDK cannot read the release Helm 3 rolled back: %v", err)
	}
	wantRelease(t, got, 3, "deployed", "1.0.0", "2.11.5")
	if img := pachdImage(t, ns); img != "pachyderm/pachd:2.11.5" {
		t.Errorf("pachd image after the Helm 3 rollback: %s", img)
	}
	// And the SDK can take over again from a revision Helm 3 wrote.
	up, err := c.Upgrade(ctx, testRelease, next, localValues(), UpgradeOptions{Timeout: time.Minute})
	if err != nil {
		t.Fatalf("SDK upgrade after Helm 3 rollback: %v", err)
	}
	wantRelease(t, up, 4, "deployed", "1.0.1", "2.11.6")
}

// TestFieldsOwnedAsTheHelmCLI: every object field the SDK writes is owned by manager "helm",
// as with the Helm CLIs, so a release the CLI installed upgrades here without server-side
// apply conflicts, and the CLI can roll back what this package upgraded.
func TestFieldsOwnedAsTheHelmCLI(t *testing.T) {
	ctx := context.Background()
	ns, _, _ := installedAndUpgraded(t)
	d, err := clientset(t).AppsV1().Deployments(ns).Get(ctx, "pachd", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	managers := map[string]bool{}
	for _, f := range d.ManagedFields {
		if f.Operation == metav1.ManagedFieldsOperationApply || f.Operation == metav1.ManagedFieldsOperationUpdate && f.Subresource == "" {
			managers[f.Manager] = true
		}
	}
	if !managers[FieldManager] {
		t.Errorf("pachd Deployment fields are not owned by %q: managers %v", FieldManager, managers)
	}
	for m := range managers {
		if m != FieldManager && m != "kube-controller-manager" {
			t.Errorf("pachd Deployment has fields owned by %q: a Helm CLI upgrade would conflict with them", m)
		}
	}
}

// helm3 runs the Helm 3 CLI built with the cluster against namespace ns.
func helm3(t *testing.T, ns string, args ...string) string {
	t.Helper()
	return helm3Driver(t, ns, "", args...)
}

// helm3Driver runs the Helm 3 CLI with HELM_DRIVER=driver (unset when empty).
func helm3Driver(t *testing.T, ns, driver string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), testenv.Helm3(t), append(args, "--kubeconfig", testenv.Kubeconfig(t), "--namespace", ns)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir(), "HELM_DRIVER="+driver)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm3 %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestUpgradeReleaseInstalledByHelm3 is the common case in production: a release the Helm 3
// CLI installed (client-side apply, Helm 3 release records) upgraded and rolled back here.
func TestUpgradeReleaseInstalledByHelm3(t *testing.T) {
	cases := []struct {
		name     string
		repo     func(t *testing.T) *chartrepo.Repo
		from, to string
		app      string
		values   []string
	}{
		{"test chart", func(t *testing.T) *chartrepo.Repo {
			return chartrepo.Serve(t, chartrepo.Chart{Version: "1.0.0", AppVersion: "2.11.5"}, chartrepo.Chart{Version: "1.0.1", AppVersion: "2.11.6"})
		}, "1.0.0", "1.0.1", "2.11.6", []string{"--set", "deployTarget=LOCAL"}},
		{"real chart", func(t *testing.T) *chartrepo.Repo {
			return chartrepo.ServeDir(t, testenv.SharedFixtures(t))
		}, "2.11.5", "2.11.6", "2.11.6", []string{"--set", "deployTarget=LOCAL", "--set", "pachd.lokiDeploy=false"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			repo := tc.repo(t)
			ns := namespace(t)
			archive := filepath.Join(repo.Dir, "pachyderm-"+tc.from+".tgz")
			helm3(t, ns, append([]string{"install", testRelease, archive}, tc.values...)...)

			c := newClient(t, ns)
			before, err := c.Get(ctx, testRelease)
			if err != nil {
				t.Fatalf("SDK cannot read the Helm 3 release: %v", err)
			}
			next, err := PullChart(ctx, repo.URL, "pachyderm", tc.to, PullOptions{})
			if err != nil {
				t.Fatal(err)
			}
			up, err := c.Upgrade(ctx, testRelease, next, before.Values, UpgradeOptions{Timeout: 2 * time.Minute})
			if err != nil {
				t.Fatalf("SDK upgrade of a Helm 3 release: %v", err)
			}
			wantRelease(t, up, 2, "deployed", tc.to, tc.app)
			if img := pachdImage(t, ns); !strings.HasSuffix(img, ":"+tc.app) {
				t.Errorf("pachd image after the upgrade: %s", img)
			}
			if err := c.Rollback(ctx, testRelease, 1, time.Minute); err != nil {
				t.Fatalf("SDK rollback to the Helm 3 revision: %v", err)
			}
			if img := pachdImage(t, ns); strings.HasSuffix(img, ":"+tc.app) {
				t.Errorf("pachd image after the rollback: %s", img)
			}
			if h := helm3(t, ns, "history", testRelease, "--output", "json"); !strings.Contains(h, `"revision":3`) {
				t.Errorf("helm3 history after the SDK's upgrade and rollback lacks revision 3:\n%s", h)
			}
		})
	}
}

// TestHelmDriver: a release the Helm 3 CLI keeps in ConfigMaps (HELM_DRIVER=configmap, common
// after a Helm 2 migration) or in Secrets is found, upgraded and rolled back by a client with
// the same driver, its records stay where the CLI reads them, and a client with the other
// driver does not see it.
func TestHelmDriver(t *testing.T) {
	for _, tc := range []struct{ driver, other, kind string }{
		{"configmap", "secret", "ConfigMap"},
		{"secret", "configmap", "Secret"},
	} {
		t.Run(tc.driver, func(t *testing.T) {
			ctx := context.Background()
			repo := chartrepo.Serve(t, chartrepo.Chart{Version: "1.0.0", AppVersion: "2.11.5"}, chartrepo.Chart{Version: "1.0.1", AppVersion: "2.11.6"})
			ns := namespace(t)
			helm3Driver(t, ns, tc.driver, "install", testRelease, filepath.Join(repo.Dir, "pachyderm-1.0.0.tgz"), "--set", "deployTarget=LOCAL")

			other, err := New(testenv.RESTConfig(t), ns, WithDriver(tc.other))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := other.Get(ctx, testRelease); !errors.Is(err, ErrNotFound) {
				t.Errorf("a %s client sees the release kept by the %s driver: %v", tc.other, tc.driver, err)
			}

			c, err := New(testenv.RESTConfig(t), ns, WithDriver(tc.driver))
			if err != nil {
				t.Fatal(err)
			}
			before, err := c.Get(ctx, testRelease)
			if err != nil {
				t.Fatalf("%s client cannot read the release: %v", tc.driver, err)
			}
			next, err := PullChart(ctx, repo.URL, "pachyderm", "1.0.1", PullOptions{})
			if err != nil {
				t.Fatal(err)
			}
			up, err := c.Upgrade(ctx, testRelease, next, before.Values, UpgradeOptions{Timeout: 2 * time.Minute})
			if err != nil {
				t.Fatalf("upgrade with the %s driver: %v", tc.driver, err)
			}
			wantRelease(t, up, 2, "deployed", "1.0.1", "2.11.6")
			if err := c.Rollback(ctx, testRelease, 1, time.Minute); err != nil {
				t.Fatalf("rollback with the %s driver: %v", tc.driver, err)
			}
			if img := pachdImage(t, ns); img != "pachyderm/pachd:2.11.5" {
				t.Errorf("pachd image after the rollback: %s", img)
			}
			if h := helm3Driver(t, ns, tc.driver, "history", testRelease, "--output", "json"); !strings.Contains(h, `"revision":3`) {
				t.Errorf("helm3 (HELM_DRIVER=%s) history lacks revision 3:\n%s", tc.driver, h)
			}
			sel := metav1.ListOptions{LabelSelector: "owner=helm,name=" + testRelease}
			var records int
			if tc.kind == "ConfigMap" {
				l, err := clientset(t).CoreV1().ConfigMaps(ns).List(ctx, sel)
				if err != nil {
					t.Fatal(err)
				}
				records = len(l.Items)
			} else {
				l, err := clientset(t).CoreV1().Secrets(ns).List(ctx, sel)
				if err != nil {
					t.Fatal(err)
				}
				records = len(l.Items)
			}
			if records != 3 {
				t.Errorf("%d release records in %ss, want 3", records, tc.kind)
			}

			// This client has read the release; another (the Helm 3 CLI) moves it on. The
			// next Get must see that, not what this client read before.
			if _, err := c.Get(ctx, testRelease); err != nil {
				t.Fatal(err)
			}
			helm3Driver(t, ns, tc.driver, "rollback", testRelease, "2")
			if got, err := c.Get(ctx, testRelease); err != nil || got.Revision != 4 {
				t.Errorf("Get after another client's rollback: revision %v, %v; want 4", got, err)
			}
		})
	}
}
