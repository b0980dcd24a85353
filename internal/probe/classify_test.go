package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}
	}
	verify := func(err error) error {
		return fmt.Errorf("mtls x: handshake: %w", &tls.CertificateVerificationError{Err: err})
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"http status", fmt.Errorf("get: %w", &StatusError{Code: 503, Status: "503 Service Unavailable"}), "http 503"},
		{"name does not resolve", fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "ratelimit.invalid", IsNotFound: true}}), ClassDNS},
		{"dns timeout is dns", &net.DNSError{Err: "i/o timeout", Name: "x.invalid", IsTimeout: true}, ClassDNS},
		{"unknown authority", verify(x509.UnknownAuthorityError{}), ClassUnknownAuthority},
		{"expired", verify(x509.CertificateInvalidError{Reason: x509.Expired}), ClassCertificateExpired},
		{"not authorized to sign", verify(x509.CertificateInvalidError{Reason: x509.NotAuthorizedToSign}), ClassBadCertificate},
		{"hostname", verify(x509.HostnameError{Host: "example.test"}), ClassHostnameMismatch},
		{"verification without typed cause", verify(errors.New("x")), ClassBadCertificate},
		{"alert 42", fmt.Errorf("w: %w", tls.AlertError(42)), ClassBadCertificate},
		{"alert 45", tls.AlertError(45), ClassCertificateExpired},
		{"alert 48", tls.AlertError(48), ClassUnknownAuthority},
		{"alert 116", tls.AlertError(116), ClassBadCertificate},
		{"alert 40", tls.AlertError(40), ClassHandshakeFailure},
		{"alert 80 falls through to text", tls.AlertError(80), ClassOther},
		{"refused", opErr(syscall.ECONNREFUSED), ClassConnectionRefused},
		{"reset", opErr(syscall.ECONNRESET), ClassConnectionReset},
		{"broken pipe", opErr(syscall.EPIPE), ClassConnectionReset},
		{"eof", fmt.Errorf("handshake: %w", io.EOF), ClassConnectionClosed},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), ClassTimeout},
		{"socket timeout", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, ClassTimeout},
		{"canceled", context.Canceled, ClassOther},
		// Text fallback: errors flattened into strings (e.g. gRPC status).
		{"text unknown authority", errors.New("rpc error: code = Unavailable desc = x509: certificate signed by unknown authority"), ClassUnknownAuthority},
		{"text bad certificate", errors.New("rpc error: remote error: tls: bad certificate"), ClassBadCertificate},
		{"text expired", errors.New("x509: certificate has expired or is not yet valid"), ClassCertificateExpired},
		{"text refused", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), ClassConnectionRefused},
		{"text deadline", errors.New("context deadline exceeded"), ClassTimeout},
		{"text other", errors.New("etcdserver: no leader"), ClassOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Classify(tc.err); got != tc.want {
				t.Fatalf("Classify(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}
