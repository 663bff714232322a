#!/usr/bin/env bash
# Runs every fuzz target of the module for a fixed time each (FUZZTIME, default 10s). Each run
# is bounded in memory (FUZZ_MEMORY_KB of address space per process, default 3 GiB), so an input
# that makes a parser allocate without bound fails the run like a panic does. A failing input
# is written under the package's testdata/fuzz/ and replayed by every later 'go test'.
#
# Go fuzzing minimises each newly interesting input (default: up to 60s, reported as no
# progress); -fuzzminimizetime keeps that short so the time goes to fuzzing.
#
# The fuzzer runs on Go 1.27 (FUZZ_TOOLCHAIN), which the go command takes from the module proxy
# once per machine (76 MB, seconds). Go 1.26's fuzz coordinator can fail a target that found
# nothing, "context deadline exceeded" at the -fuzztime boundary, when the timer's parent
# context is cancelled before its child (go.dev/issue/75804; fixed in 1.27's internal/fuzz).
# It cost us a red CI with no failing input written. The module itself stays on 1.26.
#
# Packages are listed and built with the tag 'dev', as 'make test' builds them (the development
# build of cmd/ragmigrate, with the rig).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
export GOTOOLCHAIN="${FUZZ_TOOLCHAIN:-go1.27.3}"

fuzztime="${FUZZTIME:-10s}"
memory_kb="${FUZZ_MEMORY_KB:-3145728}"
status=0
for pkg in $(go list -tags dev ./...); do
	targets=$(go test -tags dev -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
	for target in $targets; do
		echo "fuzz $pkg $target for $fuzztime"
		if ! (ulimit -v "$memory_kb" && go test -tags dev "$pkg" -run '^$' -fuzz "^${target}\$" \
			-fuzztime "$fuzztime" -fuzzminimizetime 3s 2>&1 | tail -n 20); then
			echo "FAIL fuzz $pkg $target" >&2
			status=1
		fi
	done
done
exit $status
