#!/usr/bin/env bash
# Configure or build a Unikraft application out of tree, with Unikraft's
# own make, leaving the Unikraft tree and the application's folder as they
# are (the configuration and every output go to OUT).
# usage: unikraft-app.sh defconfig UK_TREE APP OUT LIBS DEFCONFIG
#        unikraft-app.sh build     UK_TREE APP OUT LIBS JOBS
# LIBS: external library folders, colon-separated, or "" for none.
set -euo pipefail
mode=$1 uk=$2 app=$3 out=$4 libs=$5 arg=$6
mkdir -p "$out"
make=(make -C "$uk" "A=$app" "O=$out" "L=$libs" "C=$out.config")
log=$out.$mode.log
case $mode in
defconfig) cmd=("${make[@]}" defconfig "UK_DEFCONFIG=$arg") ;;
build) cmd=("${make[@]}" "-j$arg") ;;
*) echo "unikraft-app.sh: unknown mode $mode" >&2; exit 2 ;;
esac
if ! "${cmd[@]}" >"$log" 2>&1; then
    # the lines that say why, then where the rest is
    grep -E 'error|\*\*\*' "$log" | head -n 20 >&2 || tail -n 20 "$log" >&2
    echo "unikraft-app.sh: $mode of $app failed; see $log" >&2
    exit 1
fi
