#!/bin/sh
# Check that a built Solo5 tree has what uniscope's Solo5 port needs, before
# the port is compiled against it: one line naming what is missing, else
# nothing.
# usage: check-bindings.sh SOLO5_DIR ABI...   (ABI: virtio, hvt)
set -u
dir=$1
shift
# The calls the port wraps or makes, defined by the bindings; the
# application's entry point, which the bindings call.
defined="solo5_console_write solo5_exit solo5_abort solo5_yield solo5_clock_monotonic"
called="solo5_app_main"
fail() {
    echo "uniscope's Solo5 port: $*" >&2
    exit 1
}
header=$dir/include/solo5.h
[ -f "$header" ] || fail "$header: no such file (is $dir a built Solo5 tree?)"
# solo5_yield with a handle set and the heap in the start info: Solo5 0.6+.
grep -q 'solo5_handle_set_t \*ready_set' "$header" &&
    grep -q 'heap_size' "$header" ||
    fail "$header: no solo5_yield(deadline, ready_set) or start-info heap: the port needs Solo5 0.6 or later"
for abi in "$@"; do
    obj=$dir/bindings/solo5_$abi.o
    [ -f "$obj" ] || fail "$obj: no such file (Solo5 built without the $abi target?)"
    syms=$(nm -P "$obj") || fail "$obj: nm cannot read it"
    missing=
    for s in $defined; do
        printf '%s\n' "$syms" | grep -q "^$s T " || missing="$missing $s"
    done
    for s in $called; do
        printf '%s\n' "$syms" | grep -q "^$s U " || missing="$missing $s"
    done
    [ -z "$missing" ] ||
        fail "$obj lacks global${missing}: the port wraps or calls them (Solo5 0.6 or later has them)"
done
