#!/usr/bin/env bash
# Unpack a pristine Solo5 release tarball into DEST and build it there
# (toolchain wrappers, bindings, tenders and its own tests).
# usage: upstream-solo5.sh TARBALL DEST VERSION
# DEST appears only once the build succeeded; a failed or killed run leaves
# at most DEST.tmp, which the next run starts again from.
set -euo pipefail
tarball=$1 dest=$2 version=$3
tmp=$dest.tmp
rm -rf "$tmp" "$dest"
mkdir -p "$tmp"
tar -xzf "$tarball" -C "$tmp" --strip-components=1
# A release tarball carries include/version.h.distrib; a snapshot of the
# tree does not, and Solo5's make refuses to run outside git without it.
[ -f "$tmp/include/version.h.distrib" ] ||
    printf '#define SOLO5_VERSION "%s"\n' "$version" >"$tmp/include/version.h.distrib"
(cd "$tmp" && ./configure.sh >configure.log 2>&1 && make -j"$(nproc)" >make.log 2>&1) || {
    echo "upstream-solo5: building Solo5 in $tmp failed; see $tmp/configure.log and $tmp/make.log" >&2
    exit 1
}
mv "$tmp" "$dest"
# Solo5's build links its toolchain's lib/ and include/ by absolute path:
# point those links into DEST, where the tree now is.
find "$dest" -type l | while read -r link; do
    target=$(readlink "$link")
    case $target in
    "$tmp"/*) ln -sfn "$dest${target#"$tmp"}" "$link" ;;
    esac
done
