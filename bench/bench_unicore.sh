#!/usr/bin/env bash
# unicore dump against QEMU's dump-guest-memory on one guest, in one run:
# 1 GiB of RAM, 64 MiB of it touched (demo kernel touch=64). Prints total
# time, guest pause and file size of each (medians of RUNS), and ratios.
# Dumps go to BENCH_DIR (default: a new folder under /tmp), both alike.
set -uo pipefail
build=${1:?usage: bench_unicore.sh BUILD_DIR}
runs=${RUNS:-3}
unirun=$build/launcher/unirun
unicore=$build/coredump/unicore
anchor=$build/bench/bench_unicore_qemu
kernel=$build/examples/demokernel/demokernel.elf
for f in "$unirun" "$unicore" "$anchor" "$kernel"; do
    [ -x "$f" ] || [ -f "$f" ] || { echo "bench_unicore: missing $f"; exit 1; }
done

export UNISCOPE_RUNDIR=$(mktemp -d /tmp/usc-bench-rd-XXXXXX)
out=$(mktemp -d "${BENCH_DIR:-/tmp}/usc-bench-cores-XXXXXX")
cleanup() {
    "$unirun" --stop bench >/dev/null 2>&1
    rm -rf "$UNISCOPE_RUNDIR" "$out"
}
trap cleanup EXIT

"$unirun" --detach --accel tcg --memory 1024 --name bench "$kernel" \
    -- scenario=idle threads=1 touch=64 >/dev/null || exit 1
# Wait (at most 60 s) for the guest to have touched its memory.
for _ in $(seq 600); do
    grep -q '^touch: ' "$UNISCOPE_RUNDIR/bench/console.log" 2>/dev/null && break
    sleep 0.1
done
grep '^touch: ' "$UNISCOPE_RUNDIR/bench/console.log" || {
    echo "bench_unicore: the guest never touched its memory"
    exit 1
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
size_of() { stat -c %s "$1"; }

unicore_run() { # $1: the file to append "total pause size" to
    local line pause total
    sync
    line=$("$unicore" dump bench -o "$out/u.core" | tail -n 1) || exit 1
    # "unicore: guest paused P ms; took T ms"
    read -r pause total < <(echo "$line" |
        sed -E 's/.*paused ([0-9.]+) ms; took ([0-9.]+) ms.*/\1 \2/')
    echo "$total $pause $(size_of "$out/u.core")" >>"$1"
    rm -f "$out/u.core"
}

# unicore first: QEMU's dump reads every page of guest RAM through its
# shared mapping, which makes tmpfs allocate all of the RAM file, so that
# later dumps cannot skip its holes any more (measured apart, below).
: >"$out/u.txt"
: >"$out/q.txt"
: >"$out/after.txt"
for i in $(seq "$runs"); do
    unicore_run "$out/u.txt"
done
for i in $(seq "$runs"); do
    sync
    t=$("$anchor" "$UNISCOPE_RUNDIR/bench/qmp.sock" "$out/q.core" |
        awk '/^total_ms/ {print $2}') || exit 1
    echo "$t $t $(size_of "$out/q.core")" >>"$out/q.txt"
    rm -f "$out/q.core"
done
for i in $(seq "$runs"); do
    unicore_run "$out/after.txt"
done

[ -n "${BENCH_VERBOSE:-}" ] && { echo "unicore runs:"; cat "$out/u.txt"; echo "after:"; cat "$out/after.txt"; }
ut=$(awk '{print $1}' "$out/u.txt" | median)
up=$(awk '{print $2}' "$out/u.txt" | median)
us=$(awk '{print $3}' "$out/u.txt" | median)
qt=$(awk '{print $1}' "$out/q.txt" | median)
qp=$(awk '{print $2}' "$out/q.txt" | median)
qs=$(awk '{print $3}' "$out/q.txt" | median)
touched=$((64 << 20))

# div A B: A / B as a decimal, by awk (no bc needed).
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", b ? a / b : 0 }'; }
as=$(awk '{print $3}' "$out/after.txt" | median)
at=$(awk '{print $1}' "$out/after.txt" | median)
ap=$(awk '{print $2}' "$out/after.txt" | median)

echo "guest: 1024 MiB RAM, 64 MiB touched; dumps in ${BENCH_DIR:-/tmp}; median of $runs"
echo "QEMU keeps the guest stopped for its whole dump: its pause is its total."
echo "'RAM file all data': unicore after QEMU's dumps, which allocate every page"
printf '%-28s %12s %12s %14s\n' "" "total (ms)" "paused (ms)" "file (MiB)"
printf '%-28s %12.1f %12.1f %14.1f\n' "QEMU dump-guest-memory" "$qt" "$qp" \
    "$(div "$qs" 1048576)"
printf '%-28s %12.1f %12.1f %14.1f\n' "unicore dump" "$ut" "$up" \
    "$(div "$us" 1048576)"
printf '%-28s %12.1f %12.1f %14.1f\n' "unicore, RAM file all data" "$at" \
    "$ap" "$(div "$as" 1048576)"
printf 'unicore is %.1fx faster in total, pauses the guest %.1fx less\n' \
    "$(div "$qt" "$ut")" "$(div "$qp" "$up")"
printf 'file: %.3fx the touched memory (QEMU: %.2fx); aims: >= 5x, <= 500 ms, <= 1.1x\n' \
    "$(div "$us" "$touched")" "$(div "$qs" "$touched")"
