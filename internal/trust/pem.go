package trust

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"unicode"
)

// PEM block types (RFC 7468 §5, §10, §11; RFC 8017 for PKCS#1; RFC 5915 for SEC1).
const (
	blockCertificate  = "CERTIFICATE"
	blockPKCS8        = "PRIVATE KEY"
	blockPKCS1        = "RSA PRIVATE KEY"
	blockSEC1         = "EC PRIVATE KEY"
	blockEncrypted    = "ENCRYPTED PRIVATE KEY"
	blockECParameters = "EC PARAMETERS"
)

var beginMarker = []byte("-----BEGIN")

// pemBlock is one decoded block and the byte offset of its BEGIN line.
type pemBlock struct {
	*pem.Block
	index, offset int
}

// decodePEM splits data into PEM blocks (RFC 7468). Text before a block is
// allowed (OpenSSL writes "subject=" and "Bag Attributes" lines there); a
// BEGIN line that does not start a decodable block is ErrMalformedPEM;
// non-whitespace after the last block is ErrTrailingData. It returns
// ErrEmptyInput for empty or all-whitespace input and ErrNotPEM when there is
// no BEGIN line at all. It never returns an empty slice with a nil error.
func decodePEM(data []byte) ([]pemBlock, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, ErrEmptyInput
	}
	var blocks []pemBlock
	pos := 0
	for {
		rest := data[pos:]
		idx := bytes.Index(rest, beginMarker)
		if idx < 0 {
			if len(blocks) == 0 {
				return nil, ErrNotPEM
			}
			if tail := bytes.TrimSpace(rest); len(tail) > 0 {
				return nil, fmt.Errorf("%w: %d bytes starting at byte %d", ErrTrailingData, len(tail), pos+len(rest)-len(bytes.TrimLeftFunc(rest, unicode.IsSpace)))
			}
			return blocks, nil
		}
		start := pos + idx
		// The window ends at the next BEGIN marker, so pem.Decode cannot skip a
		// malformed block and silently return a later one.
		window := data[start:]
		if next := bytes.Index(window[len(beginMarker):], beginMarker); next >= 0 {
			window = window[:len(beginMarker)+next]
		}
		blk, after := pem.Decode(window)
		if blk == nil {
			return nil, &PEMError{Index: len(blocks), Offset: start, Kind: "block", Err: ErrMalformedPEM}
		}
		blocks = append(blocks, pemBlock{Block: blk, index: len(blocks), offset: start})
		pos = start + len(window) - len(after)
	}
}

// blockKind describes a block type for errors without echoing unknown types
// or content: key blocks are named by format.
func blockKind(typ string) string {
	switch typ {
	case blockCertificate:
		return "certificate"
	case blockPKCS8:
		return "PKCS#8 key"
	case blockPKCS1:
		return "PKCS#1 RSA key"
	case blockSEC1:
		return "SEC1 EC key"
	case blockEncrypted:
		return "encrypted PKCS#8 key"
	case blockECParameters:
		return "EC parameters"
	default:
		return "other block"
	}
}

// ParseCertificates parses every CERTIFICATE block of pemBytes, in order.
// Other blocks (keys, EC parameters) are skipped; text before a block is
// allowed. It returns at least one certificate or an error wrapping one of
// ErrEmptyInput, ErrNotPEM, ErrMalformedPEM, ErrTrailingData,
// ErrNoCertificate or ErrBadCertificate (as a *PEMError naming the block).
func ParseCertificates(pemBytes []byte) ([]*x509.Certificate, error) {
	blocks, err := decodePEM(pemBytes)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for _, b := range blocks {
		if b.Type != blockCertificate {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			// x509 parse errors describe structure, never content; certificates are public.
			return nil, &PEMError{Index: b.index, Offset: b.offset, Kind: blockKind(b.Type), Err: fmt.Errorf("%w: %w", ErrBadCertificate, err)}
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: found %d PEM block(s), none of type CERTIFICATE", ErrNoCertificate, len(blocks))
	}
	return certs, nil
}

// EncodeCertificates returns certs as concatenated CERTIFICATE PEM blocks, in
// order. Nil entries are skipped; no certificates give an empty slice.
func EncodeCertificates(certs ...*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		if c == nil {
			continue
		}
		// pem.Encode into a bytes.Buffer cannot fail (no headers).
		_ = pem.Encode(&buf, &pem.Block{Type: blockCertificate, Bytes: c.Raw})
	}
	return buf.Bytes()
}

// Fingerprint returns the SHA-256 digest of cert's DER encoding as upper-case
// hex pairs joined by colons (95 characters, as `openssl x509 -fingerprint
// -sha256` prints it), or "" for nil.
func Fingerprint(cert *x509.Certificate) string {
	if cert == nil {
		return ""
	}
	sum := sha256.Sum256(cert.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	b.Grow(len(h) + len(h)/2)
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}
