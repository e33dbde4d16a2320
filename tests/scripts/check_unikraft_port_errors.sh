#!/usr/bin/env bash
# The Unikraft port built against a Unikraft tree that lacks what its glue
# hooks into stops at once with one line naming what is missing, before
# anything is compiled. Works on a copy of the pinned tree in which the
# scheduler no longer reaches ukarch_ctx_switch (the context-switch hook).
# usage: check_unikraft_port_errors.sh UNIKRAFT_TREE APP_DIR PORT_DIR
set -euo pipefail
uk=${1:?usage: check_unikraft_port_errors.sh UNIKRAFT_TREE APP_DIR PORT_DIR}
app=${2:?} port=${3:?}
work=$(mktemp -d /tmp/usc-ukport-XXXXXX)
trap 'rm -rf "$work"' EXIT

cp -a "$uk" "$work/unikraft"
impl=lib/uksched/include/uk/sched_impl.h
sed -i 's/ukarch_ctx_switch(&prev->ctx, &next->ctx);/ukarch_ctx_switch_renamed(\&prev->ctx, \&next->ctx);/' \
    "$work/unikraft/$impl"
make=(make -C "$work/unikraft" "A=$app" "O=$work/build" "L=$port" "C=$work/config")
"${make[@]}" defconfig "UK_DEFCONFIG=$app/defconfigs/qemu-x86_64" >"$work/defconfig.log" 2>&1 || {
    echo "FAIL: defconfig on the copied tree:"; tail -n 20 "$work/defconfig.log"; exit 1; }

if "${make[@]}" >"$work/build.log" 2>&1; then
    echo "FAIL: the port built against a tree without its context-switch hook"
    exit 1
fi
errors=$(grep -c 'uniscope: ' "$work/build.log" || true)
want="uniscope: $work/unikraft/$impl lacks ukarch_ctx_switch(&prev->ctx, &next->ctx);, which the Unikraft port needs for the context-switch hook"
if [ "$errors" -ne 1 ] || ! grep -qF "$want" "$work/build.log"; then
    echo "FAIL: not one clear line; the build said:"; cat "$work/build.log"; exit 1
fi
if grep -qE '^ +(CC|AS|LD) ' "$work/build.log"; then
    echo "FAIL: the build compiled something before it stopped"; exit 1
fi
grep -F 'uniscope: ' "$work/build.log"
echo PASS
