package certificateauthority_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// TestPlantedInvalidDurationStopsNothing: the API rejects duration "abc",
// but an object stored before that rule existed is written straight to
// the apiserver's etcd. A fresh controller still lists and reconciles:
// the planted object gets Degraded InvalidSpec naming
// spec.source.generate.duration, and another CertificateAuthority
// publishes and completes a manual rotation meanwhile.
func TestPlantedInvalidDurationStopsNothing(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e.namespace(t, ns)
	e.deployment(t, ns, "app", map[string]string{"app": "app"})

	rejected := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "rejected", Namespace: ns},
		Spec:       v1alpha1.CertificateAuthoritySpec{Source: v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}}},
	}
	rejected.Spec.Source.Generate.Duration = &v1alpha1.Duration{}
	if err := json.Unmarshal([]byte(`"abc"`), rejected.Spec.Source.Generate.Duration); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Create(ctx, rejected); err == nil || !strings.Contains(err.Error(), "spec.source.generate.duration") {
		t.Fatalf("create with duration \"abc\": got %v, want a rejection naming spec.source.generate.duration", err)
	}

	good := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "good", Namespace: ns},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Source:             v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
			TrustBundles:       []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetSecret, Name: "good-bundle"}},
			Consumers:          []v1alpha1.Consumer{{Name: "app", Kind: "Deployment", WorkloadName: "app", Reload: v1alpha1.ReloadHot}},
			PropagationTimeout: v1alpha1.NewDuration(time.Second),
			GracePeriod:        v1alpha1.NewDuration(0),
		},
	}
	if err := e.c.Create(ctx, good); err != nil {
		t.Fatal(err)
	}
	plantInvalidDuration(ctx, t, e, "good", "planted")
	// The typed list decodes (v1alpha1.Duration is lenient).
	list := &v1alpha1.CertificateAuthorityList{}
	if err := e.c.List(ctx, list); err != nil || len(list.Items) != 2 {
		t.Fatalf("list after planting: %d items, %v", len(list.Items), err)
	}

	e.startManager(t, nil, false)
	if _, d := e.waitDegraded(t, ns, "planted", "InvalidSpec", 60*time.Second); !strings.HasPrefix(d.Message, `spec.source.generate.duration: Invalid value: "abc"`) {
		t.Errorf("Degraded message %q does not name spec.source.generate.duration and its value", d.Message)
	}
	ca := e.waitFor(t, ns, "good", 60*time.Second, "first publish", func(ca *v1alpha1.CertificateAuthority) bool {
		return ready(ca) && ca.Status.Active != nil
	})
	e.annotate(t, ns, "good", v1alpha1.AnnotationRotate, "1")
	e.waitFor(t, ns, "good", 90*time.Second, "manual rotation", rotatedFrom(ca.Status.Active.Fingerprint))
	// The planted object's stored text survives the controller's status writes.
	got := e.get(t, ns, "planted")
	if s := got.Spec.Source.Generate.Duration.Invalid(); s != "abc" {
		t.Errorf("planted duration reads %q, want the stored \"abc\"", s)
	}
}

// plantInvalidDuration copies the stored JSON of CertificateAuthority
// ns/from to ns/name in etcd with spec.source.generate.duration "abc",
// bypassing the apiserver's validation.
func plantInvalidDuration(ctx context.Context, t *testing.T, e *env, from, name string) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.etcd.String()}, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Close() }()
	resp, err := cli.Get(ctx, "/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	suffix := "/handover.dev/certificateauthorities/" + ns + "/" + from
	var key string
	for _, kv := range resp.Kvs {
		if strings.HasSuffix(string(kv.Key), suffix) {
			key = string(kv.Key)
		}
	}
	if key == "" {
		t.Fatalf("no etcd key ends in %s", suffix)
	}
	stored, err := cli.Get(ctx, key)
	if err != nil || len(stored.Kvs) != 1 {
		t.Fatalf("get %s: %v", key, err)
	}
	var obj map[string]any
	if err := json.Unmarshal(stored.Kvs[0].Value, &obj); err != nil {
		t.Fatalf("stored object is not JSON: %v", err)
	}
	meta := obj["metadata"].(map[string]any)
	meta["name"], meta["uid"] = name, string(uuid.NewUUID())
	delete(meta, "resourceVersion")
	delete(meta, "managedFields")
	spec := obj["spec"].(map[string]any)
	spec["source"] = map[string]any{"generate": map[string]any{"duration": "abc", "renewBefore": "720h", "algorithm": "ECDSAP256"}}
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, strings.TrimSuffix(key, from)+name, string(raw)); err != nil {
		t.Fatal(err)
	}
}
