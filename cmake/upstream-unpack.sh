#!/usr/bin/env bash
# Unpack a pristine upstream tarball into DEST (its top folder stripped),
# atomically: DEST appears complete or not at all.
# usage: upstream-unpack.sh TARBALL DEST
set -euo pipefail
tarball=$1 dest=$2
tmp=$dest.tmp
rm -rf "$tmp" "$dest"
mkdir -p "$tmp"
tar -xzf "$tarball" -C "$tmp" --strip-components=1
mv "$tmp" "$dest"
