package certificateauthority

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// AccessKey names one access decision: may the controller Verb Resource
// (with Subresource, when set) of API Group ("" = core: "secrets",
// "configmaps") in Namespace.
type AccessKey struct {
	Namespace, Resource, Verb string
	Group, Subresource        string
}

// AccessPolicy says how long an access decision (a SelfSubjectAccessReview
// of the controller itself) is reused before it is asked again.
//
// An allowed decision is reused for AllowedTTL, a denied one for DeniedTTL;
// every decision made before the last RBAC change (Role, RoleBinding,
// ClusterRole or ClusterRoleBinding event, AccessCache.Invalidate) is
// stale at once. Caching cannot widen what the controller does: the
// namespace scope of issue 9 (validation.Scope) is a pure rule checked on
// every reconcile and again by the backend at write time, and the apiserver
// still authorizes every write — a stale "allowed" only means a write is
// tried and refused with Forbidden, which the backend reports as a
// condition. A stale "denied" delays a fix by the user at most DeniedTTL
// when the RBAC watch cannot see it (a ClusterRole aggregated later).
type AccessPolicy struct {
	// AllowedTTL: how long an allowed decision is reused (0 = never cached).
	AllowedTTL time.Duration
	// DeniedTTL: how long a denied decision is reused (0 = never cached).
	DeniedTTL time.Duration
}

// DefaultAccessPolicy reuses an allowed decision for 10 minutes and never
// reuses a denial (a denied CertificateAuthority is Degraded; its reconciles
// are rare and should notice the fix at once).
var DefaultAccessPolicy = AccessPolicy{AllowedTTL: 10 * time.Minute}

// AccessDecision is one cached access decision.
type AccessDecision struct {
	Allowed bool
	// At is when the review was answered (the reviewer's clock).
	At time.Time
	// Epoch is the AccessCache epoch (RBAC changes seen) when it was asked.
	Epoch uint64
}

// Reusable reports whether d may answer again at now, when the cache has
// seen epoch RBAC changes. Pure: a decision from an older epoch, from the
// future (clock stepped back), or older than its TTL is not reusable.
func (p AccessPolicy) Reusable(d AccessDecision, epoch uint64, now time.Time) bool {
	if d.Epoch != epoch || now.Before(d.At) {
		return false
	}
	ttl := p.DeniedTTL
	if d.Allowed {
		ttl = p.AllowedTTL
	}
	return now.Sub(d.At) < ttl
}

// AccessReviewer answers one access question against the apiserver.
type AccessReviewer func(ctx context.Context, k AccessKey) (allowed bool, err error)

// SelfReviewer asks with a SelfSubjectAccessReview created through c.
func SelfReviewer(c client.Client) AccessReviewer {
	return func(ctx context.Context, k AccessKey) (bool, error) {
		rev := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: k.Namespace, Verb: k.Verb,
				Group: k.Group, Resource: k.Resource, Subresource: k.Subresource},
		}}
		if err := c.Create(ctx, rev); err != nil {
			return false, fmt.Errorf("access review %s %s in %s: %w", k.Verb, k.what(), k.Namespace, err)
		}
		return rev.Status.Allowed, nil
	}
}

// AccessCache memoizes access decisions under an AccessPolicy. It is safe
// for concurrent use; the zero value is not usable (NewAccessCache).
type AccessCache struct {
	policy AccessPolicy
	clock  clock.PassiveClock
	review AccessReviewer

	mu      sync.Mutex
	epoch   uint64
	entries map[AccessKey]AccessDecision
	reviews uint64
}

// NewAccessCache returns an empty cache asking review on a miss.
func NewAccessCache(policy AccessPolicy, clk clock.PassiveClock, review AccessReviewer) *AccessCache {
	return &AccessCache{policy: policy, clock: clk, review: review, entries: map[AccessKey]AccessDecision{}}
}

// Allowed answers k from the cache when the policy allows it, else asks the
// reviewer and stores the answer (errors are not stored). A review that
// started before an Invalidate is returned but not stored.
func (c *AccessCache) Allowed(ctx context.Context, k AccessKey) (bool, error) {
	c.mu.Lock()
	now := c.clock.Now()
	d, ok := c.entries[k]
	epoch := c.epoch
	if ok && c.policy.Reusable(d, epoch, now) {
		c.mu.Unlock()
		return d.Allowed, nil
	}
	c.reviews++
	c.mu.Unlock()
	allowed, err := c.review(ctx, k)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch == epoch {
		c.entries[k] = AccessDecision{Allowed: allowed, At: now, Epoch: epoch}
	}
	return allowed, nil
}

// Invalidate makes every stored decision stale (an RBAC object changed).
func (c *AccessCache) Invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	clear(c.entries)
}

// Reviews returns how many reviews the cache has asked for so far.
func (c *AccessCache) Reviews() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reviews
}

// registerAccessMetrics registers handover_access_reviews_total, the
// access reviews c has asked the apiserver for (cache misses), on reg.
func registerAccessMetrics(reg prometheus.Registerer, c *AccessCache) error {
	_, err := register(reg, prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "handover_access_reviews_total",
		Help: "SelfSubjectAccessReviews the controller sent (access decisions not answered from its cache).",
	}, func() float64 { return float64(c.Reviews()) }))
	return err
}

// what is "resource[/subresource][.group]", e.g. "certificates/status.cert-manager.io".
func (k AccessKey) what() string {
	w := k.Resource
	if k.Subresource != "" {
		w += "/" + k.Subresource
	}
	if k.Group != "" {
		w += "." + k.Group
	}
	return w
}
