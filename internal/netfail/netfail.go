// Package netfail tells a network failure that another attempt could mend
// from one that would fail the same way again, so that callers retry only
// the first kind and a run that cannot reach a host says so at once.
package netfail

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strings"
)

// Permanent reports whether err, returned by an HTTP client, would come back
// on every attempt: the host name does not resolve, or the TLS handshake was
// refused (a certificate the client does not trust, a name it does not
// cover, a server that does not speak TLS on that port, an alert from the
// server). These are misconfigurations or a network without the route; an
// immediate answer helps the user more than a few seconds of back-off.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return true
	}
	// The server's alert during the handshake (it refused our certificate
	// or our offer) has no exported type; crypto/tls reports it this way.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return true
	}
	// net/http turns the record header error of a plain HTTP answer into
	// text only.
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return true
	}
	var (
		unknownCA  x509.UnknownAuthorityError
		invalid    x509.CertificateInvalidError
		hostname   x509.HostnameError
		verify     *tls.CertificateVerificationError
		header     tls.RecordHeaderError
		alert      tls.AlertError // the form QUIC and newer Go versions use
		constraint x509.ConstraintViolationError
	)
	return errors.As(err, &unknownCA) || errors.As(err, &invalid) || errors.As(err, &hostname) ||
		errors.As(err, &verify) || errors.As(err, &header) || errors.As(err, &alert) ||
		errors.As(err, &constraint)
}

// RetryableStatus reports whether an HTTP answer with this status may
// succeed when asked again: a server error, or 429 Too Many Requests. Every
// other 4xx says the request itself is wrong (a missing file, a token
// without access) and is answered the same way every time.
func RetryableStatus(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests
}
