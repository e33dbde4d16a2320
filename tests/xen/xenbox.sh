#!/usr/bin/env bash
# xenbox: run a script inside dom0 of a real Xen booted under QEMU TCG.
#
#   tests/xen/xenbox.sh --cache DIR --out DIR [--add SRC[:DEST]]... \
#       [--timeout SEC] SCRIPT [ARGS...]
#
# Everything comes from Debian packages: Xen 4.17, the toolstack, Linux 6.1
# (dom0) and busybox are fetched with `apt-get download` into the cache and
# unpacked there, never installed on this machine. The dom0 initramfs holds
# busybox, xl, xenstored, xenconsoled, gdb, the Xen kernel modules and every
# shared library those need (found with ldd on this machine, whose libraries
# are Debian's). --add puts further files in dom0 (SRC's shared libraries
# come along); DEST defaults to /xenbox/bin/BASENAME.
#
# In dom0, SCRIPT runs as /xenbox/script with ARGS, in the shared folder
# (the host's --out DIR, mounted over virtio-9p at /host), with
# /xenbox/bin first in PATH. Its output and dom0's console go to
# OUT/console.log; its exit status becomes ours. Exit 124: timed out;
# 125: Xen or dom0 never reached the script.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache= out= timeout=240
adds=()
while [ $# -gt 0 ]; do
    case $1 in
    --cache) cache=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --add) adds+=("$2"); shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --) shift; break ;;
    -*) echo "xenbox: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
[ -n "$cache" ] && [ -n "$out" ] && [ $# -ge 1 ] || {
    sed -n '2,20p' "$0" >&2
    exit 2
}
script=$1
shift
mkdir -p "$cache" "$out"
cache=$(cd "$cache" && pwd)
out=$(cd "$out" && pwd)

log() { printf 'xenbox: %s\n' "$*" >&2; }

modules="xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc virtio_ring virtio
virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci 9pnet 9pnet_virtio netfs
fscache 9p"

# ---- the Debian packages, unpacked into $cache/root --------------------
kver_pkg() { # the versioned linux-image package linux-image-amd64 names
    apt-cache depends linux-image-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}
fetch() {
    [ -f "$cache/root/.complete" ] && return 0
    local pkgs=(xen-hypervisor-4.17-amd64 xen-utils-4.17 xen-utils-common
        xenstore-utils busybox-static "$(kver_pkg)")
    log "fetching ${pkgs[*]}"
    rm -rf "$cache/debs" "$cache/root"
    mkdir -p "$cache/debs" "$cache/root"
    # apt's sandbox user must be able to write the folder
    chmod 0777 "$cache/debs"
    (cd "$cache/debs" && apt-get download -q "${pkgs[@]}" >/dev/null 2>&1) || {
        apt-get update -qq && (cd "$cache/debs" && apt-get download -q "${pkgs[@]}" >/dev/null)
    }
    for d in "$cache"/debs/*.deb; do dpkg-deb -x "$d" "$cache/root"; done
    # keep only the kernel modules dom0 loads (the rest is 400 MB)
    local keep
    keep=$(printf -- '-o -name %s.ko ' $modules)
    find "$cache/root/lib/modules" -name '*.ko' ! \( -false $keep \) -delete
    rm -rf "$cache/root/usr/share/doc" "$cache/debs"
    touch "$cache/root/.complete"
}

# copy_with_libs STAGE FILE DEST: FILE at DEST in STAGE, with its libraries
copy_libs() {
    local stage=$1 f=$2 lib
    # a static ELF has none (and ldd fails on it)
    { ldd "$f" 2>/dev/null || true; } |
        awk '/=> \// {print $3} /^[ \t]*\/.*ld-linux/ {print $1}' |
        while read -r lib; do
            [ -e "$stage$lib" ] && continue
            mkdir -p "$stage$(dirname "$lib")"
            cp -L "$lib" "$stage$lib"
        done
}
copy_with_libs() {
    local stage=$1 f=$2 dest=$3
    mkdir -p "$stage$(dirname "$dest")"
    cp -L "$f" "$stage$dest"
    copy_libs "$stage" "$f"
}

# ---- the base initramfs: toolstack, gdb, modules (built once) ----------
base() {
    local r=$cache/root stage b m f
    [ -f "$cache/base.cpio.gz" ] && [ "$cache/base.cpio.gz" -nt "$here/init" ] &&
        [ "$cache/base.cpio.gz" -nt "$0" ] && return 0
    log "building the dom0 initramfs"
    rm -rf "$cache/stage"
    stage=$(mktemp -d "$cache/stage.XXXXXX")
    mkdir -p "$stage"/{bin,sbin,etc,proc,sys,dev,tmp,run,lib/modules,usr/lib/xen-4.17/bin,var/lib/xen,var/log/xen,etc/xen}
    cp "$r/bin/busybox" "$stage/bin/"
    for b in $("$r/bin/busybox" --list); do
        [ -e "$stage/bin/$b" ] || ln -s busybox "$stage/bin/$b"
    done
    for b in xl xenstored xenconsoled xenconsole xen-init-dom0 xen-hvmctx; do
        copy_with_libs "$stage" "$r/usr/lib/xen-4.17/bin/$b" /usr/lib/xen-4.17/bin/$b
    done
    for b in xenstore-ls xenstore-read xenstore-write; do
        copy_with_libs "$stage" "$r/usr/bin/$b" /usr/bin/$b
    done
    cp -a "$r/usr/lib/xen-4.17/boot" "$stage/usr/lib/xen-4.17/"
    # xl aborts without libgcc_s, which ldd does not name
    mkdir -p "$stage/lib/x86_64-linux-gnu"
    cp -L "$(ldconfig -p | awk '/libgcc_s.so.1 .*x86-64/ {print $NF; exit}')" \
        "$stage/lib/x86_64-linux-gnu/"
    copy_with_libs "$stage" "$(command -v gdb)" /usr/bin/gdb
    # gdb will not start without Python's standard library, nor its own
    local py
    py=$(ldd "$(command -v gdb)" | sed -n 's/.*libpython\([0-9.]*\)\.so.*/\1/p' | head -n1)
    mkdir -p "$stage/usr/lib" "$stage/usr/share"
    tar -C /usr/lib --exclude=__pycache__ --exclude=test --exclude=idlelib \
        --exclude=lib2to3 --exclude=pydoc_data --exclude=ensurepip \
        --exclude=tkinter --exclude=dist-packages --exclude=site-packages \
        -cf - "python$py" | tar -C "$stage/usr/lib" -xf -
    cp -a /usr/share/gdb "$stage/usr/share/"
    for m in $modules; do
        f=$(find "$r/lib/modules" -name "$m.ko" | head -n1)
        [ -n "$f" ] || { log "module $m not found"; exit 125; }
        cp "$f" "$stage/lib/modules/"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$stage/etc/passwd"
    printf 'root:x:0:\n' >"$stage/etc/group"
    : >"$stage/etc/xen/xl.conf"
    cp "$here/init" "$stage/init"
    chmod 0755 "$stage/init"
    (cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) >"$cache/base.cpio.gz.tmp"
    mv "$cache/base.cpio.gz.tmp" "$cache/base.cpio.gz"
    rm -rf "$stage"
    zcat "$r"/boot/xen-4.17-amd64.gz >"$cache/xen.elf"
    cp "$r"/boot/vmlinuz-* "$cache/vmlinuz"
}

# One run at a time fetches and builds the shared cache.
exec 9>"$cache/.lock"
flock 9
fetch
base
flock -u 9

# ---- this run's files: the script and --add, appended as a second cpio --
run=$(mktemp -d "${TMPDIR:-/tmp}/xenbox.XXXXXX")
trap 'rm -rf "$run"' EXIT
mkdir -p "$run/stage/xenbox/bin"
cp "$script" "$run/stage/xenbox/script"
chmod 0755 "$run/stage/xenbox/script"
printf '%s\n' "$@" >"$run/stage/xenbox/args"
for a in "${adds[@]}"; do
    src=${a%%:*}
    dest=/xenbox/bin/$(basename "$src")
    [ "$a" != "$src" ] && dest=${a#*:}
    if [ -d "$src" ]; then
        mkdir -p "$run/stage$dest"
        cp -a "$src/." "$run/stage$dest/"
    else
        copy_with_libs "$run/stage" "$src" "$dest"
    fi
done
(cd "$run/stage" && find . | cpio -o -H newc --quiet | gzip -1) >"$run/extra.cpio.gz"
cat "$cache/base.cpio.gz" "$run/extra.cpio.gz" >"$run/initrd"

rm -f "$out/xenbox.status" "$out/console.log"
log "booting Xen (timeout ${timeout}s); console: $out/console.log"
set +e
timeout --foreground -k 5 "$timeout" qemu-system-x86_64 -accel tcg -cpu max \
    -smp 2 -m 2048 -display none -no-reboot -no-user-config -nodefaults \
    -serial "file:$out/console.log" \
    -kernel "$cache/xen.elf" \
    -append "console=com1 com1=115200,8n1 smap=0 dom0_mem=768M,max:768M dom0_max_vcpus=2 loglvl=all guest_loglvl=all" \
    -initrd "$cache/vmlinuz console=hvc0 quiet,$run/initrd" \
    -virtfs "local,path=$out,mount_tag=host,security_model=none,id=host"
qrc=$?
set -e
if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
    log "timed out after ${timeout}s"
    exit 124
fi
[ -f "$out/xenbox.status" ] || {
    log "dom0 never ran the script (QEMU exit $qrc); see $out/console.log"
    tail -n 30 "$out/console.log" >&2 || true
    exit 125
}
exit "$(cat "$out/xenbox.status")"
