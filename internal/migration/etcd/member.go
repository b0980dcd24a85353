package etcd

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Member is one etcd cluster member as MemberList reports it.
type Member struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name"` // "" for a learner that has not started yet
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner,omitempty"`
}

// HasPeerURL reports whether u is one of m's peer URLs.
func (m Member) HasPeerURL(u string) bool {
	for _, p := range m.PeerURLs {
		if sameURL(p, u) {
			return true
		}
	}
	return false
}

// Target is a member to create: its name, one peer URL and one client URL
// (etcd flags --name, --initial-advertise-peer-urls, --advertise-client-urls).
type Target struct {
	Name      string `json:"name"`
	PeerURL   string `json:"peerURL"`
	ClientURL string `json:"clientURL"`
	// ListenPeerURL, when set, is where the member listens for peers while
	// PeerURL is what it advertises (a proxy in front of it, e.g. one that
	// adds the latency between sites); "" = PeerURL.
	ListenPeerURL string `json:"listenPeerURL,omitempty"`
}

// ParseTarget parses "name=peerURL,clientURL" (the --to flag), e.g.
// "t1=http://127.0.0.1:2480,http://127.0.0.1:2479". It returns an error
// wrapping ErrInvalidTarget naming the field at fault.
func ParseTarget(s string) (Target, error) {
	name, urls, ok := strings.Cut(s, "=")
	if !ok {
		return Target{}, fmt.Errorf("%w: %q: want name=peerURL,clientURL", ErrInvalidTarget, s)
	}
	peer, client, ok := strings.Cut(urls, ",")
	if !ok {
		return Target{}, fmt.Errorf("%w: %q: want name=peerURL,clientURL", ErrInvalidTarget, s)
	}
	t := Target{Name: strings.TrimSpace(name), PeerURL: strings.TrimSpace(peer), ClientURL: strings.TrimSpace(client)}
	return t, t.Validate()
}

// String renders t in the --to syntax.
func (t Target) String() string { return t.Name + "=" + t.PeerURL + "," + t.ClientURL }

// Validate checks that t has a name and http(s) URLs with a host and a port;
// errors wrap ErrInvalidTarget and name the field.
func (t Target) Validate() error {
	if t.Name == "" || strings.ContainsAny(t.Name, "=, \t") {
		return fmt.Errorf("%w: target name %q: must be non-empty without '=', ',' or spaces", ErrInvalidTarget, t.Name)
	}
	for _, f := range []struct{ field, v string }{{"peer URL", t.PeerURL}, {"client URL", t.ClientURL}} {
		if err := checkURL(f.v); err != nil {
			return fmt.Errorf("%w: target %q %s %q: %w", ErrInvalidTarget, t.Name, f.field, f.v, err)
		}
	}
	if sameURL(t.PeerURL, t.ClientURL) {
		return fmt.Errorf("%w: target %q: peer URL and client URL are both %q", ErrInvalidTarget, t.Name, t.PeerURL)
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme must be http or https")
	}
	if u.Hostname() == "" || u.Port() == "" {
		return fmt.Errorf("want scheme://host:port")
	}
	if p, err := strconv.Atoi(u.Port()); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", u.Port())
	}
	if u.Path != "" && u.Path != "/" {
		return fmt.Errorf("must not have a path")
	}
	return nil
}

// sameURL compares two URLs ignoring a trailing slash and letter case of
// scheme and host.
func sameURL(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "/"), strings.TrimSuffix(b, "/"))
}

// CheckTargets validates targets against each other and the current
// members: every target valid, names unique, no name, peer URL or client URL
// already used by a member or another target. It returns every problem
// found (nil when none), each naming the target and the field.
func CheckTargets(members []Member, targets []Target) []string {
	var out []string
	names := map[string]string{}
	urls := map[string]string{}
	for _, m := range members {
		if m.Name != "" {
			names[m.Name] = fmt.Sprintf("member %q", m.Name)
		}
		for _, u := range append(append([]string{}, m.PeerURLs...), m.ClientURLs...) {
			urls[strings.ToLower(strings.TrimSuffix(u, "/"))] = fmt.Sprintf("member %q (%x)", m.Name, m.ID)
		}
	}
	if len(targets) == 0 {
		out = append(out, "no targets given")
	}
	for _, t := range targets {
		if err := t.Validate(); err != nil {
			out = append(out, err.Error())
			continue
		}
		if who, dup := names[t.Name]; dup {
			out = append(out, fmt.Sprintf("target %q: name is already used by %s", t.Name, who))
		}
		names[t.Name] = fmt.Sprintf("target %q", t.Name)
		for _, f := range []struct{ field, v string }{{"peer URL", t.PeerURL}, {"client URL", t.ClientURL}} {
			k := strings.ToLower(strings.TrimSuffix(f.v, "/"))
			if who, dup := urls[k]; dup {
				out = append(out, fmt.Sprintf("target %q: %s %s is already used by %s", t.Name, f.field, f.v, who))
			}
			urls[k] = fmt.Sprintf("target %q", t.Name)
		}
	}
	return out
}
