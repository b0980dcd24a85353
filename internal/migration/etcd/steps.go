package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/handover-dev/handover/internal/plan"
)

// world is what every step shares: the config and the cluster connection.
type world struct{ cfg *Config }

func findPeer(ms []Member, peerURL string) *Member {
	for i := range ms {
		if ms[i].HasPeerURL(peerURL) {
			return &ms[i]
		}
	}
	return nil
}

func findID(ms []Member, id uint64) *Member {
	for i := range ms {
		if ms[i].ID == id {
			return &ms[i]
		}
	}
	return nil
}

func (w *world) isTarget(m Member) bool {
	for _, t := range w.cfg.Targets {
		if m.HasPeerURL(t.PeerURL) {
			return true
		}
	}
	return false
}

// voterEndpoints returns the client URLs of the voters, without skip.
func voterEndpoints(ms []Member, skip uint64) []string {
	var out []string
	for _, m := range ms {
		if !m.IsLearner && m.Name != "" && m.ID != skip {
			out = append(out, m.ClientURLs...)
		}
	}
	return out
}

// health returns the voters' health as the safety rules see it, the
// statuses, and the leader ID (0 when unknown).
func (w *world) health(ctx context.Context, ms []Member) ([]VoterHealth, []MemberStatus, uint64) {
	var voters []Member
	for _, m := range ms {
		if !m.IsLearner {
			voters = append(voters, m)
		}
	}
	sts := w.cfg.Cluster.Statuses(ctx, voters)
	leader, _ := Leader(sts)
	out := make([]VoterHealth, len(sts))
	for i, s := range sts {
		out[i] = VoterHealth{ID: s.ID, Healthy: s.Healthy(), Leader: s.ID == leader}
	}
	return out, sts, leader
}

// removeMember removes m, moving leadership to another voter first when m
// leads. A member already gone is not an error.
func (w *world) removeMember(ctx context.Context, ms []Member, m Member, preferTargets bool) error {
	_, sts, leader := w.health(ctx, ms)
	if leader == m.ID {
		to := uint64(0)
		for _, s := range sts {
			if s.ID != m.ID && s.Healthy() && (w.isTarget(s.Member) == preferTargets) {
				to = s.ID
				break
			}
		}
		if to == 0 {
			return fmt.Errorf("member %s leads and no other healthy voter can take over", memberLabel(m))
		}
		if err := w.transfer(ctx, ms, m, to); err != nil {
			return err
		}
	}
	ctx, cancel := w.cfg.Cluster.withTimeout(ctx)
	defer cancel()
	if _, err := w.cfg.Cluster.Client().MemberRemove(ctx, m.ID); err != nil && !errors.Is(err, rpctypes.ErrMemberNotFound) {
		return fmt.Errorf("remove member %s: %w", memberLabel(m), err)
	}
	return nil
}

// transfer moves leadership from leader to the voter to with
// TransferLeadership (under the configured client hold) and records it.
func (w *world) transfer(ctx context.Context, ms []Member, leader Member, to uint64) error {
	var voters []Member
	for _, m := range ms {
		if !m.IsLearner {
			voters = append(voters, m)
		}
	}
	tr, err := TransferLeadership(ctx, w.cfg.Cluster, voters, leader, to,
		TransferOptions{Hold: w.cfg.Hold, Clock: w.cfg.Clock, MetricsURL: w.cfg.MetricsURL})
	if err == nil {
		w.cfg.Stats.addTransfer(tr)
	}
	return err
}

// removeTarget removes t's member (learner or voter) when the member list
// has it, as removeMember does; a target not in the list is not an error.
// A promoted target is a voter clients may use, so the endpoint hook is
// told the voters without it first (Leaving, Reverted: a rollback, Step
// the reverting step), and its refusal keeps the member (the revert is
// retried).
func (w *world) removeTarget(ctx context.Context, t Target, step string) error {
	ms, err := w.cfg.Cluster.Members(ctx)
	if err != nil {
		return err
	}
	m := findPeer(ms, t.PeerURL)
	if m == nil {
		return nil
	}
	if !m.IsLearner {
		eps := voterEndpoints(ms, m.ID)
		if err := w.tell(ctx, EndpointChange{Step: step, Endpoints: eps, Leaving: m, Reverted: true}); err != nil {
			return fmt.Errorf("publish endpoints before removing target %s: %w", memberLabel(*m), err)
		}
	}
	return w.removeMember(ctx, ms, *m, false)
}

// --- preflight ---

type preflightStep struct{ w *world }

func (s *preflightStep) Name() string                 { return "preflight" }
func (s *preflightStep) Apply(context.Context) error  { return nil }
func (s *preflightStep) Revert(context.Context) error { return nil }
func (s *preflightStep) Describe() string {
	return "gate: every member healthy with one leader; one major.minor version (targets too); no learner; learner limit ≥ 1; targets unique and not members; exactly one crossover; target quota ≥ source database + headroom"
}
func (s *preflightStep) Check(ctx context.Context) plan.Result {
	f, err := Gather(ctx, s.w.cfg.Cluster, s.w.cfg.Targets, s.w.cfg.Provisioner)
	if err != nil {
		return plan.NotYet(err.Error())
	}
	f.MaxLearners, f.MaxRTT, f.MaxDBSize = s.w.cfg.MaxLearners, s.w.cfg.MaxRTT, s.w.cfg.MaxDBSize
	f.AllowReducedFaultTolerance = !s.w.cfg.KeepFaultTolerance
	if f.TargetQuota, err = TargetQuota(s.w.cfg.MemberFlags); err != nil {
		return plan.Failed(err.Error())
	}
	if reasons := Preflight(f); len(reasons) > 0 {
		return plan.Failed(strings.Join(reasons, "; "))
	}
	return plan.Done()
}

// --- add learner ---

type addLearnerStep struct {
	w *world
	t Target
}

func (s *addLearnerStep) Name() string { return "add-learner/" + s.t.Name }
func (s *addLearnerStep) Describe() string {
	return fmt.Sprintf("MemberAddAsLearner %s (voters unchanged; etcd refuses until its leader has been connected to every voter for 5s, retried); revert: MemberRemove", s.t.PeerURL)
}
func (s *addLearnerStep) Apply(ctx context.Context) error {
	ms, err := s.w.cfg.Cluster.Members(ctx)
	if err != nil {
		return err
	}
	if findPeer(ms, s.t.PeerURL) != nil {
		return nil
	}
	for _, m := range ms {
		if m.IsLearner {
			return fmt.Errorf("learner %s is present; etcd allows one at a time", memberLabel(m))
		}
	}
	ctx, cancel := s.w.cfg.Cluster.withTimeout(ctx)
	defer cancel()
	_, err = s.w.cfg.Cluster.Client().MemberAddAsLearner(ctx, []string{s.t.PeerURL})
	if err != nil && !errors.Is(err, rpctypes.ErrPeerURLExist) {
		return fmt.Errorf("add learner %q: %w", s.t.Name, err)
	}
	return nil
}
func (s *addLearnerStep) Check(ctx context.Context) plan.Result {
	ms, err := s.w.cfg.Cluster.Members(ctx)
	if err != nil {
		return plan.NotYet(err.Error())
	}
	if findPeer(ms, s.t.PeerURL) == nil {
		return plan.NotYet("learner not in the member list yet")
	}
	return plan.Done()
}
func (s *addLearnerStep) Revert(ctx context.Context) error {
	return s.w.removeTarget(ctx, s.t, s.Name())
}

// --- provision ---

type provisionStep struct {
	w *world
	t Target
}

func (s *provisionStep) Name() string { return "provision/" + s.t.Name }
func (s *provisionStep) Describe() string {
	return fmt.Sprintf("start %q (%s provisioner) with --initial-cluster-state=existing, client %s; revert: remove the member, stop it, delete its data",
		s.t.Name, s.w.cfg.Provisioner.Kind(), s.t.ClientURL)
}
func (s *provisionStep) Apply(ctx context.Context) error {
	ms, err := s.w.cfg.Cluster.Members(ctx)
	if err != nil {
		return err
	}
	if findPeer(ms, s.t.PeerURL) == nil {
		return fmt.Errorf("target %q is not in the member list", s.t.Name)
	}
	ic, err := InitialCluster(ms, s.t)
	if err != nil {
		return err
	}
	s.w.cfg.Stats.provisionStarted(s.t.Name, s.w.cfg.Clock.Now())
	return s.w.cfg.Provisioner.Start(ctx, MemberSpec{
		Name: s.t.Name, PeerURL: s.t.PeerURL, ClientURL: s.t.ClientURL, ListenPeerURL: s.t.ListenPeerURL,
		InitialCluster: ic, ClusterState: "existing", TLS: s.w.cfg.TargetTLS, Flags: s.w.cfg.MemberFlags,
	})
}
func (s *provisionStep) Check(context.Context) plan.Result { return plan.Done() }
func (s *provisionStep) Revert(ctx context.Context) error {
	if err := s.w.removeTarget(ctx, s.t, s.Name()); err != nil {
		return err
	}
	return s.w.cfg.Provisioner.Stop(ctx, s.t.Name)
}

// --- catch up ---

type catchUpStep struct {
	w *world
	t Target

	mu     sync.Mutex
	first  *CatchUpSample
	dataAt time.Time // first sample that was caught up
}

func (s *catchUpStep) Name() string                 { return "catch-up/" + s.t.Name }
func (s *catchUpStep) Timeout() time.Duration       { return s.w.cfg.CatchUpTimeout }
func (s *catchUpStep) Apply(context.Context) error  { return nil }
func (s *catchUpStep) Revert(context.Context) error { return nil }
func (s *catchUpStep) Describe() string {
	return fmt.Sprintf("gate: learner's applied index within %d entries of the leader's (Status), timeout %s", CatchUpSlack, s.w.cfg.CatchUpTimeout)
}
func (s *catchUpStep) Check(ctx context.Context) plan.Result {
	ms, err := s.w.cfg.Cluster.Members(ctx)
	if err != nil {
		return plan.NotYet(err.Error())
	}
	m := findPeer(ms, s.t.PeerURL)
	if m == nil {
		return plan.Failed(fmt.Sprintf("target %q left the member list", s.t.Name))
	}
	if !m.IsLearner {
		return plan.Done() // promoted by an earlier run
	}
	_, sts, leader := s.w.health(ctx, ms)
	var ls *MemberStatus
	for i := range sts {
		if sts[i].ID == leader && sts[i].Healthy() {
			ls = &sts[i]
		}
	}
	if ls == nil {
		return plan.NotYet("no healthy leader")
	}
	now := CatchUpSample{LeaderIndex: ls.Status.RaftIndex, LeaderDB: ls.Status.DbSize}
	// etcd serves a joining member's clients only once it applied its own
	// join, so while it catches up its progress comes from the provisioner
	// when it can tell; Status (short timeout) then only says whether the
	// learner serves yet.
	pr, hasProgress := s.w.cfg.Provisioner.(ProgressReporter)
	progressKnown := false
	if hasProgress {
		if applied, db, err := pr.Progress(ctx, s.t.Name); err == nil {
			now.LearnerApplied, now.LearnerDB, progressKnown = applied, db, true
			now.At = s.w.cfg.Clock.Now()
		}
	}
	if dr, ok := s.w.cfg.Provisioner.(DataDirReporter); ok {
		now.LearnerReceived = SnapshotBytes(dr.DataDir(s.t.Name))
	}
	serving := false
	if !progressKnown || CaughtUp(now) {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, _, err := s.w.cfg.Cluster.Status(sctx, s.t.ClientURL)
		cancel()
		switch {
		case err == nil:
			serving = true
			now.LearnerApplied, now.LearnerDB = st.RaftAppliedIndex, st.DbSize
			if !progressKnown {
				now.At = s.w.cfg.Clock.Now()
			}
		case !progressKnown:
			return plan.NotYet(fmt.Sprintf("learner %s not serving clients yet (it does once caught up): %v", s.t.ClientURL, err))
		}
	}
	s.mu.Lock()
	if s.first == nil {
		s.first = &now
	}
	if CaughtUp(now) && s.dataAt.IsZero() {
		s.dataAt = now.At
	}
	first, dataAt := *s.first, s.dataAt
	s.mu.Unlock()
	switch {
	case !CaughtUp(now):
		if now.LearnerReceived > 0 && first.LearnerReceived == 0 {
			// The transfer's rate counts from the first sample that saw it.
			s.mu.Lock()
			s.first = &now
			first = now
			s.mu.Unlock()
		}
		return plan.NotYet(CatchUpProgress(first, now))
	case !serving:
		return plan.NotYet(fmt.Sprintf("applied %d/%d (100%%), caught up in %s; waiting for the learner to serve clients (etcd publishes its join first)",
			now.LearnerApplied, now.LeaderIndex, dataAt.Sub(first.At).Round(time.Millisecond)))
	}
	start, ok := s.w.cfg.Stats.provisionStart(s.t.Name)
	if !ok {
		start = first.At
	}
	s.w.cfg.Stats.add(CatchUp{Target: s.t.Name, Bytes: now.LearnerDB, Duration: dataAt.Sub(start), Ready: s.w.cfg.Clock.Now().Sub(start)})
	return plan.Done()
}

// --- promote ---

type promoteStep struct {
	w *world
	t Target
}

func (s *promoteStep) Name() string                 { return "promote/" + s.t.Name }
func (s *promoteStep) Timeout() time.Duration       { return s.w.cfg.PromoteTimeout }
func (s *promoteStep) Revert(context.Context) error { return nil }
func (s *promoteStep) Describe() string {
	return fmt.Sprintf("MemberPromote, retried while etcd answers \"learner not ready\", timeout %s%s; revert: none (the provision revert removes the voter)", s.w.cfg.PromoteTimeout, s.w.hookNote())
}
func (s *promoteStep) Apply(ctx context.Context) error {
	ms, err := s.w.cfg.Cluster.Members(ctx)
	if err != nil {
		return err
	}
	m := findPeer(ms, s.t.PeerURL)
	if m == nil {
		return plan.Permanent(fmt.Errorf("target %q left the member list", s.t.Name))
	}
	if !m.IsLearner {
		return nil
	}
	voters, _, _ := s.w.health(ctx, ms)
	_, _, lerr := s.w.cfg.Cluster.Status(ctx, s.t.ClientURL)
	if reason := CanPromote(voters, lerr == nil); reason != "" {
		return fmt.Errorf("%w: promote %q: %s", ErrUnsafe, s.t.Name, reason)
	}
	pctx, cancel := s.w.cfg.Cluster.withTimeout(ctx)
	defer cancel()
	if _, err := s.w.cfg.Cluster.Client().MemberPromote(pctx, m.ID); err != nil && !errors.Is(err, rpctypes.ErrMemberNotLearner) {
		return fmt.Errorf("promote %q: %w", s.t.Name, err) // ErrLearnerNotReady is retried
	}
	return nil
}
func (s *promoteStep) Check(ctx context.Context) plan.Result {
	ms, err := s.w.cfg.Cluster.Members(ctx)
	if err != nil {
		return plan.NotYet(err.Error())
	}
	m := findPeer(ms, s.t.PeerURL)
	if m == nil {
		return plan.Failed(fmt.Sprintf("target %q left the member list", s.t.Name))
	}
	if m.IsLearner || m.Name == "" {
		return plan.NotYet("still a learner")
	}
	ch := EndpointChange{Step: s.Name(), Endpoints: voterEndpoints(ms, 0)}
	if err := s.w.tell(ctx, ch); err != nil {
		return plan.Failed(refused(ch, err))
	}
	return plan.Done()
}

// --- move leader ---

type moveLeaderStep struct{ w *world }

func (s *moveLeaderStep) Name() string { return "move-leader" }

// Revert points clients back at every voter (Apply pinned them to the
// leader).
func (s *moveLeaderStep) Revert(ctx context.Context) error {
	if s.w.cfg.OnEndpoints == nil {
		return nil
	}
	ms, err := s.w.cfg.Cluster.Members(ctx)
	if err != nil {
		return err
	}
	if err := s.w.tell(ctx, EndpointChange{Step: s.Name(), Endpoints: voterEndpoints(ms, 0), Reverted: true}); err != nil {
		return fmt.Errorf("endpoint hook after reverting %s: %w", s.Name(), err)
	}
	return nil
}
func (s *moveLeaderStep) Describe() string {
	if s.w.cfg.Hold != nil {
		return "clients held (hold hook) until no KV/Lease request is in flight on any voter (/metrics), then MoveLeader (sent to the leader's endpoint) to the first healthy target voter; clients released once every voter follows the new leader" + s.w.hookNote()
	}
	return "clients pinned to the leader (OnEndpoints), then MoveLeader (sent to the leader's endpoint) to the first healthy target voter; clients back on every voter once a target leads" + s.w.hookNote()
}
func (s *moveLeaderStep) Apply(ctx context.Context) error {
	ms, err := s.w.cfg.Cluster.Members(ctx)
	if err != nil {
		return err
	}
	_, sts, leader := s.w.health(ctx, ms)
	if leader == 0 {
		return ErrNoLeader
	}
	lm := findID(ms, leader)
	if lm == nil {
		return ErrNoLeader
	}
	if s.w.isTarget(*lm) {
		return nil
	}
	// Raft drops proposals while a transfer is pending (see
	// TransferLeadership). With a client hold nothing is sent during it.
	// Without one, a proposal a follower forwarded to the leader in that
	// window is dropped silently and its client waits for the request
	// timeout; one made on the leader itself fails at once with "raft
	// proposal dropped" (provably not applied, so safe to retry). Pinning
	// the OnEndpoints clients to the leader turns the first kind into the
	// second.
	if s.w.cfg.OnEndpoints != nil && s.w.cfg.Hold == nil {
		if err := s.w.tell(ctx, EndpointChange{Step: s.Name(), Endpoints: lm.ClientURLs, Transient: true}); err != nil {
			return fmt.Errorf("endpoint hook refused pinning clients to the leader %s: %w", memberLabel(*lm), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.w.cfg.Clock.After(s.w.cfg.DrainDelay):
		}
	}
	for _, t := range s.w.cfg.Targets {
		for _, st := range sts {
			if st.HasPeerURL(t.PeerURL) && st.Healthy() && !st.IsLearner {
				return s.w.transfer(ctx, ms, *lm, st.ID)
			}
		}
	}
	return errors.New("no healthy target voter to lead")
}
func (s *moveLeaderStep) Check(ctx context.Context) plan.Result {
	ms, err := s.w.cfg.Cluster.Members(ctx)
	if err != nil {
		return plan.NotYet(err.Error())
	}
	_, _, leader := s.w.health(ctx, ms)
	lm := findID(ms, leader)
	if lm == nil {
		return plan.NotYet("no leader")
	}
	if !s.w.isTarget(*lm) {
		return plan.NotYet(fmt.Sprintf("leader is still %s", memberLabel(*lm)))
	}
	ch := EndpointChange{Step: s.Name(), Endpoints: voterEndpoints(ms, 0)}
	if err := s.w.tell(ctx, ch); err != nil {
		return plan.Failed(refused(ch, err))
	}
	return plan.Done()
}

// --- verify ---

type verifyStep struct {
	w     *world
	label string
}

func (s *verifyStep) Name() string                 { return "verify/" + s.label }
func (s *verifyStep) Apply(context.Context) error  { return nil }
func (s *verifyStep) Revert(context.Context) error { return nil }
func (s *verifyStep) Describe() string {
	return "gate: every member healthy, has applied revision r, and HashKV(r) is equal on the followers, asked one at a time while the leader serves writes and clients (OnEndpoints) use the other members (r = lowest current revision)"
}
func (s *verifyStep) Check(ctx context.Context) plan.Result {
	ms, err := s.w.cfg.Cluster.Members(ctx)
	if err != nil {
		return plan.NotYet(err.Error())
	}
	var around func(context.Context, Member) error
	if s.w.cfg.OnEndpoints != nil {
		// A client's write through a member returns once that member
		// applied it, and HashKV holds back the member's applies: the
		// probe (and any client on OnEndpoints) leaves each member while
		// it hashes, and comes back to every voter afterwards.
		defer func() {
			// Back on every voter; a refusal here leaves clients on the
			// others, which still serve them, and the next step tells
			// the hook again.
			_ = s.w.tell(ctx, EndpointChange{Step: s.Name(), Endpoints: voterEndpoints(ms, 0), Transient: true})
		}()
		around = func(ctx context.Context, m Member) error {
			eps := voterEndpoints(ms, m.ID)
			if len(eps) == 0 {
				return nil // the only voter: nowhere else to go
			}
			if err := s.w.tell(ctx, EndpointChange{Step: s.Name(), Endpoints: eps, Transient: true}); err != nil {
				return fmt.Errorf("endpoint hook refused moving clients off %s while it hashes: %w", memberLabel(m), err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.w.cfg.Clock.After(s.w.cfg.DrainDelay):
				return nil
			}
		}
	}
	if _, err := verifyHash(ctx, s.w.cfg.Cluster, ms, around); err != nil {
		if errors.Is(err, ErrHashMismatch) {
			return plan.Failed(err.Error())
		}
		return plan.NotYet(err.Error())
	}
	return plan.Done()
}

// --- remove source ---

type removeStep struct {
	w   *world
	src Member
}

func (s *removeStep) Name() string                 { return "remove/" + sourceName(s.src) }
func (s *removeStep) Revert(context.Context) error { return nil }
func (s *removeStep) Describe() string {
	c := s.w.cfg
	d := "gate: all targets voting and healthy, CanRemove; clients moved off it ("
	if c.OnEndpoints != nil {
		d += "endpoints hook, "
	}
	d += fmt.Sprintf("wait %s)", c.DrainDelay)
	if c.StopSource != nil {
		d += "; stop it gracefully (stop-source hook) when the others keep quorum"
	}
	if c.DrainMaxRate > 0 {
		d += fmt.Sprintf("; gate: its /metrics show at most %.1f client requests/s (timeout %s)", c.DrainMaxRate, c.DrainTimeout)
	}
	d += "; then MemberRemove " + memberLabel(s.src)
	if c.RemovalPace > 0 {
		d += fmt.Sprintf(", then wait %s", c.RemovalPace)
	}
	return d
}
func (s *removeStep) Apply(ctx context.Context) error {
	ms, err := s.w.cfg.Cluster.Members(ctx)
	if err != nil {
		return err
	}
	m := findID(ms, s.src.ID)
	if m == nil {
		return nil
	}
	voters, sts, leader := s.w.health(ctx, ms)
	for _, t := range s.w.cfg.Targets {
		ok := false
		for _, st := range sts {
			if st.HasPeerURL(t.PeerURL) && st.Healthy() {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("%w: target %q is not a healthy voter", ErrUnsafe, t.Name)
		}
	}
	if leader == m.ID {
		// Followers first: hand leadership to a target, then retry.
		for _, st := range sts {
			if s.w.isTarget(st.Member) && st.Healthy() {
				if err := s.w.transfer(ctx, ms, *m, st.ID); err != nil {
					return err
				}
				return fmt.Errorf("member %s led; moved leadership to %s", memberLabel(*m), memberLabel(st.Member))
			}
		}
	}
	if reason := CanRemove(voters, m.ID); reason != "" {
		return fmt.Errorf("%w: remove %s: %s", ErrUnsafe, memberLabel(*m), reason)
	}
	eps := voterEndpoints(ms, m.ID)
	s.w.cfg.Cluster.Client().SetEndpoints(eps...)
	if err := s.w.tell(ctx, EndpointChange{Step: s.Name(), Endpoints: eps, Leaving: m}); err != nil {
		return fmt.Errorf("publish endpoints before removing %s: %w", memberLabel(*m), err)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.w.cfg.Clock.After(s.w.cfg.DrainDelay):
	}
	if s.w.cfg.StopSource != nil && !s.w.isTarget(*m) {
		if reason := CanStopBeforeRemove(voters, m.ID); reason == "" {
			if err := s.w.cfg.StopSource(ctx, *m); err != nil {
				return fmt.Errorf("stop source %s: %w", memberLabel(*m), err)
			}
		}
	}
	if s.w.cfg.DrainMaxRate > 0 {
		if err := s.w.waitDrained(ctx, *m, eps); err != nil {
			return plan.Permanent(err)
		}
	}
	if err := s.w.removeMember(ctx, ms, *m, true); err != nil {
		return err
	}
	if s.w.cfg.RemovalPace > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.w.cfg.Clock.After(s.w.cfg.RemovalPace):
		}
	}
	return nil
}
func (s *removeStep) Check(ctx context.Context) plan.Result {
	ms, err := s.w.cfg.Cluster.Members(ctx)
	if err != nil {
		return plan.NotYet(err.Error())
	}
	if findID(ms, s.src.ID) != nil {
		return plan.NotYet("still a member")
	}
	return plan.Done()
}

func sourceName(m Member) string {
	if m.Name != "" {
		return m.Name
	}
	return fmt.Sprintf("%x", m.ID)
}
