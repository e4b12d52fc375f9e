#!/usr/bin/env bash
# Paired load: two servers under load at the same time, so both see the same machine.
#
#   bench/profile/paired.sh URL_A URL_B TOKEN [ROUNDS] [SECONDS]
#
# After a 2 s warm-up of both (not counted: instances and connections are made then), each
# round runs one wrk (1 thread, 16 connections) against each URL at once for SECONDS
# (default 8) and prints both req/s and B ÷ A; ROUNDS (default 6) rounds, then the median
# ratio. On a saturated machine the two servers share the same CPUs through the same
# moments, so the ratio is the ratio of their costs per request, without the drift between
# two runs made one after the other (other tenants, steal time) that moves `make bench`'s
# single rounds by ±0.15. Made for A/B comparisons of builds (bench/README.md); only
# for people, nothing runs it in CI. Needs wrk and bc.
set -euo pipefail
[[ $# -ge 3 ]] || { sed -n 3,4p "$0" >&2; exit 2; }
a=$1 b=$2 token=$3 rounds=${4:-6} secs=${5:-8}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Loads both URLs at once for $1 seconds; wrk's reports go to $tmp/a and $tmp/b.
load_both() {
    wrk -t1 -c16 -d"${1}s" -H "Authorization: Bearer $token" "$a" >"$tmp/a" 2>&1 &
    wrk -t1 -c16 -d"${1}s" -H "Authorization: Bearer $token" "$b" >"$tmp/b" 2>&1 &
    wait
}
load_both 2
ratios=()
for r in $(seq 1 "$rounds"); do
    load_both "$secs"
    ra=$(awk '/Requests\/sec/{print $2}' "$tmp/a")
    rb=$(awk '/Requests\/sec/{print $2}' "$tmp/b")
    ratio=$(echo "scale=3; $rb / $ra" | bc)
    ratios+=("$ratio")
    printf 'round %d: A %s req/s, B %s req/s, B/A %s\n' "$r" "$ra" "$rb" "$ratio"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR]=$1} END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "median B/A over %d rounds: %.3f (min %.3f, max %.3f)\n", NR, m, v[1], v[NR] }'
