package kubeauthtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// AWSAccount is the account of the stand-in's identities.
const AWSAccount = "111122223333"

// STS stands in for AWS STS: GetCallerIdentity (presigned, as EKS replays it), AssumeRole
// (SigV4-signed) and AssumeRoleWithWebIdentity (a GitHub OIDC token for audience
// sts.amazonaws.com). Every signature is checked with the secret of the access key that made it.
type STS struct {
	mu    sync.Mutex
	keys  map[string]awsKey // access key id → key
	roles map[string]bool   // role ARNs that may be assumed
	oidc  *GitHubOIDC
	calls map[string]int
}

type awsKey struct {
	secret, session, arn string
}

// AWSKey is a credential the stand-in knows.
type AWSKey struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	// ARN is the identity GetCallerIdentity reports.
	ARN string
}

func newSTS(oidc *GitHubOIDC) *STS {
	return &STS{keys: map[string]awsKey{}, roles: map[string]bool{}, oidc: oidc, calls: map[string]int{}}
}

// NewKey registers a fresh credential for the IAM identity arn, as configure-aws-credentials
// would export it (with a session token).
func (s *STS) NewKey(arn string) AWSKey {
	k := AWSKey{AccessKeyID: "ASIA" + strings.ToUpper(randomHex(8)), SecretAccessKey: randomHex(20),
		SessionToken: "FwoGZXIvYXdzE" + randomHex(24), ARN: arn}
	s.mu.Lock()
	s.keys[k.AccessKeyID] = awsKey{secret: k.SecretAccessKey, session: k.SessionToken, arn: arn}
	s.mu.Unlock()
	return k
}

// AllowRole lets callers assume roleARN.
func (s *STS) AllowRole(roleARN string) {
	s.mu.Lock()
	s.roles[roleARN] = true
	s.mu.Unlock()
}

// Calls counts the requests answered per action.
func (s *STS) Calls(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[action]
}

func (s *STS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	params := r.URL.Query()
	if r.Method == http.MethodPost {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			stsError(w, http.StatusBadRequest, "InvalidParameterValue", "bad form body")
			return
		}
		for k, v := range form {
			params[k] = v
		}
	}
	action := params.Get("Action")
	s.mu.Lock()
	s.calls[action]++
	s.mu.Unlock()
	switch action {
	case "GetCallerIdentity":
		key, err := s.verifyPresigned(r)
		if err != nil {
			stsError(w, http.StatusForbidden, "SignatureDoesNotMatch", err.Error())
			return
		}
		writeXML(w, fmt.Sprintf(`<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>%s</Arn>
    <UserId>AROA%s:pach-upgrade</UserId>
    <Account>%s</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata>
    <RequestId>%s</RequestId>
  </ResponseMetadata>
</GetCallerIdentityResponse>`, key.arn, strings.ToUpper(randomHex(8)), AWSAccount, requestID()))
	case "AssumeRole":
		if _, err := s.verifyHeaderSigned(r, body); err != nil {
			stsError(w, http.StatusForbidden, "SignatureDoesNotMatch", err.Error())
			return
		}
		s.assume(w, "AssumeRole", params.Get("RoleArn"), params.Get("RoleSessionName"))
	case "AssumeRoleWithWebIdentity":
		if _, ok := s.oidc.Check(params.Get("WebIdentityToken"), "sts.amazonaws.com"); !ok {
			stsError(w, http.StatusBadRequest, "InvalidIdentityToken", "the web identity token is not valid for audience sts.amazonaws.com")
			return
		}
		s.assume(w, "AssumeRoleWithWebIdentity", params.Get("RoleArn"), params.Get("RoleSessionName"))
	default:
		stsError(w, http.StatusBadRequest, "InvalidAction", "unknown action "+action)
	}
}

func (s *STS) assume(w http.ResponseWriter, action, roleARN, session string) {
	s.mu.Lock()
	allowed := s.roles[roleARN]
	s.mu.Unlock()
	if !allowed {
		stsError(w, http.StatusForbidden, "AccessDenied", "not authorized to perform sts:"+action+" on "+roleARN)
		return
	}
	role := roleARN[strings.LastIndex(roleARN, "/")+1:]
	k := s.NewKey(fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", AWSAccount, role, session))
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	writeXML(w, fmt.Sprintf(`<%[1]sResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <%[1]sResult>
    <AssumedRoleUser>
      <Arn>%[2]s</Arn>
      <AssumedRoleId>AROA%[3]s:%[4]s</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>%[5]s</AccessKeyId>
      <SecretAccessKey>%[6]s</SecretAccessKey>
      <SessionToken>%[7]s</SessionToken>
      <Expiration>%[8]s</Expiration>
    </Credentials>
  </%[1]sResult>
  <ResponseMetadata>
    <RequestId>%[9]s</RequestId>
  </ResponseMetadata>
</%[1]sResponse>`, action, k.ARN, strings.ToUpper(randomHex(8)), session, k.AccessKeyID, k.SecretAccessKey, k.SessionToken, exp, requestID()))
}

// verifyPresigned checks a query-signed request by signing it again with the key's secret.
func (s *STS) verifyPresigned(r *http.Request) (awsKey, error) {
	q := r.URL.Query()
	if q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" {
		return awsKey{}, fmt.Errorf("X-Amz-Algorithm %q", q.Get("X-Amz-Algorithm"))
	}
	key, scope, err := s.keyFor(q.Get("X-Amz-Credential"))
	if err != nil {
		return awsKey{}, err
	}
	if q.Get("X-Amz-Security-Token") != key.session {
		return awsKey{}, fmt.Errorf("the security token does not belong to the access key")
	}
	at, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return awsKey{}, fmt.Errorf("X-Amz-Date: %w", err)
	}
	if time.Since(at) > 15*time.Minute+time.Minute {
		return awsKey{}, fmt.Errorf("the signature expired")
	}
	unsigned := url.Values{}
	for k, v := range q {
		switch k {
		case "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token":
		default:
			unsigned[k] = v
		}
	}
	again, err := http.NewRequest(r.Method, "https://"+r.Host+r.URL.Path+"?"+unsigned.Encode(), nil)
	if err != nil {
		return awsKey{}, err
	}
	for _, h := range strings.Split(q.Get("X-Amz-SignedHeaders"), ";") {
		if h != "host" && h != "" {
			again.Header.Set(h, r.Header.Get(h))
		}
	}
	signedURL, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: q.Get("X-Amz-Credential")[:strings.Index(q.Get("X-Amz-Credential"), "/")],
		SecretAccessKey: key.secret, SessionToken: key.session}, again, emptySHA256, scope.service, scope.region, at)
	if err != nil {
		return awsKey{}, err
	}
	u, err := url.Parse(signedURL)
	if err != nil {
		return awsKey{}, err
	}
	if u.Query().Get("X-Amz-Signature") != q.Get("X-Amz-Signature") {
		return awsKey{}, fmt.Errorf("the request signature we calculated does not match the signature you provided")
	}
	return key, nil
}

// verifyHeaderSigned checks an Authorization-header-signed request the same way.
func (s *STS) verifyHeaderSigned(r *http.Request, body []byte) (awsKey, error) {
	auth := r.Header.Get("Authorization")
	fields := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 "), ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok {
			fields[k] = v
		}
	}
	key, scope, err := s.keyFor(fields["Credential"])
	if err != nil {
		return awsKey{}, err
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return awsKey{}, fmt.Errorf("X-Amz-Date: %w", err)
	}
	again, err := http.NewRequest(r.Method, "https://"+r.Host+r.URL.RequestURI(), strings.NewReader(string(body)))
	if err != nil {
		return awsKey{}, err
	}
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		switch h {
		case "host", "x-amz-date", "x-amz-security-token", "":
		case "content-length":
			again.ContentLength = int64(len(body))
		default:
			again.Header.Set(h, r.Header.Get(h))
		}
	}
	sum := sha256.Sum256(body)
	id := fields["Credential"][:strings.Index(fields["Credential"], "/")]
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: id, SecretAccessKey: key.secret, SessionToken: key.session},
		again, hex.EncodeToString(sum[:]), scope.service, scope.region, at); err != nil {
		return awsKey{}, err
	}
	if signature(again.Header.Get("Authorization")) != fields["Signature"] {
		return awsKey{}, fmt.Errorf("the request signature we calculated does not match the signature you provided")
	}
	return key, nil
}

func signature(auth string) string {
	_, sig, _ := strings.Cut(auth, "Signature=")
	return sig
}

type credScope struct{ region, service string }

// keyFor reads "AKID/20261128/eu-west-1/sts/aws4_request".
func (s *STS) keyFor(credential string) (awsKey, credScope, error) {
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[3] != "sts" || parts[4] != "aws4_request" {
		return awsKey{}, credScope{}, fmt.Errorf("malformed credential %q", credential)
	}
	s.mu.Lock()
	key, ok := s.keys[parts[0]]
	s.mu.Unlock()
	if !ok {
		return awsKey{}, credScope{}, fmt.Errorf("the security token included in the request is invalid")
	}
	return key, credScope{region: parts[2], service: parts[3]}, nil
}

const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func stsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(msg))
	fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>%s</Code>
    <Message>%s</Message>
  </Error>
  <RequestId>%s</RequestId>
</ErrorResponse>`, code, b.String(), requestID())
}

func writeXML(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/xml")
	_, _ = io.WriteString(w, body)
}

func requestID() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
