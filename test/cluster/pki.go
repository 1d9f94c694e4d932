package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki holds the files of one cluster's certificates and keys.
type pki struct {
	CACert, CAKey           string
	ServingCert, ServingKey string
	AdminCert, AdminKey     string
	SAKey, SAPub            string
	// KwokCert serves kwok's kubelet API (exec, port-forward) on 127.0.0.1; KubeletClientCert
	// is what the API server presents to it.
	KwokCert, KwokKey                   string
	KubeletClientCert, KubeletClientKey string
}

func pkiIn(dir string) pki {
	p := func(n string) string { return filepath.Join(dir, n) }
	return pki{
		CACert: p("ca.crt"), CAKey: p("ca.key"),
		ServingCert: p("apiserver.crt"), ServingKey: p("apiserver.key"),
		AdminCert: p("admin.crt"), AdminKey: p("admin.key"),
		SAKey: p("sa.key"), SAPub: p("sa.pub"),
		KwokCert: p("kwok.crt"), KwokKey: p("kwok.key"),
		KubeletClientCert: p("apiserver-kubelet-client.crt"), KubeletClientKey: p("apiserver-kubelet-client.key"),
	}
}

// generatePKI writes a fresh CA, the API server's serving certificate, an admin client
// certificate in group system:masters and the service-account signing key pair.
func generatePKI(dir string) (pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return pki{}, fmt.Errorf("create pki dir: %w", err)
	}
	out := pkiIn(dir)
	now := time.Now().Add(-time.Hour)
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return pki{}, fmt.Errorf("generate CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pach-upgrade-test-ca"},
		NotBefore:             now,
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return pki{}, fmt.Errorf("create CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return pki{}, fmt.Errorf("parse CA certificate: %w", err)
	}
	if err := writeCertKey(out.CACert, out.CAKey, caDER, caKey); err != nil {
		return pki{}, err
	}
	leaf := func(serial int64, subject pkix.Name, usage x509.ExtKeyUsage, dns []string, ips []net.IP, certPath, keyPath string) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return fmt.Errorf("generate key for %s: %w", subject.CommonName, err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      subject,
			NotBefore:    now,
			NotAfter:     now.Add(7 * 24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			DNSNames:     dns,
			IPAddresses:  ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return fmt.Errorf("create certificate for %s: %w", subject.CommonName, err)
		}
		return writeCertKey(certPath, keyPath, der, key)
	}
	if err := leaf(2, pkix.Name{CommonName: "kube-apiserver"}, x509.ExtKeyUsageServerAuth,
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")}, out.ServingCert, out.ServingKey); err != nil {
		return pki{}, err
	}
	if err := leaf(3, pkix.Name{CommonName: "pach-upgrade-admin", Organization: []string{"system:masters"}},
		x509.ExtKeyUsageClientAuth, nil, nil, out.AdminCert, out.AdminKey); err != nil {
		return pki{}, err
	}
	if err := leaf(4, pkix.Name{CommonName: "kwok-node-0"}, x509.ExtKeyUsageServerAuth,
		[]string{"localhost", "kwok-node-0"}, []net.IP{net.ParseIP("127.0.0.1")}, out.KwokCert, out.KwokKey); err != nil {
		return pki{}, err
	}
	if err := leaf(5, pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
		x509.ExtKeyUsageClientAuth, nil, nil, out.KubeletClientCert, out.KubeletClientKey); err != nil {
		return pki{}, err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return pki{}, fmt.Errorf("generate service-account key: %w", err)
	}
	saDER, err := x509.MarshalPKCS8PrivateKey(saKey)
	if err != nil {
		return pki{}, fmt.Errorf("marshal service-account key: %w", err)
	}
	if err := writePEM(out.SAKey, "PRIVATE KEY", saDER, 0o600); err != nil {
		return pki{}, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return pki{}, fmt.Errorf("marshal service-account public key: %w", err)
	}
	if err := writePEM(out.SAPub, "PUBLIC KEY", pubDER, 0o644); err != nil {
		return pki{}, err
	}
	return out, nil
}

func writeCertKey(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal key %s: %w", keyPath, err)
	}
	return writePEM(keyPath, "PRIVATE KEY", keyDER, 0o600)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeKubeconfig writes a kubeconfig with the admin client certificate embedded, so the file
// stays usable when copied elsewhere.
func writeKubeconfig(path, server string, p pki) error {
	ca, err := os.ReadFile(p.CACert)
	if err != nil {
		return fmt.Errorf("read CA: %w", err)
	}
	cert, err := os.ReadFile(p.AdminCert)
	if err != nil {
		return fmt.Errorf("read admin certificate: %w", err)
	}
	key, err := os.ReadFile(p.AdminKey)
	if err != nil {
		return fmt.Errorf("read admin key: %w", err)
	}
	b64 := base64.StdEncoding.EncodeToString
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: pach-upgrade-test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: pach-upgrade-test
  context:
    cluster: pach-upgrade-test
    user: admin
    namespace: default
current-context: pach-upgrade-test
`, server, b64(ca), b64(cert), b64(key))
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
