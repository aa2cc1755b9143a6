//go:build tools

// Package h2spec pins the HTTP/2 conformance suite that test/h2spec_test.go
// runs: h2spec has no go.mod of its own, so `go install …@v2.2.1` would
// take the newest of its dependencies on each fresh machine; built from
// this module, it gets the versions in go.sum.
package h2spec

import _ "github.com/summerwind/h2spec/cmd/h2spec"
