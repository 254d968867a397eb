#!/usr/bin/env bash
# Verification speed, pipeguard beside cosign on the same input in one run.
#
#   bench/verify/run.sh [RUNS]          (needs cosign v3.1.3 on PATH)
#
# 1. one attestation bundle: `pipeguard verify-bundle` vs
#    `cosign verify-blob-attestation` (both: key-based, offline, the same
#    bundle and artifact), wall time per process, median of RUNS;
# 2. a policy over 50 attestations: one `pipeguard verify` vs the 50
#    `cosign verify-blob-attestation` calls a cosign user needs (cosign has
#    no policy over several attestations).
# It also prints the in-process Go benchmarks (go test -bench).
set -euo pipefail
runs=${1:-15}
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v cosign >/dev/null || { echo "cosign not on PATH (go install github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3)" >&2; exit 2; }
(cd "$here" && go build -o "$work/pipeguard" ./cmd/pipeguard)
pg="$work/pipeguard"
export PIPEGUARD_HOME="$work/home" PIPEGUARD_PASSWORD=bench COSIGN_PASSWORD=bench
"$pg" init >/dev/null 2>&1
"$pg" key public > "$work/key.pub"
cp "$PIPEGUARD_HOME/keys/signing.key" "$work/key.key"
head -c 1048576 /dev/urandom > "$work/artifact"
cat > "$work/prov.json" <<'JSON'
{"buildDefinition":{"buildType":"https://pipeguard.dev/buildtypes/sandbox/v1","externalParameters":{"source":{"uri":"git+https://github.com/acme/app","ref":"refs/heads/main"}},"internalParameters":{"slsaBuildLevel":3}},
 "runDetails":{"builder":{"id":"https://pipeguard.dev/builders/local/v1"},"metadata":{"finishedOn":"2026-11-28T00:00:00Z"}}}
JSON
echo '{"result":"pass"}' > "$work/check.json"
"$pg" attest --type https://slsa.dev/provenance/v1 --predicate "$work/prov.json" --bundle "$work/b0.json" "$work/artifact" 2>/dev/null
bundles=(--bundle "$work/b0.json")
reqs=""
for i in $(seq 1 49); do
  t=$(printf 'https://pipeguard.dev/attestations/check-%02d/v1' "$i")
  "$pg" attest --type "$t" --predicate "$work/check.json" --bundle "$work/b$i.json" "$work/artifact" 2>/dev/null
  bundles+=(--bundle "$work/b$i.json")
  reqs+="    - type: $t"$'\n'
done
"$pg" policy init --trust-key "$work/key.pub" --builder-id https://pipeguard.dev/builders/local/v1 --source github.com/acme/app > "$work/policy.yaml"
python3 - "$work/policy.yaml" "$reqs" <<'PY'
import sys
p, reqs = sys.argv[1], sys.argv[2]
s = open(p).read().replace('    - type: "https://slsa.dev/provenance/v1"\n', '    - type: "https://slsa.dev/provenance/v1"\n' + reqs, 1)
s = s.replace('      slsaBuildLevel: 3\n', '      slsaBuildLevel: 3\n', 1)
open(p, 'w').write(s)
PY

# median wall-clock milliseconds of RUNS executions of a command
median_ms() {
  local t=()
  for _ in $(seq 1 "$runs"); do
    local s e
    s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N)
    t+=($(( (e - s) / 1000 )))
  done
  printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]/1000}'
}
cosign_one() { cosign verify-blob-attestation --key "$work/key.pub" --bundle "$1" --type "$2" --insecure-ignore-tlog "$work/artifact"; }
cosign_fifty() {
  cosign_one "$work/b0.json" https://slsa.dev/provenance/v1 || return 1
  for i in $(seq 1 49); do cosign_one "$work/b$i.json" "$(printf 'https://pipeguard.dev/attestations/check-%02d/v1' "$i")" || return 1; done
}
# Both must accept before being timed.
"$pg" verify-bundle --bundle "$work/b0.json" --key "$work/key.pub" "$work/artifact" 2>/dev/null
cosign_one "$work/b0.json" https://slsa.dev/provenance/v1 >/dev/null 2>&1
"$pg" verify "$work/artifact" --policy "$work/policy.yaml" "${bundles[@]}" >/dev/null
cosign_fifty >/dev/null 2>&1

pg1=$(median_ms "$pg" verify-bundle --bundle "$work/b0.json" --key "$work/key.pub" "$work/artifact")
cs1=$(median_ms cosign_one "$work/b0.json" https://slsa.dev/provenance/v1)
pg50=$(median_ms "$pg" verify "$work/artifact" --policy "$work/policy.yaml" "${bundles[@]}")
old=$runs; runs=$(( runs < 5 ? runs : 5 ))
cs50=$(median_ms cosign_fifty)
runs=$old
echo "machine: $(nproc) cores, $(cosign version 2>/dev/null | awk '/GitVersion/ {print "cosign " $2}'), $(go version | awk '{print $3}')"
printf '%-44s %10s %10s %8s\n' "case (wall time per run, median)" pipeguard cosign "cosign/pipeguard"
printf '%-44s %8sms %8sms %7.1fx\n' "one attestation bundle (1 MiB artifact)" "$pg1" "$cs1" "$(echo "$cs1 / $pg1" | bc -l)"
printf '%-44s %8sms %8sms %7.1fx\n' "policy over 50 attestations" "$pg50" "$cs50" "$(echo "$cs50 / $pg50" | bc -l)"
echo
(cd "$here" && go test ./internal/verify -run '^$' -bench 'BenchmarkVerifyBundle|BenchmarkPolicy50' -benchtime 2s | grep -E '^Benchmark')
