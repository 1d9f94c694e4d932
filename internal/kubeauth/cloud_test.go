package kubeauth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/pach-upgrade/pach-upgrade/internal/cluster"
	"github.com/pach-upgrade/pach-upgrade/internal/config"
	"github.com/pach-upgrade/pach-upgrade/internal/github"
	"github.com/pach-upgrade/pach-upgrade/internal/helmrelease"
	"github.com/pach-upgrade/pach-upgrade/internal/kubeauth"
	"github.com/pach-upgrade/pach-upgrade/internal/kubeauth/kubeauthtest"
	"github.com/pach-upgrade/pach-upgrade/internal/report"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/chartrepo"
	"github.com/pach-upgrade/pach-upgrade/internal/testenv/world"
	"github.com/pach-upgrade/pach-upgrade/internal/upgrade"
)

// clouds is the package's set of cloud stand-ins; the cluster's API server asks its webhook.
var clouds *kubeauthtest.Clouds

func TestMain(m *testing.M) {
	// The SDKs also read the process environment: the machine's own cloud settings (a CA
	// bundle, a profile) must not leak into the sign-ins under test, which get theirs through
	// Options.Getenv.
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		for _, p := range []string{"AWS_", "GOOGLE_", "AZURE_", "CLOUDSDK_", "ACTIONS_ID_TOKEN_"} {
			if strings.HasPrefix(k, p) {
				_ = os.Unsetenv(k)
			}
		}
	}
	_ = os.Setenv("AWS_CONFIG_FILE", os.DevNull)
	_ = os.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	var err error
	if clouds, err = kubeauthtest.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "kubeauthtest:", err)
		os.Exit(1)
	}
	code := testenv.MainWith(m, testenv.StartOptions{TokenWebhookURL: clouds.WebhookURL})
	clouds.Close()
	os.Exit(code)
}

const releaseName = "pachd"

// site is a namespace with the old release installed and deploy/rbac.yaml applied: the user
// the webhook maps a cloud identity to has exactly that Role.
type site struct {
	t    *testing.T
	ns   string
	user string
	w    *world.World
}

func newSite(t *testing.T) *site {
	t.Helper()
	ns := testenv.Namespace(t)
	admin := testenv.RESTConfig(t)
	w, err := world.New(context.Background(), world.Options{RESTConfig: admin, Namespace: ns, Dir: t.TempDir(),
		Charts:    []chartrepo.Chart{{Version: "7.11.5", AppVersion: "2.11.5"}, {Version: "7.11.6", AppVersion: "2.11.6"}},
		Changelog: "# Changelog\n\n## 2.11.6\n* Fix.\n"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	if _, err := w.Install(context.Background(), releaseName, "7.11.5", map[string]any{"deployTarget": "LOCAL"}); err != nil {
		t.Fatal(err)
	}
	kube, err := cluster.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	if err := kube.WaitReady(context.Background(), ns, cluster.Selection{Release: releaseName}, time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	sa := testenv.ApplyRBAC(t, filepath.Join("..", "..", "deploy", "rbac.yaml"), ns)
	return &site{t: t, ns: ns, user: sa.Impersonate.UserName, w: w}
}

// kubeconfig is the cluster's kubeconfig with user as the user entry (an exec block exactly as
// the cloud's tool writes it), under the tool's names for cluster, user and context.
func (s *site) kubeconfig(name, user string) string {
	s.t.Helper()
	admin := testenv.RESTConfig(s.t)
	ca := admin.CAData
	if len(ca) == 0 {
		var err error
		if ca, err = os.ReadFile(admin.CAFile); err != nil {
			s.t.Fatal(err)
		}
	}
	return fmt.Sprintf(`apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: %s
    server: %s
  name: %s
contexts:
- context:
    cluster: %[3]s
    user: %[3]s
  name: %[3]s
current-context: %[3]s
kind: Config
preferences: {}
users:
- name: %[3]s
  user:
%s`, base64.StdEncoding.EncodeToString(ca), admin.Host, name, user)
}

// signIn resolves the kubeconfig as main does: cluster.RESTConfig, then kubeauth.Configure.
func (s *site) signIn(kubeconfig string, env map[string]string, opts kubeauth.Options) (*rest.Config, *kubeauth.Signed, *tokens, error) {
	rc, err := cluster.RESTConfig([]byte(kubeconfig), "")
	if err != nil {
		s.t.Fatalf("kubeconfig: %v", err)
	}
	toks := &tokens{}
	opts.Getenv = func(k string) string { return env[k] }
	opts.Mask = toks.add
	opts.HTTPClient = clouds.Client()
	out, signed, err := kubeauth.Configure(context.Background(), rc, opts)
	return out, signed, toks, err
}

// tokens records every token the sign-in masked.
type tokens struct {
	mu   sync.Mutex
	seen []string
}

func (k *tokens) add(s string) {
	k.mu.Lock()
	k.seen = append(k.seen, s)
	k.mu.Unlock()
}

func (k *tokens) list() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.seen...)
}

// upgrade runs the whole upgrade to 2.11.6 with rc, as main does after signing in.
func (s *site) upgrade(rc *rest.Config, toks *tokens, inputs map[string]string) (*report.Report, string) {
	s.t.Helper()
	raw := s.w.Inputs()
	raw[config.InputRelease] = releaseName
	raw[config.InputTargetVersion] = "2.11.6"
	raw[config.InputBackupDir] = s.t.TempDir()
	for k, v := range inputs {
		raw[k] = v
	}
	cfg, err := config.Parse(raw)
	if err != nil {
		s.t.Fatalf("inputs: %v", err)
	}
	var out bytes.Buffer
	log := report.NewCLILogger(&out, &out)
	for _, tok := range toks.list() {
		log.AddMask(tok)
	}
	kube, err := cluster.New(rc)
	if err != nil {
		s.t.Fatal(err)
	}
	helm, err := helmrelease.New(rc, s.ns)
	if err != nil {
		s.t.Fatal(err)
	}
	gh, err := github.NewClient(github.Options{APIURL: s.w.GitHub.APIURL, ServerURL: s.w.GitHub.ServerURL})
	if err != nil {
		s.t.Fatal(err)
	}
	rep := upgrade.Run(context.Background(), cfg, upgrade.Deps{Log: log, Cluster: kube, Helm: helm, GitHub: gh,
		Holder: s.t.Name(), ToolCache: filepath.Join(os.TempDir(), "pach-upgrade-test-tools"), TempDir: s.t.TempDir()})
	log.AddSummary(report.Summary(rep))
	if testing.Verbose() {
		s.t.Logf("run output:\n%s", out.String())
	}
	return rep, out.String()
}

// upgraded runs the upgrade to 2.11.6 with rc and wants it done, at revision 2; it returns the
// run's output.
func (s *site) upgraded(rc *rest.Config, toks *tokens, inputs map[string]string) string {
	s.t.Helper()
	rep, out := s.upgrade(rc, toks, inputs)
	if rep.Result != report.ResultUpgraded {
		s.t.Fatalf("upgrade: %s (%s)", rep.Result, rep.Failure)
	}
	s.wantRevision(2, "2.11.6")
	return out
}

// upgradedAcrossExpiry runs an upgrade whose backup command (12 s) outlasts both the tokens,
// which the test made live 4 s, and the API server's 10 s cache of an accepted token: the run
// passes only when the token is refreshed, and more than one must have been issued.
func (s *site) upgradedAcrossExpiry(rc *rest.Config, toks *tokens) {
	s.t.Helper()
	s.upgraded(rc, toks, map[string]string{config.InputBackupCommand: "sleep 12"})
	if n := len(toks.list()); n < 2 {
		s.t.Errorf("%d token(s) over a run longer than a token's life, want a refresh", n)
	}
}

// wantRevision checks the release's latest revision (read as the admin).
func (s *site) wantRevision(revision int, app string) {
	s.t.Helper()
	rel, err := s.w.Helm.Get(context.Background(), releaseName)
	if err != nil {
		s.t.Fatal(err)
	}
	if rel.Revision != revision || rel.AppVersion != app {
		s.t.Errorf("release is revision %d (app %s), want revision %d (app %s)", rel.Revision, rel.AppVersion, revision, app)
	}
}

// noTokenIn fails when any issued token shows in text.
func noTokenIn(t *testing.T, text string, toks *tokens) {
	t.Helper()
	for _, tok := range toks.list() {
		if strings.Contains(text, tok) {
			t.Errorf("output shows a token")
		}
	}
}
