#!/usr/bin/env bash
# unitop's CPU use per refresh with 10, 100, 1000 and 10 000 agent-only
# guests, and with 100 and 1000 VMM processes holding an agent (found in
# /proc, read as pid:PID), against unirun --list's one-shot pass over the
# same guests. "procs" as a second argument runs the VMM processes alone.
set -euo pipefail
build=${1:?usage: bench_unitop.sh BUILD_DIR}
exec "$build/bench/bench_unitop" "$build/top/unitop" "$build/launcher/unirun" ${2:+"$2"}
