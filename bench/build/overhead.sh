#!/bin/sh
# Fixed cost of `pipeguard build` around a step that does nothing: fresh
# clone of this repository, toolchain hashing, sandbox set-up and tear-down,
# output hashing, signing. Prints each run and the median, in seconds.
#
#   sh bench/build/overhead.sh [RUNS]     # default 9
set -eu
RUNS=${1:-9}
repo=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q --no-hardlinks "$repo" "$work/src"
go build -o "$work/pipeguard" "$repo/cmd/pipeguard"
export PIPEGUARD_HOME="$work/home"
"$work/pipeguard" init --no-password 2>/dev/null
i=0
while [ "$i" -lt "$RUNS" ]; do
	t0=$(date +%s.%N)
	"$work/pipeguard" build --source "$work/src" --hermetic --artifact out/a --artifacts-dir "$work/d" \
		-- sh -c 'mkdir out; echo a > out/a' >/dev/null 2>&1
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc
	i=$((i + 1))
done | sort -n | awk '{ a[NR] = $1; print "run " NR ": " $1 "s (sorted)" } END { print "median " a[int((NR + 1) / 2)] "s" }'
