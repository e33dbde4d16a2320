#!/usr/bin/env bash
# unicore dump against QEMU's dump-guest-memory on the same guests, in one
# run: 64 MiB of RAM touched (demo kernel touch=64) in guests of 256 MiB,
# 1 GiB and 4 GiB, so that the cost of RAM never touched shows. Prints total
# time, guest pause and file size of each (medians of RUNS), the ratios and
# the design's bars beside them. Dumps go to BENCH_DIR (default: /tmp).
set -uo pipefail
build=${1:?usage: bench_unicore.sh BUILD_DIR}
runs=${RUNS:-3}
sizes=${SIZES:-256 1024 4096}
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

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
size_of() { stat -c %s "$1"; }
# div A B: A / B as a decimal, by awk (no bc needed).
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", b ? a / b : 0 }'; }

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

qemu_run() { # $1: the file to append "total pause size" to
    local t
    sync
    t=$("$anchor" "$UNISCOPE_RUNDIR/bench/qmp.sock" "$out/q.core" |
        awk '/^total_ms/ {print $2}') || exit 1
    echo "$t $t $(size_of "$out/q.core")" >>"$1"
    rm -f "$out/q.core"
}

col() { awk -v c="$2" '{print $c}' "$1" | median; } # FILE COLUMN

touched=$((64 << 20))
printf 'guests with 64 MiB touched; dumps in %s; median of %d\n' \
    "${BENCH_DIR:-/tmp}" "$runs"
echo "QEMU keeps the guest stopped for its whole dump: its pause is its total."
printf '%-6s %-24s %11s %11s %11s\n' "RAM" "" "total (ms)" "paused (ms)" "file (MiB)"
for mib in $sizes; do
    "$unirun" --stop bench >/dev/null 2>&1
    "$unirun" --detach --accel tcg --memory "$mib" --name bench "$kernel" \
        -- scenario=idle threads=1 touch=64 >/dev/null || exit 1
    # Wait (at most 60 s) for the guest to have touched its memory.
    for _ in $(seq 600); do
        grep -q '^touch: ' "$UNISCOPE_RUNDIR/bench/console.log" 2>/dev/null && break
        sleep 0.1
    done
    grep -q '^touch: ' "$UNISCOPE_RUNDIR/bench/console.log" || {
        echo "bench_unicore: the $mib MiB guest never touched its memory"
        exit 1
    }
    # unicore first: QEMU's dump reads every page of guest RAM through its
    # shared mapping, which makes tmpfs allocate all of the RAM file, so
    # that later dumps cannot skip its holes any more.
    : >"$out/u$mib"
    for _ in $(seq "$runs"); do unicore_run "$out/u$mib"; done
    # The anchor at 1 GiB (every size with ANCHOR_ALL=1: QEMU writes all
    # of RAM, 4 GiB at 4 GiB).
    if [ "$mib" = 1024 ] || [ -n "${ANCHOR_ALL:-}" ]; then
        : >"$out/q$mib"
        for _ in $(seq "$runs"); do qemu_run "$out/q$mib"; done
        printf '%-6s %-24s %11.1f %11.1f %11.1f\n' "${mib}M" \
            "QEMU dump-guest-memory" "$(col "$out/q$mib" 1)" \
            "$(col "$out/q$mib" 2)" "$(div "$(col "$out/q$mib" 3)" 1048576)"
        printf '%-6s %-24s %11.1f %11.1f %11.1f   %.1fx faster\n' "" \
            "unicore dump" "$(col "$out/u$mib" 1)" "$(col "$out/u$mib" 2)" \
            "$(div "$(col "$out/u$mib" 3)" 1048576)" \
            "$(div "$(col "$out/q$mib" 1)" "$(col "$out/u$mib" 1)")"
    else
        printf '%-6s %-24s %11.1f %11.1f %11.1f\n' "${mib}M" "unicore dump" \
            "$(col "$out/u$mib" 1)" "$(col "$out/u$mib" 2)" \
            "$(div "$(col "$out/u$mib" 3)" 1048576)"
    fi
done

first=${sizes%% *}
last=${sizes##* }
if [ -f "$out/u1024" ]; then
    ut=$(col "$out/u1024" 1) up=$(col "$out/u1024" 2) us=$(col "$out/u1024" 3)
    qt=$(col "$out/q1024" 1)
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "1 GiB guest, 64 MiB touched, against the bars (load average $load on $(nproc) CPUs: the bars are for a quiet machine):"
    awk -v qt="$qt" -v ut="$ut" -v up="$up" -v us="$us" -v t="$touched" 'BEGIN {
        printf "  %.1fx faster than QEMU        (bar: >= 5x)\n", qt / ut
        printf "  %.1f ms in all                (bar: <= 200 ms)\n", ut
        printf "  %.1f ms paused                (bar: <= 10 ms)\n", up
        printf "  file %.3fx the touched memory (bar: <= 1.1x)\n", us / t
    }'
fi
if [ "$first" != "$last" ]; then
    awk -v a="$(col "$out/u$first" 1)" -v b="$(col "$out/u$last" 1)" \
        -v ma="$first" -v mb="$last" 'BEGIN {
        printf "  %.1f ms per GiB never touched, %s MiB to %s MiB (bar: <= 20 ms)\n",
            (b - a) / ((mb - ma) / 1024), ma, mb
    }'
fi
