package canary

import (
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// Buckets is the number of hash buckets an object key falls into: one
// bucket is 0.01 % of the key space, so a weight in whole percent is exactly
// Weight*100 buckets.
const Buckets = 10000

// Key is the assignment key of an object: "group/kind/namespace/name" (core
// group and cluster-scoped objects leave the part empty), the key format of
// kubernetes-controller-sharding (pkg/sharding/key). Children are assigned by
// their controller owner's key (OwnerKey), so they land with it.
func Key(group, kind, namespace, name string) string {
	return group + "/" + kind + "/" + namespace + "/" + name
}

// Bucket maps key to [0, Buckets) with xxhash64 (the hash the sharding ring
// of kubernetes-controller-sharding uses). It depends on the key only, so it
// is the same in every process and across restarts.
func Bucket(key string) int {
	return int(xxhash.Sum64String(key) % Buckets)
}

// ToCanary reports whether the object with key belongs to the canary at
// weight percent (0-100): exactly when Bucket(key) < weight*100.
//
// Properties (table- and property-tested): weight 0 assigns nothing, 100
// assigns everything, about weight % of keys are assigned (the hash is
// uniform), and it is monotone — raising the weight only moves objects from
// stable to canary, never back. A consistent-hash ring with one node per
// version (kubernetes-controller-sharding's Ring) cannot express a weight;
// a threshold on a fixed hash can, and keeps the ring's stability.
//
// It returns ErrInvalidWeight for a weight outside [0, 100].
func ToCanary(key string, weight int32) (bool, error) {
	if weight < 0 || weight > 100 {
		return false, fmt.Errorf("%w: %d (want 0-100)", ErrInvalidWeight, weight)
	}
	return Bucket(key) < int(weight)*Buckets/100, nil
}
