#!/bin/sh
# Wall time of building pipeguard itself inside the sandbox (`pipeguard build
# --hermetic`) versus the same `go build` outside it, both with a cold Go
# build cache and the same (read-only, warm) module cache. Prints one line
# per build and the ratio inside/outside per round; goal <= 1.05.
#
#   sh bench/build/run.sh            # one round
#   ROUNDS=3 sh bench/build/run.sh   # rounds alternate which side goes first
#   FIRST=inside sh bench/build/run.sh   # the sandboxed build goes first in round 1
set -eu
ROUNDS=${ROUNDS:-1}
FIRST=${FIRST:-outside}
repo=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

git clone -q --no-hardlinks "$repo" "$work/src"
go build -o "$work/pipeguard" "$repo/cmd/pipeguard"
modcache=$(go env GOMODCACHE)
# Every module must already be in the cache: neither side may download.
(cd "$work/src" && GOFLAGS=-mod=readonly GOPROXY=off go list -deps ./cmd/pipeguard >/dev/null)
export PIPEGUARD_HOME="$work/home"
"$work/pipeguard" init --no-password 2>/dev/null

now() { date +%s.%N; }

outside() {
	rm -rf "$work/gocache"
	mkdir "$work/gocache"
	t0=$(now)
	(cd "$work/src" && env GOCACHE="$work/gocache" GOMODCACHE="$modcache" GOFLAGS=-mod=readonly GOPROXY=off \
		GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -o "$work/outside/pipeguard" ./cmd/pipeguard)
	t1=$(now)
	echo "$t1 - $t0" | bc
}

inside() {
	rm -rf "$work/dist"
	t0=$(now)
	"$work/pipeguard" build --source "$work/src" --hermetic --go-mod-cache "$modcache" --env CGO_ENABLED=0 \
		--artifact out/pipeguard --artifacts-dir "$work/dist" --bundle "$work/prov.json" \
		-- go build -trimpath -o out/pipeguard ./cmd/pipeguard >/dev/null 2>"$work/inside.err" || { cat "$work/inside.err" >&2; exit 1; }
	t1=$(now)
	echo "$t1 - $t0" | bc
}

echo "commit $(git -C "$work/src" rev-parse HEAD), $(go version), $(nproc) cores"
i=1
while [ "$i" -le "$ROUNDS" ]; do
	odd=$((i % 2))
	[ "$FIRST" = inside ] && odd=$((1 - odd))
	if [ "$odd" -eq 1 ]; then
		o=$(outside); s=$(inside)
	else
		s=$(inside); o=$(outside)
	fi
	same=no
	cmp -s "$work/outside/pipeguard" "$work/dist/out/pipeguard" && same=yes
	printf 'round %d: outside %.2fs  inside %.2fs  ratio %.3f  identical binaries: %s\n' "$i" "$o" "$s" "$(echo "$s / $o" | bc -l)" "$same"
	i=$((i + 1))
done
