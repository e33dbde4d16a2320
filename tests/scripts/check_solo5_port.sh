#!/usr/bin/env bash
# The build-time errors of uniscope's Solo5 port, on real Solo5 objects:
# a Solo5 tree lacking a symbol the port needs gets one line naming it; an
# image without the port's note gets one line from usc-solo5-buildid; an
# image with it gets the SHA-1 of itself (the id zeroed), as ld would; the
# port linked without its --wrap flags (so without its init) does not link.
# usage: check_solo5_port.sh SOLO5_DIR CHECK_BINDINGS BUILDID AGENTLESS_IMAGE
#        PORT_OBJECT AGENT_ARCHIVE
set -euo pipefail
solo5=$1 check=$2 buildid=$3 bare=$4 port=$5 agent=$6
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL: $*"
    exit 1
}
one_line() { # FILE: exactly one line
    [ "$(wc -l <"$1")" -eq 1 ] || fail "not one line: $(cat "$1")"
}

"$check" "$solo5" virtio hvt || fail "the pinned Solo5 does not pass"

# A Solo5 whose bindings no longer export solo5_yield.
mkdir -p "$tmp/solo5/bindings" "$tmp/solo5/include"
cp "$solo5/include/solo5.h" "$tmp/solo5/include/"
objcopy --localize-symbol=solo5_yield "$solo5/bindings/solo5_virtio.o" \
    "$tmp/solo5/bindings/solo5_virtio.o"
if "$check" "$tmp/solo5" virtio 2>"$tmp/err"; then
    fail "a Solo5 without solo5_yield passes"
fi
one_line "$tmp/err"
grep -q "solo5_virtio.o lacks global solo5_yield" "$tmp/err" ||
    fail "unclear: $(cat "$tmp/err")"
# ... or whose header is of an older API.
sed -i 's/solo5_handle_set_t \*ready_set/int *ready_set/' \
    "$tmp/solo5/include/solo5.h"
"$check" "$tmp/solo5" virtio 2>"$tmp/err" && fail "an old solo5.h passes"
one_line "$tmp/err"
grep -q "needs Solo5 0.6 or later" "$tmp/err" || fail "unclear: $(cat "$tmp/err")"

# usc-solo5-buildid on an image without the port's note.
cp "$bare" "$tmp/bare.virtio"
"$buildid" "$tmp/bare.virtio" 2>"$tmp/err" && fail "an image without the note passes"
one_line "$tmp/err"
grep -q "no build-id note of uniscope's port" "$tmp/err" ||
    fail "unclear: $(cat "$tmp/err")"
cmp -s "$bare" "$tmp/bare.virtio" || fail "the refused image was changed"
"$buildid" --help | grep -q '^usage: usc-solo5-buildid IMAGE' || fail "--help"
"$buildid" --version | grep -q '^usc-solo5-buildid (uniscope) ' || fail "--version"
"$buildid" 2>/dev/null && fail "no argument passes"

# An image with the note, id zeroed: the id becomes the image's SHA-1.
img=$tmp/hello.virtio
cat >"$tmp/note.c" <<'C'
struct note { unsigned namesz, descsz, type; char name[4]; unsigned char d[20]; };
__attribute__((used, aligned(4), section(".note.solo5.not_openbsd.uniscope")))
const struct note n = {4, 20, 3, "GNU", {0}};
int solo5_app_main(const void *si) { (void)si; return 0; }
C
cat >"$tmp/manifest.json" <<'J'
{"type": "solo5.manifest", "version": 1, "devices": []}
J
cc=$solo5/toolchain/bin/x86_64-solo5-none-static-cc
"$solo5/elftool/solo5-elftool" gen-manifest "$tmp/manifest.json" "$tmp/mft.c"
"$cc" -c "$tmp/note.c" -o "$tmp/note.o"
"$cc" -c "$tmp/mft.c" -o "$tmp/mft.o"
"$cc" -z solo5-abi=virtio "$tmp/note.o" "$tmp/mft.o" -o "$img"
want=$(sha1sum "$img" | cut -d' ' -f1)
"$buildid" "$img"
got=$(readelf -n "$img" | awk '/Build ID:/ { print $3 }')
[ "$got" = "$want" ] || fail "build-id $got, the image's SHA-1 is $want"
"$buildid" "$img" # again: the same id (computed with the id zeroed)
got=$(readelf -n "$img" | awk '/Build ID:/ { print $3 }')
[ "$got" = "$want" ] || fail "a second run gave $got"
[ -z "$(find "$tmp" -name '*.buildid-*')" ] || fail "a temporary file was left"

# The port without its --wrap flags: no image, the init's absence named.
echo 'int solo5_app_main(const void *si) { (void)si; return 0; }' >"$tmp/app.c"
"$cc" -c "$tmp/app.c" -o "$tmp/app.o"
if "$cc" -z solo5-abi=virtio "$tmp/app.o" "$tmp/mft.o" "$port" "$agent" \
    -o "$tmp/nowrap.virtio" 2>"$tmp/err"; then
    fail "the port links without --wrap=solo5_app_main"
fi
grep -q "undefined reference to \`__real_solo5_app_main'" "$tmp/err" ||
    fail "unclear: $(cat "$tmp/err")"
[ ! -e "$tmp/nowrap.virtio" ] || fail "an image was left"
echo "PASS"
