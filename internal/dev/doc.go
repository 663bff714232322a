// Package dev is the root of the development rig: everything ragmigrate needs to run and test
// itself without AWS, and nothing an operator's migration runs on. Its packages are
//
//	stack       the local stack's processes (PostgreSQL ×2, dynalite, S3, Bedrock, web)
//	seed        a realistic Bedrock Chat v0 deployment written onto the stack
//	corpus      the seed's documents in all eight upload types, and its web site
//	bedrocksim  the Bedrock contract server, a test double of InvokeModel
//	inventory   a deployment read back and counted ('ragmigrate dev summary')
//	stacktest   test helpers: a fresh database, table and bucket on the running stack
//
// Only the development build links them: cmd/ragmigrate's dev command files carry the build
// tag 'dev' (make build, make test), and the operator's build (go build ./cmd/ragmigrate, make
// build-release) carries neither these packages nor the servers they embed (gofakes3, bbolt).
// TestOperatorBuildHasNoRig checks it. Production packages never import from here; their tests
// may.
package dev
