package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math"
	"net"
	"reflect"
	"strconv"
	"strings"
	"syscall"
)

// Failure classes: the values of Sample.Class for failed attempts. The set is
// open (Classify also returns "http <code>"), but these are the ones reports
// and tests rely on.
const (
	ClassBadCertificate     = "bad certificate"     // peer rejected or could not use a certificate
	ClassUnknownAuthority   = "unknown authority"   // chain does not lead to a trusted root
	ClassCertificateExpired = "certificate expired" // outside NotBefore/NotAfter
	ClassHostnameMismatch   = "hostname mismatch"   // server certificate not valid for ServerName
	ClassHandshakeFailure   = "handshake failure"   // TLS alert 40: no common parameters, or (TLS 1.2) a required client certificate missing
	ClassConnectionRefused  = "connection refused"  // nothing listening (ECONNREFUSED)
	ClassConnectionReset    = "connection reset"    // ECONNRESET / EPIPE
	ClassConnectionClosed   = "connection closed"   // EOF in the middle of a handshake or exchange
	ClassTimeout            = "timeout"             // attempt deadline or socket timeout
	ClassDNS                = "dns"                 // the name did not resolve (*net.DNSError)
	ClassOther              = "other"
)

// Classify maps an attempt's error to a failure class. It returns "" for nil.
//
// Typed errors are matched with errors.As, in this order:
//   - *StatusError → "http <code>" (e.g. "http 503");
//   - x509.HostnameError → hostname mismatch; x509.UnknownAuthorityError →
//     unknown authority; x509.CertificateInvalidError → certificate expired
//     for Reason x509.Expired, else bad certificate (these arrive wrapped in
//     *tls.CertificateVerificationError when the local side rejects the
//     peer's chain);
//   - TLS alerts received from the peer (RFC 8446 §6.2): tls.AlertError, and
//     the *net.OpError{Op: "remote error"} that crypto/tls returns over TCP,
//     whose Err is crypto/tls's unexported uint8 alert type (read by
//     reflection, not by its text): 42 bad_certificate, 43
//     unsupported_certificate, 44 certificate_revoked, 46
//     certificate_unknown, 116 certificate_required → bad certificate;
//     45 certificate_expired → certificate expired; 48 unknown_ca → unknown
//     authority; 40 handshake_failure → handshake failure (a TLS 1.2
//     server sends it when a required client certificate is missing, RFC
//     5246 §7.4.6, and also when no cipher suite or group is shared);
//   - *tls.CertificateVerificationError without a typed cause → bad certificate;
//   - syscall.ECONNREFUSED → connection refused; ECONNRESET, EPIPE →
//     connection reset; io.EOF, io.ErrUnexpectedEOF → connection closed;
//   - a *net.DNSError (the name did not resolve) → dns;
//   - context.DeadlineExceeded or a net.Error whose Timeout() is true → timeout.
//
// Only when none matches does Classify fall back to matching the message
// text: clients that flatten errors into strings (gRPC status errors from the
// etcd client, for example) carry no type, so "certificate signed by unknown
// authority", "bad certificate", "certificate has expired", "connection
// refused", "connection reset", "deadline exceeded" and "i/o timeout" are
// recognised there. Everything else is "other".
func Classify(err error) string {
	if err == nil {
		return ""
	}
	if c := classifyTyped(err); c != "" {
		return c
	}
	return classifyText(err.Error())
}

func classifyTyped(err error) string {
	var status *StatusError
	if errors.As(err, &status) {
		return "http " + strconv.Itoa(status.Code)
	}
	var hostErr x509.HostnameError
	if errors.As(err, &hostErr) {
		return ClassHostnameMismatch
	}
	var uaErr x509.UnknownAuthorityError
	if errors.As(err, &uaErr) {
		return ClassUnknownAuthority
	}
	var invErr x509.CertificateInvalidError
	if errors.As(err, &invErr) {
		if invErr.Reason == x509.Expired {
			return ClassCertificateExpired
		}
		return ClassBadCertificate
	}
	var alertErr tls.AlertError
	if errors.As(err, &alertErr) {
		if c := alertClass(uint8(alertErr)); c != "" {
			return c
		}
	}
	if code, ok := remoteAlert(err); ok {
		if c := alertClass(code); c != "" {
			return c
		}
	}
	var verErr *tls.CertificateVerificationError
	if errors.As(err, &verErr) {
		return ClassBadCertificate
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return ClassDNS
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassConnectionRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ClassConnectionReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ClassConnectionClosed
	case errors.Is(err, context.DeadlineExceeded):
		return ClassTimeout
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return ClassTimeout
	}
	return ""
}

// remoteAlert extracts the alert code from the *net.OpError{Op: "remote
// error"} crypto/tls returns when the peer sends a fatal alert over TCP.
func remoteAlert(err error) (uint8, bool) {
	for e := err; e != nil; {
		var op *net.OpError
		if !errors.As(e, &op) {
			return 0, false
		}
		if op.Op == "remote error" && op.Err != nil {
			v := reflect.ValueOf(op.Err)
			t := v.Type()
			if t.PkgPath() == "crypto/tls" && t.Kind() == reflect.Uint8 {
				if u := v.Uint(); u <= math.MaxUint8 {
					return uint8(u), true
				}
			}
			return 0, false
		}
		e = op.Err
	}
	return 0, false
}

// alertClass maps a TLS alert code (RFC 8446 §6.2) to a class, "" if none.
func alertClass(code uint8) string {
	switch code {
	case 42, 43, 44, 46, 116: // bad_certificate, unsupported_certificate, certificate_revoked, certificate_unknown, certificate_required
		return ClassBadCertificate
	case 45: // certificate_expired
		return ClassCertificateExpired
	case 48: // unknown_ca
		return ClassUnknownAuthority
	case 40: // handshake_failure
		return ClassHandshakeFailure
	}
	return ""
}

// classifyText is the fallback for errors that lost their type.
func classifyText(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "unknown authority"), strings.Contains(m, "unknown certificate authority"):
		return ClassUnknownAuthority
	case strings.Contains(m, "certificate has expired"), strings.Contains(m, "expired certificate"):
		return ClassCertificateExpired
	case strings.Contains(m, "certificate is valid for"), strings.Contains(m, "certificate is not valid for any names"):
		return ClassHostnameMismatch
	case strings.Contains(m, "bad certificate"), strings.Contains(m, "certificate required"):
		return ClassBadCertificate
	case strings.Contains(m, "handshake failure"):
		return ClassHandshakeFailure
	case strings.Contains(m, "connection refused"):
		return ClassConnectionRefused
	case strings.Contains(m, "connection reset"), strings.Contains(m, "broken pipe"):
		return ClassConnectionReset
	case strings.Contains(m, "deadline exceeded"), strings.Contains(m, "i/o timeout"):
		return ClassTimeout
	}
	return ClassOther
}
