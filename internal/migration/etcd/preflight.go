package etcd

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// MemberFacts is what preflight observed about one current member.
type MemberFacts struct {
	Member
	Endpoint  string        // the client URL asked
	Reachable bool          // Status answered
	Err       string        // why not, when !Reachable
	Version   string        // Status.Version, e.g. "3.6.5"
	DBSize    int64         // Status.DbSize, bytes
	Leader    uint64        // Status.Leader as this member sees it
	Errors    []string      // Status.Errors (e.g. alarms)
	RTT       time.Duration // round trip of the Status call from here
	// QuotaBytes is the member's --quota-backend-bytes as its /metrics
	// report it (etcd_server_quota_backend_bytes); 0 = could not be read.
	QuotaBytes int64
}

// Facts is everything Preflight judges. It is gathered by Gather (I/O) and
// judged by Preflight (pure).
type Facts struct {
	Members []MemberFacts
	Targets []Target
	// TargetVersion is the etcd version the provisioner will run ("" =
	// unknown, not checked); TargetVersionErr why it could not be read.
	TargetVersion    string
	TargetVersionErr string
	// MaxLearners is the cluster's --max-learners; 0 means etcd's default, 1.
	MaxLearners int
	// MaxRTT refuses members slower than this from here; 0 = no limit.
	MaxRTT time.Duration
	// MaxDBSize refuses a database larger than this many bytes; 0 = no limit.
	MaxDBSize int64
	// TargetQuota is the --quota-backend-bytes the targets will run with
	// (TargetQuota of their flags); 0 = not checked. Below
	// MinTargetQuota(DBSize()) is refused: the targets would raise the
	// NOSPACE alarm during or soon after the migration.
	TargetQuota int64
	// AllowReducedFaultTolerance accepts fewer targets than it takes to keep
	// the sources' fault tolerance (3 → 1 tolerates no failure).
	AllowReducedFaultTolerance bool
}

// Preflight judges f and returns every reason to refuse the migration, in a
// stable order (nil = go). It refuses when: there are no members; a member
// is unreachable, reports errors or alarms, or disagrees on the leader (or
// there is none); a learner is present or the learner limit is below one;
// members (or the target version) differ in major.minor version; the
// membership sequence has not exactly one crossover (see Sequence); a
// target clashes (CheckTargets); the DB is larger than MaxDBSize; a member
// is further than MaxRTT.
func Preflight(f Facts) []string {
	var out []string
	if len(f.Members) == 0 {
		return []string{"cluster has no members"}
	}
	var leaders = map[uint64]bool{}
	minors := map[string][]string{}
	var srcNames []string
	var members []Member
	for _, m := range f.Members {
		label := memberLabel(m.Member)
		members = append(members, m.Member)
		srcNames = append(srcNames, label)
		if m.IsLearner {
			out = append(out, fmt.Sprintf("member %s is a learner: promote or remove it before migrating", label))
		}
		if !m.Reachable {
			out = append(out, fmt.Sprintf("member %s (%s) is unreachable: %s", label, m.Endpoint, m.Err))
			continue
		}
		if len(m.Errors) > 0 {
			out = append(out, fmt.Sprintf("member %s reports errors: %s", label, strings.Join(m.Errors, "; ")))
		}
		leaders[m.Leader] = true
		mm := minor(m.Version)
		minors[mm] = append(minors[mm], label)
		if f.MaxDBSize > 0 && m.DBSize > f.MaxDBSize {
			out = append(out, fmt.Sprintf("member %s database is %d bytes, above the limit of %d", label, m.DBSize, f.MaxDBSize))
		}
		if f.MaxRTT > 0 && m.RTT > f.MaxRTT {
			out = append(out, fmt.Sprintf("member %s round trip %s is above the limit of %s", label, m.RTT.Round(time.Millisecond), f.MaxRTT))
		}
	}
	switch {
	case leaders[0]:
		out = append(out, "a member reports no leader")
	case len(leaders) > 1:
		out = append(out, fmt.Sprintf("members disagree on the leader (%d different leaders)", len(leaders)))
	}
	if len(minors) > 1 {
		var parts []string
		for _, v := range slices.Sorted(maps.Keys(minors)) {
			parts = append(parts, fmt.Sprintf("%s on %s", v, strings.Join(minors[v], ",")))
		}
		out = append(out, "members run different versions: "+strings.Join(parts, "; "))
	}
	if f.TargetVersion != "" && len(minors) == 1 {
		for v := range minors {
			if minor(f.TargetVersion) != v {
				out = append(out, fmt.Sprintf("target members would run etcd %s, the cluster runs %s: versions must match in major.minor", f.TargetVersion, v))
			}
		}
	}
	if f.TargetVersionErr != "" {
		out = append(out, "cannot tell which etcd version the targets would run: "+f.TargetVersionErr)
	}
	maxL := f.MaxLearners
	if maxL == 0 {
		maxL = 1
	}
	if maxL < 1 {
		out = append(out, fmt.Sprintf("learner limit is %d: the migration adds one learner at a time", f.MaxLearners))
	}
	if db := f.DBSize(); f.TargetQuota > 0 && f.TargetQuota < MinTargetQuota(db) {
		out = append(out, fmt.Sprintf("target quota (--quota-backend-bytes) is %d bytes, below the source database of %d bytes plus headroom (%d): pass --member-flag quota-backend-bytes=%d or more",
			f.TargetQuota, db, MinTargetQuota(db), MinTargetQuota(db)))
	}
	if r := ReducedFaultTolerance(len(f.Members), len(f.Targets)); r != "" && !f.AllowReducedFaultTolerance {
		out = append(out, r+": add targets, or pass --allow-reduced-fault-tolerance")
	}
	out = append(out, CheckTargets(members, f.Targets)...)
	var tgtNames []string
	for _, t := range f.Targets {
		tgtNames = append(tgtNames, t.Name)
	}
	if len(f.Targets) > 0 {
		if seq, err := Sequence(srcNames, tgtNames); err == nil && Crossovers(seq) != 1 {
			out = append(out, fmt.Sprintf("membership sequence has %d crossovers, want 1", Crossovers(seq)))
		}
	}
	return out
}

// ReducedFaultTolerance returns a sentence when a cluster of targets voters
// tolerates fewer failed members than one of sources voters ("3 → 1
// members: fault tolerance 1 → 0"), else "". Pure.
func ReducedFaultTolerance(sources, targets int) string {
	if targets <= 0 || FaultTolerance(targets) >= FaultTolerance(sources) {
		return ""
	}
	return fmt.Sprintf("%d → %d members reduces fault tolerance from %d to %d failed members",
		sources, targets, FaultTolerance(sources), FaultTolerance(targets))
}

// PreflightError joins reasons into one error wrapping ErrPreflight; nil
// when reasons is empty.
func PreflightError(reasons []string) error {
	if len(reasons) == 0 {
		return nil
	}
	return fmt.Errorf("%w:\n  - %s", ErrPreflight, strings.Join(reasons, "\n  - "))
}

func memberLabel(m Member) string {
	if m.Name != "" {
		return fmt.Sprintf("%q", m.Name)
	}
	return fmt.Sprintf("%x", m.ID)
}

// minor returns "major.minor" of an etcd version string ("3.6.5" → "3.6");
// "" stays "".
func minor(v string) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}
