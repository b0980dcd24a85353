package controlplane

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/handover-dev/handover/internal/testenv"
)

// On a real kube-apiserver: the configuration is accepted; once the
// apiserver calls the hold, a create (as system:masters, which APF would
// have exempted) is held — the webhook has it and has not answered, so it
// cannot have been stored — and completes after Release; without a hold
// and after Uninstall writes pass at once.
func TestWriteHoldHoldsWritesOnRealAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a kube-apiserver")
	}
	rc := testenv.StartAPIServer(t)
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h, err := StartWriteHold("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = h.Close() }()
	// The preflight's check: reachable, and the configuration is gone
	// afterwards; a hold whose server is closed is reported unreachable.
	if err := h.Reachable(ctx, cs, rc, 30*time.Second); err != nil {
		t.Fatalf("reachable hold: %v", err)
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, WriteHoldWebhook, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("configuration after the reachability check: %v, want not found", err)
	}
	dead, err := StartWriteHold("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = dead.Close()
	if err := dead.Reachable(ctx, cs, rc, 2*time.Second); err == nil || !strings.Contains(err.Error(), "did not call the webhook") {
		t.Fatalf("closed hold: %v, want unreachable", err)
	}
	// Long enough that only Release can end the hold in this test.
	h.MaxHold = time.Minute
	h.Hold()
	if err := h.Install(ctx, cs); err != nil {
		t.Fatal(err)
	}
	if err := h.Install(ctx, cs); err != nil {
		t.Fatalf("second install (a resumed run) must replace: %v", err)
	}
	for !h.CheckSeen() {
		if err := SendHoldCheck(ctx, rc); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("the apiserver never called the write hold")
		case <-time.After(100 * time.Millisecond):
		}
	}
	create := func(name string) error {
		_, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		return err
	}
	done := make(chan error, 1)
	go func() { done <- create("held") }()
	for h.Held() == 0 {
		select {
		case err := <-done:
			t.Fatalf("create returned while the hold should have it: %v", err)
		case <-ctx.Done():
			t.Fatal("the create never reached the hold")
		case <-time.After(20 * time.Millisecond):
		}
	}
	select {
	case err := <-done:
		t.Fatalf("create returned before the release: %v", err)
	default:
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "held", metav1.GetOptions{}); err == nil {
		t.Fatal("the held create is stored before the release")
	}
	h.Release()
	if err := <-done; err != nil {
		t.Fatalf("held create after the release: %v", err)
	}
	held := h.Held()
	if err := create("not-held"); err != nil {
		t.Fatal(err)
	}
	if err := UninstallWriteHold(ctx, cs); err != nil {
		t.Fatal(err)
	}
	if err := UninstallWriteHold(ctx, cs); err != nil {
		t.Fatalf("uninstall twice: %v", err)
	}
	if err := create("after-uninstall"); err != nil {
		t.Fatal(err)
	}
	if h.Held() != held {
		t.Errorf("held %d after the release, want %d (nothing held without a hold)", h.Held(), held)
	}
	t.Logf("held %d requests", held)
}

// The configuration sends every write of every resource to the hold and
// never fails a request when the hold is gone.
func TestWriteHoldConfiguration(t *testing.T) {
	t.Parallel()
	h, err := StartWriteHold("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = h.Close() }()
	c := h.Configuration()
	if len(c.Webhooks) != 1 {
		t.Fatalf("%d webhooks, want 1", len(c.Webhooks))
	}
	w := c.Webhooks[0]
	got := fmt.Sprint(*w.FailurePolicy, " ", *w.SideEffects, " ", w.Rules[0].Operations, " ", w.Rules[0].Resources, " ", *w.TimeoutSeconds)
	if want := "Ignore None [CREATE UPDATE DELETE] [*/*] 10"; got != want {
		t.Errorf("webhook %s, want %s", got, want)
	}
	if len(w.ClientConfig.CABundle) == 0 || w.ClientConfig.URL == nil {
		t.Error("no caBundle or URL")
	}
	if DefaultMaxHold >= time.Duration(*w.TimeoutSeconds)*time.Second {
		t.Errorf("max hold %s not below the webhook timeout %ds", DefaultMaxHold, *w.TimeoutSeconds)
	}
}
