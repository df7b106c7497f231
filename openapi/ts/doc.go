// Package ts holds the TypeScript SDK of the settle API, an npm package in
// this folder (src/, tests/, package.json), and the Go test that runs its
// node tests against a real `settle serve`, so that `go test ./...` covers
// it. It has no Go API.
package ts
