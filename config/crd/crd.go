// Package crd embeds the generated CustomResourceDefinitions that code must
// install itself (the canary demo's envtest apiserver).
package crd

import _ "embed"

// ControllerCanary is bases/handover.dev_controllercanaries.yaml.
//
//go:embed bases/handover.dev_controllercanaries.yaml
var ControllerCanary []byte
