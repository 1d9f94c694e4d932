package testenv

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestNamespaceNameIsAValidUniqueLabel(t *testing.T) {
	label := regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	long := "TestSomething/with_Sub-Test/" + strings.Repeat("X", 80)
	a, b := namespaceName(long), namespaceName(long)
	for _, n := range []string{a, b, namespaceName("TestA")} {
		if len(n) > 63 || !label.MatchString(n) {
			t.Errorf("namespaceName gave %q, not a DNS label", n)
		}
	}
	if a == b {
		t.Errorf("namespaceName gave %q twice", a)
	}
	if !strings.HasPrefix(namespaceName("TestA/b"), "t-testa-b-") {
		t.Errorf("namespaceName(TestA/b) = %q, want prefix t-testa-b-", namespaceName("TestA/b"))
	}
}

func TestParseEnvKeepsUpperCaseKeyValueLines(t *testing.T) {
	out := "go: downloading x\nDIR=/a/b\nHELM3=/c/helm3\nnot a pair\nkey=lower\nKUBECONFIG=/a/b/kubeconfig\n"
	env := parseEnv(out)
	want := map[string]string{"DIR": "/a/b", "HELM3": "/c/helm3", "KUBECONFIG": "/a/b/kubeconfig"}
	if len(env) != len(want) {
		t.Fatalf("parseEnv = %v, want %v", env, want)
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("parseEnv[%s] = %q, want %q", k, env[k], v)
		}
	}
}

func TestFromEnvReadsClusterEnvBesideKubeconfig(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(filepath.Join(dir, "cluster.env"), []byte("DIR="+dir+"\nHELM3=/bin/helm3\nHELM4=/bin/helm4\nKUBECONFIG="+kc+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvKubeconfig, kc)
	t.Setenv(EnvClusterDir, "")
	t.Setenv(EnvHelm3, "")
	t.Setenv(EnvHelm4, "")
	c := fromEnv()
	if c == nil || c.Kubeconfig() != kc || c.Dir() != dir || c.Helm3() != "/bin/helm3" || c.Helm4() != "/bin/helm4" {
		t.Fatalf("fromEnv = %+v, want kubeconfig %s, dir %s, helm3 /bin/helm3, helm4 /bin/helm4", c, kc, dir)
	}
}

func TestRepoRootFindsTheClusterModule(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "test", "cluster", "go.mod")); err != nil {
		t.Fatalf("RepoRoot() = %s without test/cluster/go.mod: %v", root, err)
	}
}
