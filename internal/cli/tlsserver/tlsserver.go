// Package tlsserver is `handover tls-server`: the hot-reload mTLS consumer
// that runs in real pods (the image hack/realnode.sh builds). It serves the
// tlsloop protocol (ping/pong) on --listen with the kubernetes.io/tls volume
// at --dir (ca.crt, tls.crt, tls.key, the kubelet's ..data layout), requiring
// client certificates the volume's ca.crt verifies, and re-reads the volume
// whenever ..data moves (hot reload) — or once at start (--reload load-once).
//
// For measuring propagation inside the pod it polls ..data every --watch and
// prints one JSON line per generation it sees on stdout (the container log):
//
//	{"time":"2026-11-29T15:04:05.123456789Z","generation":"..2026_11_29_15_04_05.1","leafSHA256":"ab12…","contentSHA256":"cd34…"}
//
// Only public data is printed (digests of the leaf and of ca.crt+tls.crt,
// see ContentDigest), never keys.
package tlsserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/fleet"
	"github.com/handover-dev/handover/internal/tlsloop"
)

// Options are the flags of `handover tls-server`.
type Options struct {
	Dir    string        // mounted kubernetes.io/tls volume
	Listen string        // host:port to listen on
	Reload string        // "hot" or "load-once"
	Watch  time.Duration // ..data poll interval for the generation log
}

// NewCommand returns `handover tls-server`.
func NewCommand() *cobra.Command {
	o := &Options{}
	cmd := &cobra.Command{
		Use:    "tls-server",
		Short:  "Serve mTLS (ping/pong) from a mounted kubernetes.io/tls volume, hot-reloading it (the real-pod test consumer)",
		Args:   cobra.NoArgs,
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ln, err := net.Listen("tcp", o.Listen)
			if err != nil {
				return fmt.Errorf("flag --listen: %w", err)
			}
			return serve(cmd.Context(), cmd.OutOrStdout(), o, ln, clock.RealClock{})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", "/etc/tls", "directory of the mounted kubernetes.io/tls Secret (ca.crt, tls.crt, tls.key)")
	f.StringVar(&o.Listen, "listen", "0.0.0.0:8443", "address to listen on")
	f.StringVar(&o.Reload, "reload", "hot", `"hot" (re-read on every ..data change) or "load-once"`)
	f.DurationVar(&o.Watch, "watch", 100*time.Millisecond, "how often ..data is polled for the generation log")
	return cmd
}

// serve runs the server on ln (closed on return) until ctx ends; the first
// error is a flag's (the volume unreadable, a bad --reload or --watch).
func serve(ctx context.Context, out io.Writer, o *Options, ln net.Listener, clk clock.WithTicker) error {
	if o.Watch <= 0 {
		_ = ln.Close()
		return fmt.Errorf("flag --watch: %s, want > 0", o.Watch)
	}
	vol, err := fleet.NewVolume(o.Dir, clk)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("flag --dir: %w", err)
	}
	ld := &tlsloop.Loader{Source: vol}
	m, err := ld.Load()
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("flag --dir %s: %w", o.Dir, err)
	}
	first, err := vol.Read()
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("flag --dir %s: %w", o.Dir, err)
	}
	srvCfg := ld.ReloadingServerConfig()
	switch o.Reload {
	case "hot":
	case "load-once":
		srvCfg = m.Server
	default:
		_ = ln.Close()
		return fmt.Errorf("flag --reload: %q, want hot or load-once", o.Reload)
	}
	srv := tlsloop.Serve(ln, srvCfg)
	defer srv.Stop(0, 0)
	enc := json.NewEncoder(out)
	last := m.Generation
	if err := enc.Encode(event(clk.Now(), m, first)); err != nil {
		return err
	}
	t := clk.NewTicker(o.Watch)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		gen, err := vol.Generation()
		if err != nil || gen == last {
			continue
		}
		at := clk.Now()
		snap, err := vol.Read()
		if err != nil {
			continue
		}
		m, err := tlsloop.ParseMaterial(snap, nil)
		if err != nil {
			continue
		}
		last = m.Generation
		if err := enc.Encode(event(at, m, snap)); err != nil {
			return err
		}
	}
}

// Event is one line of the generation log: when the server first saw a
// generation of its volume, the SHA-256 of its leaf (DER) and ContentDigest
// of the generation's files.
type Event struct {
	Time          time.Time `json:"time"`
	Generation    string    `json:"generation"`
	LeafSHA256    string    `json:"leafSHA256"`
	ContentSHA256 string    `json:"contentSHA256"`
}

// ContentDigest is the hex SHA-256 of ca.crt, a zero byte and tls.crt of a
// kubernetes.io/tls Secret's data or volume (public parts only): a test
// matches the Secret version it wrote with the generation a pod saw.
func ContentDigest(files map[string][]byte) string {
	h := sha256.New()
	h.Write(files[tlsloop.FileCA])
	h.Write([]byte{0})
	h.Write(files[tlsloop.FileCert])
	return hex.EncodeToString(h.Sum(nil))
}

func event(at time.Time, m *tlsloop.Material, snap tlsloop.Snapshot) Event {
	e := Event{Time: at.UTC(), Generation: m.Generation, ContentSHA256: ContentDigest(snap.Files)}
	if len(m.Cert.Certificate) > 0 {
		sum := sha256.Sum256(m.Cert.Certificate[0])
		e.LeafSHA256 = hex.EncodeToString(sum[:])
	}
	return e
}
