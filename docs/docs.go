// Package docs holds the documents the node serves: the OpenAPI 3 description
// of its HTTP API, embedded so the one binary carries it.
package docs

import _ "embed"

// OpenAPI is openapi.json, served at /openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte
