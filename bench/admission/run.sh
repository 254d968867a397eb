#!/usr/bin/env bash
# Admission webhook latency: warm, cold and an 8-container pod at a fixed
# rate against the real `pipeguard webhook` (TLS, loopback) and a registry
# process; cosign verify-attestation on the same images as the yardstick.
#   bench/admission/run.sh [RATE] [DURATION]      (default 500 30s)
# Needs: go; cosign v3.1.3 on PATH for the peer figures (/tmp/peers/bin).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/tmp/peers/bin:$PATH"
PIPEGUARD_BENCH=1 BENCH_RATE="${1:-500}" BENCH_DURATION="${2:-30s}" \
  go test ./bench/admission -run TestAdmissionLatency -v -count=1 -timeout 30m 2>&1 |
  grep -E 'rate=|peer:|load average|^(ok|FAIL|---)'
