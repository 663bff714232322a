//go:build race

package main

// raceEnabled: these tests run under the race detector, so the binary they run is built with it
// too (see TestMain).
const raceEnabled = true
