package kubeauthtest

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
)

// serveReview answers kube-apiserver's TokenReview the way each cloud's authenticator does,
// then maps the cloud identity to a Kubernetes user with MapUser.
func (c *Clouds) serveReview(w http.ResponseWriter, r *http.Request) {
	var tr authnv1.TokenReview
	if err := json.NewDecoder(r.Body).Decode(&tr); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	tok := tr.Spec.Token
	rev := Review{}
	var err error
	switch {
	case strings.HasPrefix(tok, "k8s-aws-v1."):
		rev.Cloud = "EKS"
		rev.Identity, err = c.checkEKS(r, tok)
	case c.Google.owns(tok):
		rev.Cloud = "GKE"
		rev.Identity, err = c.Google.check(tok)
	case c.Entra.owns(tok):
		rev.Cloud = "AKS"
		rev.Identity, err = c.Entra.check(tok, AKSServerID)
	default:
		err = errors.New("token from no known issuer")
	}
	if err == nil {
		c.mu.Lock()
		rev.User = c.users[rev.Identity]
		c.mu.Unlock()
		if rev.User == "" {
			err = fmt.Errorf("identity %s is not mapped to a Kubernetes user", rev.Identity)
		}
	}
	out := authnv1.TokenReview{TypeMeta: tr.TypeMeta}
	if err != nil {
		rev.Reason = err.Error()
		out.Status = authnv1.TokenReviewStatus{Authenticated: false, Error: err.Error()}
	} else {
		rev.OK = true
		out.Status = authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{Username: rev.User, UID: rev.Identity,
			Extra: map[string]authnv1.ExtraValue{"cloud-identity": {rev.Identity}}}}
	}
	c.mu.Lock()
	c.reviews = append(c.reviews, rev)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

var stsHost = regexp.MustCompile(`^sts(\.[a-z0-9-]+)?\.amazonaws\.com$`)

// checkEKS does what aws-iam-authenticator's server does: decode the token, check the presigned
// URL (host, action, signed x-k8s-aws-id, age), replay it against STS with this cluster's
// id, and canonicalise the caller's ARN.
func (c *Clouds) checkEKS(r *http.Request, tok string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, "k8s-aws-v1."))
	if err != nil {
		return "", fmt.Errorf("token is not base64url: %w", err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		return "", fmt.Errorf("token is not a URL: %w", err)
	}
	if u.Scheme != "https" || !stsHost.MatchString(u.Host) || u.Path != "/" {
		return "", fmt.Errorf("presigned URL %s://%s%s is not STS", u.Scheme, u.Host, u.Path)
	}
	q := u.Query()
	if q.Get("Action") != "GetCallerIdentity" || q.Get("Version") != "2011-06-15" {
		return "", fmt.Errorf("presigned request is %s %s, not GetCallerIdentity", q.Get("Action"), q.Get("Version"))
	}
	signed := strings.Split(strings.ToLower(q.Get("X-Amz-SignedHeaders")), ";")
	if !contains(signed, "x-k8s-aws-id") {
		return "", errors.New("x-k8s-aws-id is not a signed header")
	}
	exp, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || exp < 0 || exp > 900 {
		return "", fmt.Errorf("X-Amz-Expires %q", q.Get("X-Amz-Expires"))
	}
	at, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return "", fmt.Errorf("X-Amz-Date: %w", err)
	}
	c.mu.Lock()
	maxAge := c.eksAge
	c.mu.Unlock()
	if age := time.Since(at); age > maxAge || age < -time.Minute {
		return "", fmt.Errorf("token signed %s ago; it is accepted for %s", age.Round(time.Second), maxAge)
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("x-k8s-aws-id", c.EKSClusterID)
	resp, err := c.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("replay to STS: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("STS answered %s: %s", resp.Status, body)
	}
	var gci struct {
		Result struct {
			Arn     string `xml:"Arn"`
			Account string `xml:"Account"`
		} `xml:"GetCallerIdentityResult"`
	}
	if err := xml.Unmarshal(body, &gci); err != nil {
		return "", fmt.Errorf("STS answer: %w", err)
	}
	return canonicalARN(gci.Result.Arn), nil
}

// canonicalARN turns an assumed-role session ARN into its role's ARN, as EKS access entries
// name roles.
func canonicalARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && parts[2] == "sts" && strings.HasPrefix(parts[5], "assumed-role/") {
		role := strings.Split(strings.TrimPrefix(parts[5], "assumed-role/"), "/")[0]
		return fmt.Sprintf("arn:%s:iam::%s:role/%s", parts[1], parts[4], role)
	}
	return arn
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
