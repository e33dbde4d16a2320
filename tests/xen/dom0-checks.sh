#!/bin/sh
# Runs inside dom0 (tests/xen/xenbox.sh): starts the demo kernel as PVH
# domUs and drives uniscope's tools against them through xen:NAME. Each
# step leaves what the tools printed in the shared folder (/host, our
# working directory); check_xen.sh judges it on the host. Every wait has a
# deadline; a step that fails is recorded and the next one still runs.
set -u
kernel=/xenbox/bin/demokernel.elf
gdbport=127.0.0.1:1234

say() { echo "dom0-checks: $*"; }

# wait_for SEC CMD...: run CMD until it succeeds; 1 after SEC seconds.
wait_for() {
    limit=$(($1 * 10))
    shift
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -ge "$limit" ] && return 1
        usleep 100000
    done
}

# domu NAME ARGS...: an xl config for the demo kernel as a PVH domU, on
# $VCPUS vCPUs (1 unless set).
domu() {
    name=$1
    shift
    cat >"/tmp/$name.cfg" <<EOF
name="$name"
type="pvh"
kernel="$kernel"
cmdline="$* name=$name"
memory=64
vcpus=${VCPUS:-1}
# TCG does not report RDTSCP lengths the way Xen's emulation expects
tsc_mode="native"
# under TCG each of Xen's CPUs has its own TSC: one CPU, one clock (an SMP
# domU's vCPUs share it)
cpus="1"
# a crashed guest stays for the tools to look at
on_crash="preserve"
EOF
    # xl itself has been seen to abort half-way ("malloc(): corrupted top
    # size", under load), leaving the domain paused: once more, anew
    if ! xl create -q "/tmp/$name.cfg" >"xl-create-$name.txt" 2>&1; then
        say "xl create $name failed, once more: $(cat "xl-create-$name.txt")"
        xl destroy "$name" >/dev/null 2>&1
        xl create -q "/tmp/$name.cfg" >>"xl-create-$name.txt" 2>&1 ||
            say "xl create $name failed: $(cat "xl-create-$name.txt")"
    fi
}

# gdb_batch FILE CMD...: the real gdb, through unigdb, on the demo image.
gdb_batch() {
    file=$1
    shift
    set -- -batch -nx -ex 'set pagination off' -ex 'set confirm off' \
        -ex "target remote $gdbport" "$@"
    gdb "$@" "$kernel" >"$file" 2>&1
}

# unigdb_serve TARGET LOG: one unigdb for one gdb session, ready to accept.
unigdb_serve() {
    unigdb "$1" --listen "$gdbport" --once >"$2" 2>&1 &
    wait_for 20 nc -z "${gdbport%:*}" "${gdbport#*:}"
}

domu demo scenario=work threads=3
domu crash scenario=crash threads=2 crash_after=1
xl list >xl-list.txt 2>&1

# 0. the agents are visible through xen:NAME
wait_for 60 unitrace list xen:demo || say "no agent in xen:demo"
unitrace list xen:demo >unitrace-list.txt 2>&1

# 1. unitop in dom0 lists the domU with its figures advancing
unitop -b -n 2 -d 1 --format json >unitop.json 2>unitop.err
echo $? >unitop.status

# 2. the real gdb through unigdb xen:demo
unigdb_serve xen:demo unigdb-1.log || say "unigdb did not listen"
gdb_batch gdb-break.txt -ex 'x/8xb sleep_ticks' -ex 'break sleep_ticks' \
    -ex continue -ex bt -ex 'info threads' -ex 'info registers rip cr3' \
    -ex stepi -ex 'info registers rip' -ex 'delete' -ex detach
echo $? >gdb-break.status
wait_for 10 sh -c '! pidof unigdb' || say "unigdb did not exit after detach"
# after detach: the code bytes are the image's and the guest still runs
unigdb_serve xen:demo unigdb-2.log || say "unigdb did not listen again"
gdb_batch gdb-after.txt -ex 'x/8xb sleep_ticks' -ex 'print demo_ticks' \
    -ex detach
wait_for 10 sh -c '! pidof unigdb'
unitop -b -n 2 -d 1 --format json >unitop-after.json 2>&1

# SMP: two vCPUs brought up with VCPUOP_up; the crash on vCPU 1 while
# vCPU 0 works on. Started here, once the gdb steps are done, and gone
# after its checks (4b): all domUs share one of Xen's two CPUs.
VCPUS=2 domu smp scenario=crash threads=1 crash_cpu=1 crash_after=2

# 3. unitrace record → CTF, read by babeltrace2 on the host
unitrace record xen:demo -o trace --duration 2 >unitrace-record.txt 2>&1
echo $? >unitrace-record.status

# 4. unicore dump of the crashed guest, analysed here and opened on the host
wait_for 60 sh -c 'unitop -b -n 1 --format json | grep -q panicked' ||
    say "crash never panicked"
unicore dump xen:crash -o crash.core >unicore-dump.txt 2>&1
echo $? >unicore-dump.status
unicore analyze crash.core --image "$kernel" >unicore-analyze.txt 2>&1
echo $? >unicore-analyze.status
xl list >xl-list-after.txt 2>&1

# 4b. the SMP domU: crashed on vCPU 1, vCPU 0 ticking on; its core
wait_for 90 grep -q PANIC /var/log/xen/console/guest-smp.log ||
    say "smp never panicked"
unitop -b -n 2 -d 1 --format json >unitop-smp.json 2>&1
unicore dump xen:smp -o smp.core >unicore-dump-smp.txt 2>&1
echo $? >unicore-dump-smp.status
unicore analyze smp.core --image "$kernel" >unicore-analyze-smp.txt 2>&1
xl destroy smp

# 5. bad input: one clear error each, never a crash
unicore dump xen:31999 -o nodomain.core >bad-domid.txt 2>&1
echo $? >bad-domid.status
unitrace list xen:no-such-domain >bad-name.txt 2>&1
echo $? >bad-name.status
# Xen refuses a foreign mapping of a domain's own memory: dom0's, here
unitrace list xen:0 >refused-map.txt 2>&1
echo $? >refused-map.status
unicore dump xen:0 -o dom0.core >refused-dump.txt 2>&1
echo $? >refused-dump.status
# a domain that dies mid-operation: destroy it under a running recorder
domu doomed scenario=work threads=2
wait_for 60 unitrace list xen:doomed
unitrace record xen:doomed -o doomed-trace --duration 30 >doomed.txt 2>&1 &
rec=$!
wait_for 20 test -d doomed-trace
xl destroy doomed
wait $rec
echo $? >doomed.status
xl dmesg >xl-dmesg.txt 2>&1
cp /var/log/xen/console/guest-*.log . 2>/dev/null
say "done"
exit 0
