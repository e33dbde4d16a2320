#!/usr/bin/env bash
# unigdb against QEMU's own gdbstub on the same guests, in one run: gdb's
# `dump binary memory` of 16 MiB and 1000 `stepi`s (medians of RUNS, the
# two stubs taking turns). Two dumps: the low 16 MiB of a demo guest as it
# is (its image, stacks and tables; the rest never written), and 16 MiB
# the guest filled with non-repeating data (touch=).
set -uo pipefail
build=${1:?usage: bench_unigdb.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-3}
steps=${STEPS:-1000}
unirun=$build/launcher/unirun
unigdb=$build/gdbstub/unigdb
kernel=$build/examples/demokernel/demokernel.elf
gdb=${GDB:-/usr/bin/gdb}
for f in "$unirun" "$unigdb" "$kernel" "$gdb"; do
    [ -x "$f" ] || [ -f "$f" ] || { echo "bench_unigdb: missing $f"; exit 1; }
done

export UNISCOPE_RUNDIR=$(mktemp -d /tmp/usc-bench-gdb-XXXXXX)
out=$(mktemp -d /tmp/usc-bench-gdb-out-XXXXXX)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null
    "$unirun" --stop sparse >/dev/null 2>&1
    "$unirun" --stop dense >/dev/null 2>&1
    rm -rf "$UNISCOPE_RUNDIR" "$out"
}
trap cleanup EXIT

# hang: one thread spins in spin_forever, so every stepi has code to step
"$unirun" --detach --accel tcg --memory 64 --name sparse "$kernel" \
    -- scenario=hang threads=1 >/dev/null || exit 1
"$unirun" --detach --accel tcg --memory 64 --name dense "$kernel" \
    -- scenario=hang threads=1 touch=40 >/dev/null || exit 1
for g in sparse dense; do
    for _ in $(seq 300); do
        grep -q 'spinning forever' "$UNISCOPE_RUNDIR/$g/console.log" \
            2>/dev/null && break
        sleep 0.1
    done
    grep -q 'spinning forever' "$UNISCOPE_RUNDIR/$g/console.log" || {
        echo "bench_unigdb: guest $g never started spinning"
        exit 1
    }
done

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# gdbrun SOCKET START SIZE STEPS: gdb times a dump and some steps
# (BENCH_MONITOR=1 in the environment: the dump is unigdb's monitor dump)
gdbrun() {
    BENCH_START=$2 BENCH_SIZE=$3 BENCH_STEPS=$4 BENCH_OUT=$out/dump.bin \
        "$gdb" -batch -nx -ex "target remote $1" \
        -ex "source $here/bench_unigdb.py" -ex detach "$kernel" 2>&1 |
        grep '^BENCH '
}

# through QEMU's own stub, straight
qemu_run() { # GUEST START SIZE STEPS TAG
    gdbrun "$UNISCOPE_RUNDIR/$1/gdb.sock" "$2" "$3" "$4" |
        sed "s/^BENCH /$5 qemu /" >>"$out/times"
}

# through unigdb, serving once (STUB: the name the figures go under)
unigdb_run() { # GUEST START SIZE STEPS TAG [STUB]
    local sock=$out/unigdb.sock stub=${6:-unigdb}
    "$unigdb" "$1" --listen "unix:$sock" --once >"$out/unigdb.log" 2>&1 &
    server=$!
    for _ in $(seq 100); do
        grep -q serving "$out/unigdb.log" && break
        sleep 0.05
    done
    gdbrun "$sock" "$2" "$3" "$4" | sed "s/^BENCH /$5 $stub /" >>"$out/times"
    wait "$server"
    server=
}

# guest-virtual addresses of physical 0 and 16 MiB (the demo's mapping)
low=0xffffffff80000000
mid=0xffffffff81000000
size=$((16 << 20))
: >"$out/times"
for i in $(seq "$runs"); do
    qemu_run sparse $low $size "$steps" sparse
    unigdb_run sparse $low $size "$steps" sparse
    # touch=40 fills from the end of the image (about 2 MiB) on
    unigdb_run dense $mid $size 0 dense
    qemu_run dense $mid $size 0 dense
    BENCH_MONITOR=1 unigdb_run sparse $low $size 0 sparse monitor
    BENCH_MONITOR=1 unigdb_run dense $mid $size 0 dense monitor
done

fig() { # TAG STUB WHAT: the median seconds
    awk -v t="$1" -v s="$2" -v w="$3" '$1 == t && $2 == s && $3 == w {print $4}' \
        "$out/times" | median
}

report_dump() { # TAG TITLE
    local q u m
    q=$(fig "$1" qemu dump)
    u=$(fig "$1" unigdb dump)
    m=$(fig "$1" monitor dump)
    [ -n "$q" ] && [ -n "$u" ] && [ -n "$m" ] || { echo "  $2: no figures"; return 1; }
    awk -v q="$q" -v u="$u" -v m="$m" -v title="$2" 'BEGIN {
        printf "  %s\n", title
        printf "    QEMU stub, dump binary memory   %8.1f ms  %7.1f MiB/s\n", q * 1000, 16 / q
        printf "    unigdb,    dump binary memory   %8.1f ms  %7.1f MiB/s  %6.1fx\n", u * 1000, 16 / u, q / u
        printf "    unigdb,    monitor dump         %8.1f ms  %7.1f MiB/s  %6.1fx (bar: 20x)\n", m * 1000, 16 / m, q / m
    }'
}

echo "gdb dump binary memory, 16 MiB (median of $runs):"
report_dump sparse "a demo guest's low 16 MiB (image, stacks, tables; mostly zeros)"
report_dump dense "16 MiB of non-repeating data (touch=40)"
q=$(fig sparse qemu stepi)
u=$(fig sparse unigdb stepi)
if [ -n "$q" ] && [ -n "$u" ]; then
    awk -v q="$q" -v u="$u" -v n="$steps" 'BEGIN {
        printf "gdb stepi x %d (median of runs):\n", n
        printf "    QEMU stub  %8.1f ms  %6.0f us each\n", q * 1000, q * 1e6 / n
        printf "    unigdb     %8.1f ms  %6.0f us each\n", u * 1000, u * 1e6 / n
        printf "    ratio      %8.2fx QEMU stub time (bar: >= 1.00x)\n", q / u
    }'
else
    echo "gdb stepi: no figures"
    exit 1
fi
