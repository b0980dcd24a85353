package endpointdns

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Exec runs a user's commands to read and change the record (e.g. their DNS
// provider's CLI). Both run with `sh -c` and the environment plus
// HANDOVER_DNS_NAME (fully qualified); Set also gets HANDOVER_DNS_ADDRS
// (comma-separated IPv4). The Get command prints "TTL_SECONDS ADDR[,ADDR…]"
// on its first line.
type Exec struct {
	Record     string // the name
	GetCommand string
	SetCommand string
}

// Kind returns "exec".
func (e *Exec) Kind() string { return "exec" }

// Name returns the fully qualified name ("" when invalid).
func (e *Exec) Name() string {
	fq, _ := Canonical(e.Record)
	return fq
}

func (e *Exec) run(ctx context.Context, field, command string, env ...string) (string, error) {
	if command == "" {
		return "", fmt.Errorf("%w: Exec.%s is empty", ErrInvalid, field)
	}
	fq, err := Canonical(e.Record)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", command) //nolint:gosec // G204: the operator's own command
	cmd.Env = append(os.Environ(), append([]string{"HANDOVER_DNS_NAME=" + fq}, env...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("dns %s command for %s: %w: %s", strings.ToLower(strings.TrimSuffix(field, "Command")), fq, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Get runs GetCommand and parses its first line.
func (e *Exec) Get(ctx context.Context) (Entry, error) {
	out, err := e.run(ctx, "GetCommand", e.GetCommand)
	if err != nil {
		return Entry{}, err
	}
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	ttlS, list, ok := strings.Cut(strings.TrimSpace(line), " ")
	ttl, err := strconv.Atoi(ttlS)
	if !ok || err != nil || ttl < 0 {
		return Entry{}, fmt.Errorf("%w: get command printed %q, want \"TTL_SECONDS ADDR[,ADDR…]\"", ErrInvalid, line)
	}
	var addrs []netip.Addr
	for _, s := range strings.Split(strings.TrimSpace(list), ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return Entry{}, fmt.Errorf("%w: get command printed address %q: %w", ErrInvalid, s, err)
		}
		addrs = append(addrs, a)
	}
	as, err := validAddrs(addrs)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Name: e.Name(), Addrs: as, TTL: time.Duration(ttl) * time.Second}, nil
}

// Set runs SetCommand with HANDOVER_DNS_ADDRS.
func (e *Exec) Set(ctx context.Context, addrs []netip.Addr) error {
	as, err := validAddrs(addrs)
	if err != nil {
		return err
	}
	ss := make([]string, len(as))
	for i, a := range as {
		ss[i] = a.String()
	}
	_, err = e.run(ctx, "SetCommand", e.SetCommand, "HANDOVER_DNS_ADDRS="+strings.Join(ss, ","))
	return err
}
