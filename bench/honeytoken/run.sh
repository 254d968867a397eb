#!/bin/sh
# Load test of the honeytoken HTTP listener on loopback (see
# docs/BENCHMARKS.md). Bounded: stops by itself after DURATION.
set -eu
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-60s}
RATE=${RATE:-6000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/pipeguard" ./cmd/pipeguard
go run ./bench/honeytoken -bin "$out/pipeguard" -duration "$DURATION" -rate "$RATE" -sources 250 -workers 128 -tokens 20 -window 10s -compare "${COMPARE:-15s}"
