package probe

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// maxBodyDrain is how much of a response body HTTP reads before closing it.
const maxBodyDrain = 64 << 10

// HTTP is a probe that sends one GET per attempt. A 2xx status is success;
// any other status is a *StatusError (class "http <code>"); transport errors
// are returned wrapped (TLS, refused, timeout classes).
type HTTP struct {
	URL string
	// Client sends the request; nil = a client with keep-alives disabled,
	// so every attempt opens a fresh connection (and, for https, a full
	// handshake) and sees changes in certificates and listeners at once.
	Client *http.Client
	// ProbeName overrides Name(); "" = "http".
	ProbeName string
}

// Name returns ProbeName or "http".
func (h *HTTP) Name() string {
	if h.ProbeName != "" {
		return h.ProbeName
	}
	return "http"
}

// Once sends GET URL with ctx and reads up to 64 KiB of the body. It returns
// an error wrapping ErrInvalidConfig for an empty or unparsable URL.
func (h *HTTP) Once(ctx context.Context) error {
	if h.URL == "" {
		return configError("HTTP", "URL", "is empty")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return fmt.Errorf("%w: HTTP.URL: %w", ErrInvalidConfig, err)
	}
	client := h.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("http get %s: %w", h.URL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.CopyN(io.Discard, resp.Body, maxBodyDrain)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("http get %s: %w", h.URL, &StatusError{Code: resp.StatusCode, Status: resp.Status})
	}
	return nil
}
