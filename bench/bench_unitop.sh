#!/usr/bin/env bash
# unitop's CPU use per refresh with 10, 100, 1000 and 10 000 agent-only
# guests, against unirun --list's one-shot pass over the same guests.
set -euo pipefail
build=${1:?usage: bench_unitop.sh BUILD_DIR}
exec "$build/bench/bench_unitop" "$build/top/unitop" "$build/launcher/unirun"
