#!/usr/bin/env bash
# Tracing benchmark: an LTTng-UST tracepoint measured in a session of our
# own (the anchor), then bench_trace (the agent beside rdtsc, the host's
# drain, streams paced at 1-20 M events/s), which prints every figure with
# its ratio; then the paced streams again with 4 MiB rings chosen at init.
set -uo pipefail
build=${1:?usage: bench_trace.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
bench=$build/bench/bench_trace
work=$(mktemp -d /tmp/usc-bench-trace-XXXXXX)
session=usc-bench-$$
daemon_pid=
# liblttng-ust leaves its wait files in /dev/shm: remove those we caused.
shm_before=$(ls /dev/shm 2>/dev/null | grep '^lttng-ust-wait' || true)

cleanup() {
    if [ -n "$daemon_pid" ]; then
        LTTNG_HOME=$work lttng destroy "$session" >/dev/null 2>&1
        kill "$daemon_pid" 2>/dev/null
        # It shuts down its consumer daemons first: wait (5 s at most).
        for _ in $(seq 50); do
            kill -0 "$daemon_pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -rf "$work"
    local f
    for f in $(ls /dev/shm 2>/dev/null | grep '^lttng-ust-wait' || true); do
        grep -qx "$f" <<<"$shm_before" || rm -f "/dev/shm/$f"
    done
}
trap cleanup EXIT

if [ ! -x "$bench" ]; then
    echo "bench_trace: $bench not built"
    exit 1
fi

# Nanoseconds per LTTng-UST event, or nothing on failure.
lttng_ns() {
    "$work/lttng" 1048576 11 2>/dev/null
}

# Start a session daemon of our own (none may be running: the tracer
# would register with that one); its pid into daemon_pid.
start_daemon() {
    export LTTNG_HOME=$work
    if lttng list >/dev/null 2>&1; then
        echo "LTTng: a session daemon is already running here; not ours to use"
        return 1
    fi
    lttng-sessiond --daemonize --no-kernel >/dev/null 2>&1 || return 1
    local f
    for f in "$work/.lttng/lttng-sessiond.pid" /var/run/lttng/lttng-sessiond.pid; do
        [ -r "$f" ] && daemon_pid=$(cat "$f") && break
    done
    [ -n "$daemon_pid" ]
}

enabled=0 disabled=0
lttng_dir=$here/bench_trace_lttng
if ! pkg-config --exists lttng-ust || ! command -v lttng-sessiond >/dev/null; then
    echo "LTTng: lttng-tools or liblttng-ust-dev missing: no LTTng anchor"
elif ! cc -O2 -std=c11 -Wall -Wextra -I"$lttng_dir" $(pkg-config --cflags lttng-ust) \
    "$lttng_dir/main.c" "$lttng_dir/tp.c" $(pkg-config --libs lttng-ust) \
    -o "$work/lttng" 2>"$work/cc.log"; then
    echo "LTTng: the comparison program does not build: $(head -n 1 "$work/cc.log")"
else
    disabled=$(lttng_ns) || disabled=0
    if start_daemon &&
        lttng create "$session" --snapshot --output="$work/out" >/dev/null &&
        lttng enable-channel -u chan -s "$session" --subbuf-size=1M \
            --num-subbuf=4 >/dev/null &&
        lttng enable-event -u 'usc_bench:*' -c chan -s "$session" >/dev/null &&
        lttng start "$session" >/dev/null; then
        enabled=$(lttng_ns) || enabled=0
        lttng stop "$session" >/dev/null 2>&1
        echo "LTTng-UST: measured in a snapshot (flight recorder) session of our own"
    else
        echo "LTTng: no session daemon could run here: no enabled LTTng anchor"
    fi
fi

"$bench" "${enabled:-0}" "${disabled:-0}"
echo
# The same streams with rings the unikernel chose at init (4 MiB a vCPU).
"$bench" --ring 4096
