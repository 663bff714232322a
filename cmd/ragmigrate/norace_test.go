//go:build !race

package main

// raceEnabled: these tests run without the race detector (see race_test.go).
const raceEnabled = false
