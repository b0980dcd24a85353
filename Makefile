# handover — build, test and demo targets. Every tool is pinned and installed
# into ./bin from the Go module proxy; nothing else is downloaded.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
BIN := $(CURDIR)/bin
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(BIN)/golangci-lint
CONTROLLER_GEN_VERSION := v0.20.1
CONTROLLER_GEN := $(BIN)/controller-gen
HELM_VERSION := v3.19.0
HELM := $(BIN)/helm
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/handover-dev/handover/internal/version.Version=$(VERSION) \
           -X github.com/handover-dev/handover/internal/version.Commit=$(COMMIT)
OUT ?= $(CURDIR)/out
FUZZTIME ?= 10s

.PHONY: all build test test-unit fuzz lint generate verify demo clean help
.PHONY: k8s-binaries sandbox-up sandbox-down

# Kubernetes test binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok), built from the Go module proxy by
# hack/k8s-binaries.sh into a cache outside the repo; the tests find them
# through HANDOVER_K8S_BIN (our harness) and KUBEBUILDER_ASSETS (envtest).
K8S_VERSION := v1.35.4
K8S_BIN ?= $(or $(HANDOVER_K8S_BIN),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/handover/k8s/$(K8S_VERSION))
K8S_TEST_ENV := HANDOVER_K8S_BIN=$(K8S_BIN) KUBEBUILDER_ASSETS=$(K8S_BIN)

all: build

help: ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## build bin/handover
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/handover ./cmd/handover

test-unit: ## fast tests: no Kubernetes binaries, slow tiers skipped (-short)
	$(GO) test -short -count=1 ./...

test: k8s-binaries $(HELM) ## every tier the CI runs: unit, integration, e2e, and a short fuzz run
	$(K8S_TEST_ENV) HELM=$(HELM) $(GO) test -count=1 -timeout 40m ./...
	$(MAKE) fuzz

k8s-binaries: ## build the Kubernetes test binaries into K8S_BIN (6-23 min cold on 2 cores, by load; no-op when the stamp matches)
	HANDOVER_K8S_BIN=$(K8S_BIN) GO=$(GO) hack/k8s-binaries.sh

# etcd's own benchmark tool (pinned in hack/etcd-benchmark/go.mod), the
# outside client of the etcd migration tests; its own cache dir.
ETCD_BENCHMARK ?= $(or $(HANDOVER_ETCD_BENCHMARK),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/handover/etcd-benchmark/v3.6.5/benchmark)
.PHONY: etcd-benchmark etcd-faults
etcd-benchmark: ## build etcd's benchmark tool (v3.6.5) into ETCD_BENCHMARK (~1 min)
	cd hack/etcd-benchmark && GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" $(GO) build -o $(ETCD_BENCHMARK) go.etcd.io/etcd/v3/tools/benchmark

etcd-faults: etcd-benchmark ## the etcd migration under etcd's benchmark, with the state-dir, kill and fault tests
	HANDOVER_ETCD_FAULTS=1 HANDOVER_ETCD_BENCHMARK=$(ETCD_BENCHMARK) $(GO) test -count=1 -timeout 30m -run 'TestFaults|TestMembershipFollowingClientSeesNoErrors|TestHelpFollowedKeepsData|TestKilledBetweenEveryStep' -v ./internal/cli/etcd/

sandbox-up: build k8s-binaries ## start a local kubelet-less cluster (handover sandbox up)
	$(BIN)/handover sandbox up --bin-dir $(K8S_BIN)

sandbox-down: build ## stop the local cluster (handover sandbox down)
	$(BIN)/handover sandbox down

fuzz: ## run each fuzz target for FUZZTIME (default 10s)
	$(GO) test ./internal/trust -run '^$$' -fuzz '^FuzzParsePEM$$' -fuzztime $(FUZZTIME)

$(GOLANGCI_LINT):
	GOBIN=$(BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

lint: $(GOLANGCI_LINT) ## golangci-lint (pinned, installed into ./bin)
	$(GOLANGCI_LINT) run ./...

$(HELM): # the chart test (deploy/) renders and dry-runs the chart with it
	GOBIN=$(BIN) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(CONTROLLER_GEN):
	GOBIN=$(BIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

generate: $(CONTROLLER_GEN) ## regenerate deepcopy, CRDs and RBAC (controller-gen, pinned)
	$(CONTROLLER_GEN) object paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=handover-manager paths=./internal/controller/... output:rbac:artifacts:config=config/rbac
	cp config/crd/bases/handover.dev_certificateauthorities.yaml deploy/manifests/01-crd-certificateauthorities.yaml
	cp config/crd/bases/handover.dev_certificateauthorities.yaml deploy/helm/handover/crds/certificateauthorities.yaml
	cp config/rbac/role.yaml deploy/manifests/02-clusterrole.yaml
	cp config/rbac/role.yaml deploy/helm/handover/files/role.yaml
	$(GO) generate ./...

verify: generate ## regenerate, then fail if the tree changed
	$(GO) mod tidy
	git diff --exit-code

demo: build ## the main job: run the demos on embedded defaults, reports in ./out
	@mkdir -p $(OUT)
	$(BIN)/handover demo rotate --compare --json $(OUT)/rotate.json --svg $(OUT)/rotate.svg
	$(BIN)/handover demo etcd --json $(OUT)/etcd.json --svg $(OUT)/etcd.svg
	@echo "reports: $(OUT)/rotate.json $(OUT)/rotate.svg $(OUT)/etcd.json $(OUT)/etcd.svg"

clean: ## remove build outputs
	rm -rf $(BIN) $(OUT)
