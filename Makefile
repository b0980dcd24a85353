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
.PHONY: k8s-binaries sandbox-up sandbox-down node-binaries node-deps node-images image test-realnode-default-timing

# Kubernetes test binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok), built from the Go module proxy by
# hack/k8s-binaries.sh into a cache outside the repo; the tests find them
# through HANDOVER_K8S_BIN (our harness) and KUBEBUILDER_ASSETS (envtest).
K8S_VERSION := v1.35.4
K8S_BIN ?= $(or $(HANDOVER_K8S_BIN),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/handover/k8s/$(K8S_VERSION))
# The real kubelet node (hack/realnode.sh): kubelet and pause, built by
# hack/node-binaries.sh into their own cache directory.
NODE_BIN ?= $(or $(HANDOVER_NODE_BIN),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/handover/node/$(K8S_VERSION))
NODE_IMAGES := $(OUT)/node-images
# etcd's own benchmark tool (pinned in hack/etcd-benchmark/go.mod), the
# outside client of the etcd migration tests; its own cache dir.
ETCD_BENCHMARK ?= $(or $(HANDOVER_ETCD_BENCHMARK),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/handover/etcd-benchmark/v3.6.5/benchmark)
# cert-manager's controllers and CRDs (hack/cert-manager-binaries.sh), for the
# tests that run the real cert-manager (issue 16).
CERT_MANAGER_VERSION := v1.21.2
CERT_MANAGER_BIN ?= $(or $(HANDOVER_CERT_MANAGER_BIN),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/handover/cert-manager/$(CERT_MANAGER_VERSION))
K8S_TEST_ENV := HANDOVER_ETCD_BENCHMARK=$(ETCD_BENCHMARK) HANDOVER_K8S_BIN=$(K8S_BIN) KUBEBUILDER_ASSETS=$(K8S_BIN) HANDOVER_NODE_BIN=$(NODE_BIN) HANDOVER_REALNODE_IMAGES=$(NODE_IMAGES) HANDOVER_CERT_MANAGER_BIN=$(CERT_MANAGER_BIN)

all: build

help: ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## build bin/handover and bin/handover-controller (the operator's binary: the controller command only)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/handover ./cmd/handover
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/handover-controller ./cmd/handover-controller

test-unit: ## fast tests: no Kubernetes binaries, slow tiers skipped (-short)
	$(GO) test -short -count=1 ./...

test: node-deps k8s-binaries node-binaries node-images etcd-benchmark cert-manager-binaries $(HELM) ## every tier the CI runs: unit, integration, e2e, and a short fuzz run
	$(K8S_TEST_ENV) HELM=$(HELM) $(GO) test -count=1 -timeout 40m ./...
	$(MAKE) fuzz

k8s-binaries: ## build the Kubernetes test binaries into K8S_BIN (6-23 min cold on 2 cores, by load; no-op when the stamp matches)
	HANDOVER_K8S_BIN=$(K8S_BIN) GO=$(GO) hack/k8s-binaries.sh

.PHONY: cert-manager-binaries
cert-manager-binaries: ## build cert-manager's controllers (v1.21.2) and copy its CRDs into CERT_MANAGER_BIN (~4 min CPU, 1.1 GB RSS cold; no-op when the stamp matches)
	HANDOVER_CERT_MANAGER_BIN=$(CERT_MANAGER_BIN) GO=$(GO) hack/cert-manager-binaries.sh

.PHONY: etcd-benchmark etcd-faults
etcd-benchmark: ## build etcd's benchmark tool (v3.6.5) into ETCD_BENCHMARK (~1 min)
	cd hack/etcd-benchmark && GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" $(GO) build -o $(ETCD_BENCHMARK) go.etcd.io/etcd/v3/tools/benchmark

etcd-faults: etcd-benchmark ## the etcd migration under etcd's benchmark, with the state-dir, kill and fault tests
	HANDOVER_ETCD_FAULTS=1 HANDOVER_ETCD_BENCHMARK=$(ETCD_BENCHMARK) $(GO) test -count=1 -timeout 30m -run 'TestFaults|TestMembershipFollowingClientSeesNoErrors|TestHelpFollowedKeepsData|TestKilledBetweenEveryStep' -v ./internal/cli/etcd/


.PHONY: bench-scale
bench-scale: k8s-binaries ## the controller's scale benchmark (1,000 CAs, 200 namespaces, 10,000 Secrets, 100 concurrent rotations; docs/scale.md); JSON report in $(OUT)/scale.json
	mkdir -p $(OUT)
	$(K8S_TEST_ENV) HANDOVER_SCALE_REPORT=$(OUT)/scale.json $(GO) test -count=1 -run '^$$' -bench BenchmarkScale -benchtime 1x -timeout 60m ./test/scale/

node-binaries: ## build kubelet and pause for the real node into NODE_BIN (about 3-11 min cold, by load; no-op when the stamp matches)
	HANDOVER_NODE_BIN=$(NODE_BIN) GO=$(GO) hack/node-binaries.sh

node-deps: ## install the real node's Debian packages when one is missing (apt-get update + install, root; no-op otherwise): containerd, runc, CNI plugins, iptables, conntrack, gcc
	hack/realnode.sh deps

test-realnode-default-timing: k8s-binaries node-binaries node-images ## optional long run (root): the real-pod rotation with the kubelet's default syncFrequency, 1m
	$(K8S_TEST_ENV) HANDOVER_REALNODE_SYNC_FREQUENCY=1m $(GO) test -count=1 -timeout 60m -v -run '^TestRealNodeRotationE2E$$' ./test/e2e/

node-images: node-binaries ## the real node's OCI archives (handover, pause, nginx) into $(OUT)/node-images, imported by the real-node tests
	HANDOVER_NODE_BIN=$(NODE_BIN) hack/realnode.sh images $(NODE_IMAGES)

image: ## controller image ghcr.io/handover-dev/handover:0.1.0 as an OCI archive, $(OUT)/handover.tar (no registry; `ctr images import` it)
	hack/realnode.sh images $(OUT) handover

sandbox-up: build k8s-binaries ## start a local kubelet-less cluster (handover sandbox up; REAL_NODE=1 adds a real kubelet node, root)
	$(BIN)/handover sandbox up --bin-dir $(K8S_BIN) $(if $(REAL_NODE),--real-node)

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
	$(CONTROLLER_GEN) object crd paths=./internal/canary/sample/... output:crd:artifacts:config=internal/canary/sample/crd
	$(CONTROLLER_GEN) rbac:roleName=handover-manager paths=./internal/controller/... output:rbac:artifacts:config=config/rbac
	cp config/crd/bases/handover.dev_certificateauthorities.yaml deploy/manifests/01-crd-certificateauthorities.yaml
	cp config/crd/bases/handover.dev_certificateauthorities.yaml deploy/helm/handover/crds/certificateauthorities.yaml
	cp config/crd/bases/handover.dev_clustercertificateauthorities.yaml deploy/manifests/01-crd-clustercertificateauthorities.yaml
	cp config/crd/bases/handover.dev_clustercertificateauthorities.yaml deploy/helm/handover/crds/clustercertificateauthorities.yaml
	cp config/crd/bases/handover.dev_controllercanaries.yaml deploy/manifests/01-crd-controllercanaries.yaml
	cp config/crd/bases/handover.dev_controllercanaries.yaml deploy/helm/handover/crds/controllercanaries.yaml
	cp config/canary/requester-policy.yaml deploy/manifests/06-canary-requester-policy.yaml
	cp config/canary/requester-policy.yaml deploy/helm/handover/files/canary-requester-policy.yaml
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
	@if [[ ! -x "$(K8S_BIN)/kube-apiserver" || ! -x "$(K8S_BIN)/etcd" || ! -x "$(K8S_BIN)/kubectl" ]]; then \
	  echo "demo canary and demo controlplane need etcd, kube-apiserver and kubectl in $(K8S_BIN); building them now (make k8s-binaries: 6-23 min cold on 2 cores)"; \
	  $(MAKE) --no-print-directory k8s-binaries; fi
	$(BIN)/handover demo canary --bin-dir $(K8S_BIN) --json $(OUT)/canary.json --svg $(OUT)/canary.svg
	$(BIN)/handover demo controlplane --bin-dir $(K8S_BIN) --json $(OUT)/controlplane.json --svg $(OUT)/controlplane.svg
	@echo "reports: $(OUT)/rotate.json $(OUT)/rotate.svg $(OUT)/etcd.json $(OUT)/etcd.svg $(OUT)/canary.json $(OUT)/canary.svg $(OUT)/controlplane.json $(OUT)/controlplane.svg"

clean: ## remove build outputs
	rm -rf $(BIN) $(OUT)
