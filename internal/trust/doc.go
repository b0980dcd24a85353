// Package trust is handover's X.509 core: PEM parsing with typed errors,
// CA and leaf issuance, CA validation and the trust bundle policy.
//
// Everything here is pure (time is passed in as now) and never puts key
// material into errors: errors carry the PEM block index, the certificate
// subject and its SHA-256 fingerprint, never key bytes.
//
// Sources: RFC 5280 (§4.1.2.2 serial numbers, §4.2.1.1 authority key
// identifier, §4.2.1.2 subject key identifier, §4.2.1.3 key usage, §4.2.1.9
// basic constraints, §4.2.1.12 extended key usage), RFC 7093 §2 (SHA-256 key
// identifiers), RFC 7468 (PEM textual encoding), RFC 5208 (PKCS#8), RFC 8017
// (PKCS#1), RFC 5915 (SEC1 EC private keys).
package trust
