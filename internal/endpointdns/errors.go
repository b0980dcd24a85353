package endpointdns

import "errors"

var (
	// ErrInvalid means a bad name, address, TTL or command; nothing changed.
	ErrInvalid = errors.New("invalid dns record")
	// ErrNoRecord means the name has no A record.
	ErrNoRecord = errors.New("no A record")
)
