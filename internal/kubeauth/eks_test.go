package kubeauth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pach-upgrade/pach-upgrade/internal/kubeauth"
	"github.com/pach-upgrade/pach-upgrade/internal/kubeauth/kubeauthtest"
)

const eksRole = "arn:aws:iam::" + kubeauthtest.AWSAccount + ":role/pach-upgrade-deployer"

// awsGetToken is the user entry `aws eks update-kubeconfig --name pach-prod --region eu-west-1`
// writes.
const awsGetToken = `    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - --region
      - eu-west-1
      - eks
      - get-token
      - --cluster-name
      - pach-prod
      - --output
      - json
      command: aws
`

const eksClusterARN = "arn:aws:eks:eu-west-1:" + kubeauthtest.AWSAccount + ":cluster/pach-prod"

// awsEnv is what aws-actions/configure-aws-credentials exports after assuming its role with
// the job's OIDC token.
func awsEnv(k kubeauthtest.AWSKey) map[string]string {
	return map[string]string{"AWS_ACCESS_KEY_ID": k.AccessKeyID, "AWS_SECRET_ACCESS_KEY": k.SecretAccessKey,
		"AWS_SESSION_TOKEN": k.SessionToken, "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"}
}

func TestEKSUpgradeThroughAWSEKSGetToken(t *testing.T) {
	s := newSite(t)
	key := clouds.AWS.NewKey("arn:aws:sts::" + kubeauthtest.AWSAccount + ":assumed-role/pach-upgrade-deployer/GitHubActions")
	clouds.MapUser(eksRole, s.user)
	before := clouds.AWS.Calls("GetCallerIdentity")

	rc, signed, toks, err := s.signIn(s.kubeconfig(eksClusterARN, awsGetToken), awsEnv(key), kubeauth.Options{})
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	if signed.Cloud != "EKS" || signed.Plugin != "aws" || signed.User != s.user {
		t.Errorf("signed in as %+v, want EKS through aws as %s", signed, s.user)
	}
	out := s.upgraded(rc, toks, nil)
	if clouds.AWS.Calls("GetCallerIdentity") == before {
		t.Error("the webhook never replayed a token to STS")
	}
	if len(toks.list()) == 0 || !strings.HasPrefix(toks.list()[0], "k8s-aws-v1.") {
		t.Errorf("no EKS token was masked: %d tokens", len(toks.list()))
	}
	noTokenIn(t, out, toks)
}

// TestEKSTokenExpiresMidRun signs in as aws-iam-authenticator does with a role to assume, with
// tokens that the cluster accepts for 4s and a backup command that takes 12s: the API server
// caches an accepted token for 10s, so the run only passes when the token is refreshed.
func TestEKSTokenExpiresMidRun(t *testing.T) {
	s := newSite(t)
	base := clouds.AWS.NewKey("arn:aws:iam::" + kubeauthtest.AWSAccount + ":user/ci")
	clouds.AWS.AllowRole(eksRole)
	clouds.MapUser(eksRole, s.user)
	clouds.SetEKSMaxAge(4 * time.Second)
	t.Cleanup(func() { clouds.SetEKSMaxAge(15 * time.Minute) })
	authenticator := `    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws-iam-authenticator
      args:
      - "token"
      - "-i"
      - "pach-prod"
      - "-r"
      - "` + eksRole + `"
`
	env := awsEnv(base)
	rc, signed, toks, err := s.signIn(s.kubeconfig("pach-prod", authenticator), env, kubeauth.Options{EKSTokenLifetime: 4 * time.Second})
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	if signed.Plugin != "aws-iam-authenticator" {
		t.Errorf("plugin %q", signed.Plugin)
	}
	if clouds.AWS.Calls("AssumeRole") == 0 {
		t.Error("the role was never assumed")
	}
	s.upgradedAcrossExpiry(rc, toks)
}

func TestEKSWrongCredentialsChangeNothing(t *testing.T) {
	s := newSite(t)
	clouds.MapUser(eksRole, s.user)
	key := clouds.AWS.NewKey("arn:aws:sts::" + kubeauthtest.AWSAccount + ":assumed-role/pach-upgrade-deployer/GitHubActions")
	key.SecretAccessKey = strings.Repeat("0", len(key.SecretAccessKey))
	_, _, _, err := s.signIn(s.kubeconfig(eksClusterARN, awsGetToken), awsEnv(key), kubeauth.Options{})
	if err == nil || !strings.Contains(err.Error(), "refused the EKS token") || !strings.Contains(err.Error(), "access entry") {
		t.Errorf("wrong secret key: error %v, want the cluster's refusal and the fix", err)
	}

	// An identity the cluster does not map is refused the same way.
	other := clouds.AWS.NewKey("arn:aws:sts::" + kubeauthtest.AWSAccount + ":assumed-role/someone-else/GitHubActions")
	if _, _, _, err := s.signIn(s.kubeconfig(eksClusterARN, awsGetToken), awsEnv(other), kubeauth.Options{}); err == nil {
		t.Error("an unmapped role signed in")
	}

	_, _, _, err = s.signIn(s.kubeconfig(eksClusterARN, awsGetToken), map[string]string{"AWS_REGION": "eu-west-1"}, kubeauth.Options{})
	if err == nil || !strings.Contains(err.Error(), "aws-actions/configure-aws-credentials") || !strings.Contains(err.Error(), "id-token: write") {
		t.Errorf("no credentials: error %v, want the step to add", err)
	}
	s.wantRevision(1, "2.11.5")
}
