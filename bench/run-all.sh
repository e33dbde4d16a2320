#!/usr/bin/env bash
# Runs every bench/bench_*.sh with the build directory; each prints a block
# of figures measured side by side with its anchor in the same run.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run-all.sh BUILD_DIR}
status=0
shopt -s nullglob
for b in "$here"/bench_*.sh; do
    echo "== ${b##*/}"
    bash "$b" "$build" || { echo "(failed: ${b##*/})"; status=1; }
    echo
done
exit $status
