// Package kubeauthtest stands in for the clouds' sign-in services on 127.0.0.1, for tests of
// internal/kubeauth against the local control plane: AWS STS, Google's STS token exchange,
// Microsoft Entra ID, GitHub Actions' OIDC token endpoint, and a Kubernetes webhook token
// authenticator that accepts their tokens the way EKS, GKE and AKS do.
//
// The SDKs reach the clouds' real host names; Client's transport routes those names to one
// local TLS server whose certificate a test CA signs, and refuses every other host, so nothing
// leaves loopback.
package kubeauthtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Hosts are the cloud host names the stand-ins answer for.
var Hosts = []string{
	"sts.amazonaws.com", "sts.us-east-1.amazonaws.com", "sts.us-west-2.amazonaws.com", "sts.eu-west-1.amazonaws.com",
	"sts.eu-central-1.amazonaws.com",
	GoogleSTSHost, EntraHost, OIDCHost,
}

// Host names of the non-AWS stand-ins.
const (
	GoogleSTSHost = "sts.googleapis.com"
	EntraHost     = "login.microsoftonline.com"
	OIDCHost      = "pipelines.actions.githubusercontent.com"
)

// Clouds is the running set of stand-ins.
type Clouds struct {
	// CAPEM is the test CA that signed the stand-ins' certificate (for SSL_CERT_FILE).
	CAPEM []byte
	// WebhookURL is the token webhook for kube-apiserver's --authentication-token-webhook-config-file.
	WebhookURL string

	AWS    *STS
	Google *GoogleSTS
	Entra  *Entra
	OIDC   *GitHubOIDC

	// EKSClusterID is the cluster name the webhook expects in the signed x-k8s-aws-id header.
	EKSClusterID string

	pool    *x509.CertPool
	tls     *httptest.Server
	webhook *httptest.Server
	client  *http.Client

	mu      sync.Mutex
	users   map[string]string // cloud identity → Kubernetes user name
	eksAge  time.Duration
	reviews []Review
}

// Review is one TokenReview the webhook answered.
type Review struct {
	Cloud, Identity, User string
	OK                    bool
	Reason                string
}

// Start starts the stand-ins and the webhook.
func Start() (*Clouds, error) {
	c := &Clouds{users: map[string]string{}, eksAge: 15 * time.Minute, EKSClusterID: "pach-prod"}
	caCert, caKey, err := newCA()
	if err != nil {
		return nil, err
	}
	c.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw})
	c.pool = x509.NewCertPool()
	c.pool.AddCert(caCert)
	leaf, err := newLeaf(caCert, caKey, Hosts)
	if err != nil {
		return nil, err
	}
	c.OIDC = newGitHubOIDC()
	c.AWS = newSTS(c.OIDC)
	c.Google = newGoogleSTS(c.OIDC)
	c.Entra = newEntra(c.OIDC)

	mux := http.NewServeMux()
	mux.HandleFunc("/", c.route)
	c.tls = httptest.NewUnstartedServer(mux)
	c.tls.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12}
	c.tls.StartTLS()
	c.client = c.newClient()

	c.webhook = httptest.NewServer(http.HandlerFunc(c.serveReview))
	c.WebhookURL = c.webhook.URL + "/authenticate"
	return c, nil
}

// Close stops every server.
func (c *Clouds) Close() {
	c.tls.Close()
	c.webhook.Close()
}

// Client is the HTTP client that reaches the stand-ins by the clouds' host names.
func (c *Clouds) Client() *http.Client { return c.client }

// OIDCRequestURL is ACTIONS_ID_TOKEN_REQUEST_URL for the GitHub OIDC stand-in.
func (c *Clouds) OIDCRequestURL() string {
	return "https://" + OIDCHost + "/_apis/distributedtask/hubs/build/plans/1/jobs/1/idtoken?api-version=2.0"
}

// MapUser makes the webhook sign identity in as the Kubernetes user name, as an EKS access
// entry, a GKE principal binding or an AKS Entra ID user does.
func (c *Clouds) MapUser(identity, user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users[identity] = user
}

// SetEKSMaxAge sets how long after signing the webhook accepts an EKS token (EKS: 15 minutes).
func (c *Clouds) SetEKSMaxAge(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eksAge = d
}

// Reviews returns the TokenReviews answered so far.
func (c *Clouds) Reviews() []Review {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Review(nil), c.reviews...)
}

// LoopbackURL is the stand-ins' address for clients that cannot use Client's transport (a
// container): Google's token exchange and the OIDC endpoint answer there by path, and the
// server's certificate holds 127.0.0.1.
func (c *Clouds) LoopbackURL() string { return c.tls.URL }

// route sends a request to the stand-in for its host.
func (c *Clouds) route(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "127.0.0.1" {
		switch {
		case r.URL.Path == "/v1/token":
			host = GoogleSTSHost
		case strings.HasPrefix(r.URL.Path, "/_apis/"):
			host = OIDCHost
		}
	}
	switch {
	case strings.HasSuffix(host, ".amazonaws.com"):
		c.AWS.ServeHTTP(w, r)
	case host == GoogleSTSHost:
		c.Google.ServeHTTP(w, r)
	case host == EntraHost:
		c.Entra.ServeHTTP(w, r)
	case host == OIDCHost:
		c.OIDC.ServeHTTP(w, r)
	default:
		http.Error(w, "no stand-in for host "+host, http.StatusMisdirectedRequest)
	}
}

// newClient routes the clouds' host names to the TLS stand-in and refuses any other host
// except 127.0.0.1.
func (c *Clouds) newClient() *http.Client {
	known := map[string]bool{}
	for _, h := range Hosts {
		known[h] = true
	}
	target := c.tls.Listener.Addr().String()
	var d net.Dialer
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, _, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				switch {
				case known[host]:
					return d.DialContext(ctx, network, target)
				case host == "127.0.0.1":
					return d.DialContext(ctx, network, addr)
				default:
					return nil, fmt.Errorf("kubeauthtest: %s is not a stand-in host; nothing leaves loopback", host)
				}
			},
			TLSClientConfig:   &tls.Config{RootCAs: c.pool, MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2: false,
		},
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newCA() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubeauthtest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func newLeaf(ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kubeauthtest clouds"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: hosts, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
