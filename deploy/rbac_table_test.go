package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// permission is one (API group, resource, verb) granted in a namespace.
type permission struct{ group, resource, verb, scope string }

func (p permission) String() string {
	return p.group + " " + p.resource + " " + p.verb + " (" + p.scope + ")"
}

// rbacTable parses the table between <!-- rbac-table:begin --> and
// <!-- rbac-table:end --> in docs/operator.md: columns API group, resource(s),
// verbs, scope ("cluster" or a namespace).
func rbacTable(t *testing.T) map[permission]bool {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "docs", "operator.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	begin, end := strings.Index(doc, "<!-- rbac-table:begin -->"), strings.Index(doc, "<!-- rbac-table:end -->")
	if begin < 0 || end < begin {
		t.Fatal("docs/operator.md has no rbac-table markers")
	}
	out := map[permission]bool{}
	for _, line := range strings.Split(doc[begin:end], "\n")[3:] { // marker, header, separator
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) < 4 {
			continue
		}
		group := strings.TrimSpace(cells[0])
		if group == "core" {
			group = ""
		}
		scope := strings.TrimSpace(cells[3])
		for _, res := range strings.Split(cells[1], ",") {
			for _, verb := range strings.Split(cells[2], ",") {
				out[permission{group, strings.TrimSpace(res), strings.TrimSpace(verb), scope}] = true
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("the RBAC table in docs/operator.md is empty")
	}
	return out
}

// rulesOf returns what user (with the ServiceAccount groups of ns) may do in
// namespace in, by a SelfSubjectRulesReview as that user (what `kubectl auth
// can-i --list` shows), resource rules only.
func rulesOf(ctx context.Context, t *testing.T, cfg *rest.Config, saNS, sa, in string) map[permission]bool {
	t.Helper()
	ic := rest.CopyConfig(cfg)
	ic.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + saNS + ":" + sa,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + saNS, "system:authenticated"}}
	c, err := client.New(ic, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	review := &authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: in}}
	if err := c.Create(ctx, review); err != nil {
		t.Fatalf("SelfSubjectRulesReview as %s/%s in %s: %v", saNS, sa, in, err)
	}
	if review.Status.Incomplete {
		t.Fatalf("SelfSubjectRulesReview incomplete: %s", review.Status.EvaluationError)
	}
	out := map[permission]bool{}
	for _, r := range review.Status.ResourceRules {
		if len(r.ResourceNames) > 0 {
			continue // name-restricted rules (none in handover's RBAC)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out[permission{g, res, v, ""}] = true
				}
			}
		}
	}
	return out
}

// checkRBACTable compares the documented table with what the controller's
// ServiceAccount ns/sa is granted, both ways: in namespace "apps" (stands
// for any namespace) it must have exactly the "cluster" rows, in ns the
// "cluster" rows plus the rows scoped to ns. Rules every ServiceAccount has
// (a fresh one without bindings: discovery, self reviews) are not the
// controller's grant and are ignored when granted but not documented.
func checkRBACTable(ctx context.Context, t *testing.T, c client.Client, cfg *rest.Config, ns, sa string) {
	t.Helper()
	table := rbacTable(t)
	if err := c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody", Namespace: ns}}); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{"apps", ns} {
		granted := rulesOf(ctx, t, cfg, ns, sa, in)
		baseline := rulesOf(ctx, t, cfg, ns, "nobody", in)
		var missing, undocumented []string
		for p := range table {
			if p.scope != "cluster" && p.scope != in {
				continue
			}
			q := p
			q.scope = ""
			if !granted[q] && !granted[permission{p.group, p.resource, "*", ""}] {
				missing = append(missing, p.String())
			}
		}
		for p := range granted {
			if baseline[p] {
				continue
			}
			if !table[permission{p.group, p.resource, p.verb, "cluster"}] && !table[permission{p.group, p.resource, p.verb, in}] {
				undocumented = append(undocumented, p.String()+" in "+in)
			}
		}
		sort.Strings(missing)
		sort.Strings(undocumented)
		if len(missing) > 0 {
			t.Errorf("in namespace %s the documented permissions are not granted to %s/%s: %s", in, ns, sa, strings.Join(missing, "; "))
		}
		if len(undocumented) > 0 {
			t.Errorf("%s/%s is granted permissions docs/operator.md does not list: %s", ns, sa, strings.Join(undocumented, "; "))
		}
	}
}
