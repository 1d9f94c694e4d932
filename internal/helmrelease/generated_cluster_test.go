package helmrelease

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/chartrepo"
)

// liveGenerated reads, from the cluster, every value the real chart
// generates that an upgrade must keep.
func liveGenerated(t *testing.T, ns string, auth bool) map[string]string {
	t.Helper()
	ctx := context.Background()
	cs := clientset(t)
	out := map[string]string{}
	secret := func(name, key string) {
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		v, ok := s.Data[key]
		if !ok || len(v) == 0 {
			t.Fatalf("Secret %s has no %s", name, key)
		}
		out[name+"/"+key] = string(v)
	}
	secret("pachyderm-deployment-id-secret", "CLUSTER_DEPLOYMENT_ID")
	secret("pachyderm-console-secret", "OAUTH_CLIENT_SECRET")
	if auth {
		secret("pachyderm-auth", "root-token")
		secret("pachyderm-auth", "pachd-oauth-client-secret")
		secret("pachyderm-enterprise", "enterprise-secret")
	}
	for _, name := range []string{"pachd", "pachw"} {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		spec := d.Spec.Template.Spec
		for _, e := range spec.Containers[0].Env {
			if e.Name == "STORAGE_HOST_PATH" {
				out[name+"/STORAGE_HOST_PATH"] = e.Value
			}
		}
		for _, v := range spec.Volumes {
			if v.HostPath != nil {
				out[name+"/volume/"+v.Name] = v.HostPath.Path
			}
		}
		if out[name+"/STORAGE_HOST_PATH"] == "" {
			t.Fatalf("Deployment %s has no STORAGE_HOST_PATH", name)
		}
	}
	return out
}

func realChartValues(auth bool) map[string]any {
	pachd := map[string]any{"lokiDeploy": false}
	if auth {
		// An enterprise license key turns on enterprise, and with it the
		// chart's default activateAuth renders pachyderm-auth.
		pachd["enterpriseLicenseKey"] = "test-license-key"
	}
	return map[string]any{"deployTarget": "LOCAL", "pachd": pachd}
}

func TestRealChartKeepsGeneratedValues(t *testing.T) {
	repo := chartrepo.ServeDir(t, testenv.SharedFixtures(t))
	for _, tc := range []struct {
		name, from string
		auth       bool
	}{
		{"2.10.7", "2.10.7", false},
		{"2.11.5", "2.11.5", false},
		{"2.11.5-auth", "2.11.5", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			ns := namespace(t)
			c := newClient(t, ns)
			old, err := PullChart(ctx, repo.URL, "pachyderm", tc.from, PullOptions{})
			if err != nil {
				t.Fatal(err)
			}
			next, err := PullChart(ctx, repo.URL, "pachyderm", "2.11.6", PullOptions{})
			if err != nil {
				t.Fatal(err)
			}
			vals := realChartValues(tc.auth)
			// The real chart's install can take minutes on a loaded machine
			// under the race detector.
			if _, err := c.Install(ctx, testRelease, old, vals, UpgradeOptions{Timeout: 4 * time.Minute}); err != nil {
				t.Fatal(err)
			}
			before := liveGenerated(t, ns, tc.auth)

			start := time.Now()
			carry, err := c.FindGenerated(ctx, testRelease, next, vals, GeneratedOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d renders in %s (FindGenerated %s)", carry.Renders, carry.Took, time.Since(start))
			for _, f := range carry.Fields {
				if f.Outcome == NotInLive && !strings.Contains(f.Path, "UPGRADE_NO_OP") {
					t.Errorf("%s/%s: %s, but only UPGRADE_NO_OP is new to the release", f.Object, f.Path, f.Outcome)
				}
				t.Logf("%-45s %-70s %-26s %s (%s)", f.Object, f.Path, f.Outcome, f.ValuesKey, f.Note)
			}
			if err := carry.Err(); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"Secret/pachyderm-deployment-id-secret/data.CLUSTER_DEPLOYMENT_ID": "pachd.clusterDeploymentID",
				"Secret/pachyderm-console-secret/data.OAUTH_CLIENT_SECRET":         "console.config.oauthClientSecret",
			}
			if tc.auth {
				want["Secret/pachyderm-auth/stringData.root-token"] = "pachd.rootToken"
				want["Secret/pachyderm-auth/stringData.pachd-oauth-client-secret"] = "pachd.oauthClientSecret"
				want["Secret/pachyderm-enterprise/stringData.enterprise-secret"] = "pachd.enterpriseSecret"
			}
			got := map[string]GeneratedField{}
			for _, f := range carry.Fields {
				got[f.ID()] = f
			}
			for id, key := range want {
				if f := got[id]; f.Outcome != CarriedByValues || f.ValuesKey != key {
					t.Errorf("%s: %s by %q, want carried by values key %s", id, f.Outcome, f.ValuesKey, key)
				}
			}
			var hostPaths int
			for _, f := range carry.Fields {
				if strings.Contains(f.Path, "STORAGE_HOST_PATH") || strings.HasSuffix(f.Path, "hostPath.path") {
					hostPaths++
					if f.Outcome != CarriedByPostRenderer {
						t.Errorf("%s: %s, want carried by the post-renderer (pachd and pachw drew different paths)", f.ID(), f.Outcome)
					}
				}
				// The installed release has no UPGRADE_NO_OP: nothing to keep.
				if strings.Contains(f.Path, "UPGRADE_NO_OP") && f.Outcome != NotInLive {
					t.Errorf("%s: %s, want new", f.ID(), f.Outcome)
				}
			}
			if hostPaths != 4 {
				t.Errorf("%d host-path fields carried, want 4 (env and volume of pachd and pachw)", hostPaths)
			}
			for _, s := range carry.Secrets {
				if s == "" {
					t.Error("empty carried value")
				}
			}

			if _, err := c.Upgrade(ctx, testRelease, next, carry.Apply(vals), UpgradeOptions{
				Timeout: 4 * time.Minute, PostRenderer: carry.PostRenderer(),
			}); err != nil {
				t.Fatal(err)
			}
			after := liveGenerated(t, ns, tc.auth)
			for k, v := range before {
				if after[k] != v {
					t.Errorf("%s changed in the upgrade", k)
				}
			}

			// Upgrading again to the same chart: the values keys now pin
			// their fields, so only the host paths remain to carry.
			again, err := c.FindGenerated(ctx, testRelease, next, carry.Apply(vals), GeneratedOptions{})
			if err != nil {
				t.Fatal(err)
			}
			markers := 0
			for _, f := range again.Fields {
				switch {
				case f.Outcome == CarriedByValues:
					t.Errorf("second upgrade carries %s by values again", f.ID())
				case strings.Contains(f.Path, "UPGRADE_NO_OP"):
					// Now the live release has it, and only the rule keeps
					// it from being carried.
					markers++
					if f.Outcome != RolloutMarker {
						t.Errorf("second upgrade: %s: %s, want a rollout marker", f.ID(), f.Outcome)
					}
				case f.Outcome != CarriedByPostRenderer:
					t.Errorf("second upgrade: %s: %s", f.ID(), f.Outcome)
				}
			}
			if markers != 2 {
				t.Errorf("second upgrade: %d rollout markers, want pachd's and console's UPGRADE_NO_OP", markers)
			}
		})
	}
}
