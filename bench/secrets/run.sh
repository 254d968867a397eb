#!/usr/bin/env bash
# Secret-scan benchmark: pipeguard vs gitleaks v8.30.1 (stock and built
# with -tags gore2regex) on the same repository with the same rules, in
# one run. Reports wall time, CPU time (user+sys), peak RSS, the findings
# diff, and pipeguard's time as a ratio of `git log -p` itself.
#
# usage: bench/secrets/run.sh REPO [CONFIG]
#   REPO    a git repository (we measure on etcd-io/etcd at
#           c34dc7ee0048fd2bcc44d50beff002e5e8069b69, see docs/BENCHMARKS.md)
#   CONFIG  gitleaks-format rules (default: the gitleaks v8.30.1 default
#           config from the shared test data)
# env: PIPEGUARD (binary, default: go build ./cmd/pipeguard),
#      GITLEAKS (default /tmp/peers/bin/gitleaks),
#      GITLEAKS_RE2 (default /tmp/peers/bin-re2/gitleaks),
#      RUNS (default 1; the best run counts), STOCK_RUNS (runs of stock
#      gitleaks, default RUNS: it is slow), MODES (default "git dir")
set -euo pipefail

repo=$(cd "${1:?usage: run.sh REPO [CONFIG]}" && pwd)
here=$(cd "$(dirname "$0")/../.." && pwd)
config=${2:-$here/../shared/testdata/secrets/gitleaks/config/gitleaks.toml}
config=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")
gitleaks=${GITLEAKS:-/tmp/peers/bin/gitleaks}
gitleaks_re2=${GITLEAKS_RE2:-/tmp/peers/bin-re2/gitleaks}
runs=${RUNS:-1}
stock_runs=${STOCK_RUNS:-$runs}
modes=${MODES:-git dir}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if [[ -z "${PIPEGUARD:-}" ]]; then
	(cd "$here" && go build -o "$out/pipeguard" ./cmd/pipeguard)
	PIPEGUARD=$out/pipeguard
fi
export PIPEGUARD_HOME=$out/home PIPEGUARD_PASSWORD=bench
for t in "$gitleaks" "$gitleaks_re2"; do
	[[ -x $t ]] || { echo "missing $t: see docs/BENCHMARKS.md for how to build it" >&2; exit 2; }
done
[[ -x /usr/bin/time ]] || { echo "need GNU time (apt-get install time)" >&2; exit 2; }

# measure NAME CMD...: run CMD, record wall, cpu and peak RSS.
measure() {
	local name=$1; shift
	local i n=$runs
	[[ $name == gitleaks-git || $name == gitleaks-dir ]] && n=$stock_runs
	for ((i = 1; i <= n; i++)); do
		/usr/bin/time -f "%e %U %S %M" -o "$out/$name.time" "$@" >"$out/$name.stdout" 2>"$out/$name.stderr" || true
		read -r wall user sys rss < <(tail -n 1 "$out/$name.time")
		printf "%-22s wall %7.2fs  cpu %7.2fs  peak RSS %7.1f MB\n" "$name" "$wall" "$(echo "$user + $sys" | bc)" "$(echo "scale=1; $rss / 1024" | bc)"
		echo "$name $wall $(echo "$user + $sys" | bc) $rss" >>"$out/results"
	done
}

echo "repo: $repo ($(git -C "$repo" rev-list --all --count) commits), rules: $config"
echo "machine: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ " $modes " == *" git "* ]]; then
	echo "== full history (all refs)"
	measure "git-log-p" sh -c "git -C '$repo' log -p -U0 --full-history --all --diff-filter=tuxdb >/dev/null"
	measure "pipeguard-git" "$PIPEGUARD" secrets scan --git --no-store --config "$config" -o json -r "$out/pg-git.json" "$repo"
	measure "gitleaks-git" "$gitleaks" git --no-banner --redact -c "$config" -f json -r "$out/gl-git.json" "$repo"
	measure "gitleaks-re2-git" "$gitleaks_re2" git --no-banner --redact -c "$config" -f json -r "$out/gl2-git.json" "$repo"
fi
if [[ " $modes " == *" dir "* ]]; then
	echo "== directory (working tree)"
	measure "pipeguard-dir" "$PIPEGUARD" secrets scan --no-store --config "$config" -o json -r "$out/pg-dir.json" "$repo"
	measure "gitleaks-dir" "$gitleaks" dir --no-banner --redact -c "$config" -f json -r "$out/gl-dir.json" "$repo"
	measure "gitleaks-re2-dir" "$gitleaks_re2" dir --no-banner --redact -c "$config" -f json -r "$out/gl2-dir.json" "$repo"
fi

python3 - "$out" "$modes" "$repo" <<'EOF'
import json, sys, os
out, modes, repo = sys.argv[1], sys.argv[2].split(), sys.argv[3]
res = {}
for line in open(os.path.join(out, "results")):
    name, wall, cpu, rss = line.split()
    res.setdefault(name, []).append((float(wall), float(cpu), int(rss)))
best = {k: min(v) for k, v in res.items()}
def ratio(a, b):
    if a in best and b in best and best[a][0] > 0:
        return best[b][0] / best[a][0]
    return float("nan")
def load(p, pg):
    p = os.path.join(out, p)
    if not os.path.exists(p):
        return set()
    d = json.load(open(p))
    if pg:
        return {(f.get("commit", ""), f["path"], f["line"], f["rule"]) for f in d["findings"]}
    rel = lambda p: p[len(repo) + 1:] if p.startswith(repo + "/") else p
    return {(f.get("Commit", ""), rel(f["File"]), f["StartLine"], f["RuleID"]) for f in d}
for m in modes:
    pg, gl, gl2 = load(f"pg-{m}.json", True), load(f"gl-{m}.json", False), load(f"gl2-{m}.json", False)
    print(f"== {m}: findings pipeguard {len(pg)}, gitleaks {len(gl)}, gitleaks-re2 {len(gl2)}")
    both = pg & gl
    print(f"   common {len(both)}; only pipeguard {len(pg - gl)}; only gitleaks {len(gl - pg)}")
    for x in sorted(gl - pg)[:10]:
        print("   only gitleaks:", x)
    for x in sorted(pg - gl)[:10]:
        print("   only pipeguard:", x)
    print(f"   speed-up vs gitleaks {ratio(f'pipeguard-{m}', f'gitleaks-{m}'):.2f}x, vs gitleaks-re2 {ratio(f'pipeguard-{m}', f'gitleaks-re2-{m}'):.2f}x")
if "git" in modes:
    print(f"== pipeguard-git / git-log-p wall ratio: {1/ratio('pipeguard-git', 'git-log-p'):.2f}")
EOF
