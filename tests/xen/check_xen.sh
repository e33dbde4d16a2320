#!/usr/bin/env bash
# The Xen acceptance test: boot a real Xen 4.17 under QEMU TCG
# (xenbox.sh), run dom0-checks.sh in dom0 against the demo kernel as PVH
# domUs, then judge what came back, on this host, with the real gdb and
# babeltrace2. One line per check: "ok NAME" or "FAIL NAME: why".
#
#   check_xen.sh --cache DIR --out DIR --kernel ELF TOOL...
#
# TOOLs: the unigdb, unicore, unitrace and unitop to test; --out keeps
# every file the run produced (consoles, gdb transcripts, core, trace).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache= out= kernel=
while [ $# -gt 0 ]; do
    case $1 in
    --cache) cache=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --kernel) kernel=$2; shift 2 ;;
    -*) echo "check_xen: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
[ -n "$cache" ] && [ -n "$out" ] && [ -n "$kernel" ] && [ $# -ge 4 ] || {
    sed -n '2,10p' "$0" >&2
    exit 2
}
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
kernel=$(cd "$(dirname "$kernel")" && pwd)/$(basename "$kernel")

adds=(--add "$kernel")
for t in "$@"; do adds+=(--add "$t"); done
"$here/xenbox.sh" --cache "$cache" --out "$out" --timeout 330 "${adds[@]}" \
    "$here/dom0-checks.sh"
rc=$?
if [ $rc -ne 0 ]; then
    echo "FAIL xenbox: exit $rc; see $out/console.log"
    exit 1
fi
cd "$out" || exit 1

failed=0
ok() { echo "ok $1"; }
fail() {
    echo "FAIL $1: $2"
    failed=1
}
# check NAME WHY CMD...: ok when CMD succeeds.
check() {
    local name=$1 why=$2
    shift 2
    if "$@" >/dev/null 2>&1; then ok "$name"; else fail "$name" "$why"; fi
}
status() { cat "$1.status" 2>/dev/null || echo missing; }

# -- unitop: the domU, named, on Xen, its agent's figures advancing --------
python3 - unitop.json unitop <<'PY'
import json, sys
path, what = sys.argv[1], sys.argv[2]
docs = []
text = open(path).read()
dec = json.JSONDecoder()
i = 0
while i < len(text):
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    doc, i = dec.raw_decode(text, i)
    docs.extend(doc if isinstance(doc, list) else [doc])
def demo(doc):
    for g in doc.get("guests", []):
        if g.get("name") == "demo":
            return g
    return None
seen = [demo(d) for d in docs]
if len(seen) < 2 or not all(seen):
    sys.exit(f"{what}: demo missing from {len(docs)} samples")
a, b = seen[0], seen[-1]
if a.get("hypervisor") != "xen":
    sys.exit(f"{what}: hypervisor {a.get('hypervisor')!r}")
def tick(g):
    for m in g.get("metrics") or []:
        if m.get("name") == "timer_ticks":
            return m.get("value")
    return None
if not (b["context_switches_total"] > a["context_switches_total"]
        and tick(b) is not None and tick(a) is not None and tick(b) > tick(a)):
    sys.exit(f"{what}: figures did not advance: {a} -> {b}")
PY
[ $? -eq 0 ] && ok unitop_json_lists_domu_advancing ||
    fail unitop_json_lists_domu_advancing "see unitop.json, unitop.err"

# -- gdb through unigdb xen:demo --------------------------------------------
check gdb_breakpoint_hit "no 'hit Breakpoint 1, sleep_ticks' in gdb-break.txt" \
    grep -Eq '(^|hit )Breakpoint 1, sleep_ticks' gdb-break.txt
check gdb_bt_reaches_thread_trampoline "bt lacks thread_trampoline" \
    grep -Eq '^#[0-9]+ .*thread_trampoline' gdb-break.txt
check gdb_info_threads_agent_names "info threads lacks worker-0" \
    grep -Eq 'worker-0' gdb-break.txt
if grep -Eq '^cr3 +0x[0-9a-f]*[1-9a-f][0-9a-f]*' gdb-break.txt; then
    ok gdb_info_registers_cr3
else
    fail gdb_info_registers_cr3 "no non-zero cr3 in gdb-break.txt"
fi
rips=$(grep -E '^rip ' gdb-break.txt | awk '{print $2}')
if [ "$(echo "$rips" | wc -l)" -ge 2 ] &&
    [ "$(echo "$rips" | sed -n 1p)" != "$(echo "$rips" | sed -n 2p)" ]; then
    ok gdb_stepi_moves_rip
else
    fail gdb_stepi_moves_rip "rip before/after stepi: $(echo $rips)"
fi
before=$(grep -m1 '<sleep_ticks>:' gdb-break.txt | tr -s ' \t' ' ')
after=$(grep -m1 '<sleep_ticks>:' gdb-after.txt | tr -s ' \t' ' ')
if [ -n "$before" ] && [ "$before" = "$after" ] &&
    ! echo "$after" | grep -q '0xcc'; then
    ok gdb_detach_restores_code
else
    fail gdb_detach_restores_code "before: $before; after: $after"
fi
python3 - unitop-after.json unitop-after <<'PY' 2>/dev/null
import json, sys
text = open(sys.argv[1]).read()
dec = json.JSONDecoder(); i = 0; docs = []
while i < len(text):
    while i < len(text) and text[i].isspace(): i += 1
    if i >= len(text): break
    d, i = dec.raw_decode(text, i); docs.extend(d if isinstance(d, list) else [d])
g = [[x for x in d["guests"] if x["name"] == "demo"][0] for d in docs]
sys.exit(0 if g[-1]["context_switches_total"] > g[0]["context_switches_total"] else 1)
PY
[ $? -eq 0 ] && ok guest_runs_after_detach ||
    fail guest_runs_after_detach "demo's figures stood still after detach"

# -- unitrace record xen:demo → CTF that babeltrace2 reads here -------------
if [ "$(status unitrace-record)" = 0 ]; then
    want=$(grep -Eo '[0-9]+ events in' unitrace-record.txt | head -n1 | awk '{print $1}')
    got=$(babeltrace2 trace 2>bt.err | wc -l)
    if [ -n "$want" ] && [ "$want" -gt 0 ] && [ "$got" = "$want" ]; then
        ok unitrace_record_read_by_babeltrace2
    else
        fail unitrace_record_read_by_babeltrace2 "reported ${want:-?}, babeltrace2 printed $got"
    fi
else
    fail unitrace_record_read_by_babeltrace2 "unitrace record: $(tail -n2 unitrace-record.txt)"
fi

# -- unicore dump xen:crash: gdb here shows the fault; analyze names it ----
if [ "$(status unicore-dump)" = 0 ] && [ -s crash.core ]; then
    gdb -batch -nx -ex bt "$kernel" crash.core >gdb-core.txt 2>&1
    check core_bt_in_gdb_shows_fault "gdb-core.txt lacks crash_level3" \
        grep -Eq 'crash_level3' gdb-core.txt
else
    fail core_bt_in_gdb_shows_fault "unicore dump: $(tail -n2 unicore-dump.txt)"
fi
check unicore_analyze_names_function "unicore-analyze.txt lacks crash_level3" \
    grep -q crash_level3 unicore-analyze.txt

# -- the SMP domU: 2 vCPUs up, the crash on vCPU 1, vCPU 0 running on ------
check smp_domu_two_vcpus_online "guest-smp.log lacks 'smp: 2 of 2 vCPUs online'" \
    grep -q 'smp: 2 of 2 vCPUs online' guest-smp.log
check smp_crash_recorded_on_vcpu1 "unicore-analyze-smp.txt lacks the crash on vCPU 1" \
    grep -Eq 'where +vCPU 1, thread crasher' unicore-analyze-smp.txt
check smp_core_has_two_vcpus "unicore-dump-smp.txt lacks '2 vCPUs'" \
    grep -q '2 vCPUs, guest had panicked' unicore-dump-smp.txt
python3 - unitop-smp.json <<'PY'
import json, sys
text = open(sys.argv[1]).read()
dec = json.JSONDecoder(); i = 0; docs = []
while i < len(text):
    while i < len(text) and text[i].isspace(): i += 1
    if i >= len(text): break
    d, i = dec.raw_decode(text, i); docs.extend(d if isinstance(d, list) else [d])
g = [[x for x in d["guests"] if x["name"] == "smp"][0] for d in docs]
tick = lambda x: [m["value"] for m in x["metrics"] if m["name"] == "timer_ticks"][0]
sys.exit(0 if len(g) >= 2 and g[0]["state"] == "panicked" and g[0]["vcpus"] == 2
         and tick(g[-1]) > tick(g[0]) else 1)
PY
[ $? -eq 0 ] && ok smp_vcpu0_ticks_after_the_crash ||
    fail smp_vcpu0_ticks_after_the_crash "see unitop-smp.json"
if [ "$(status unicore-dump-smp)" = 0 ] && [ -s smp.core ]; then
    gdb -batch -nx -ex bt -ex 'info threads' "$kernel" smp.core >gdb-core-smp.txt 2>&1
    # the two vCPUs (LWP 1, 2), the faulting one current; the agent threads
    # that were not running follow as LWP 3 and up
    check smp_core_bt_shows_the_fault_first "gdb-core-smp.txt: not both vCPUs, the current one in crash_level3" \
        sh -c 'grep -Eq "^[* ] +[0-9]+ +LWP 1 " gdb-core-smp.txt &&
            grep -Eq "^\* +[0-9]+ +LWP 2 .*crash_level3" gdb-core-smp.txt'
else
    fail smp_core_bt_shows_the_fault_first "unicore dump xen:smp: $(tail -n2 unicore-dump-smp.txt)"
fi

# -- bad input: one clear error, never a crash (status 1..127) -------------
clean_error() { # NAME FILE: failed with a status below 128, said something
    local s
    s=$(status "$2")
    if [ "$s" != missing ] && [ "$s" -gt 0 ] && [ "$s" -lt 128 ] &&
        [ "$(wc -l <"$2.txt")" -ge 1 ] && [ "$(wc -l <"$2.txt")" -le 3 ]; then
        ok "$1"
    else
        fail "$1" "status $s: $(head -c 300 "$2.txt")"
    fi
}
clean_error bad_domid_clear_error bad-domid
clean_error bad_name_clear_error bad-name
clean_error refused_mapping_clear_error refused-map
check refused_mapping_says_so "refused-map.txt does not name the refusal" \
    grep -q 'refuses a mapping' refused-map.txt
clean_error refused_dump_clear_error refused-dump
check refused_dump_leaves_no_core "dom0.core was written" test ! -e dom0.core
s=$(status doomed)
if [ "$s" != missing ] && [ "$s" -lt 128 ] && ! grep -qi 'sanitizer\|segmentation\|abort' doomed.txt; then
    ok domain_dies_mid_record
else
    fail domain_dies_mid_record "status $s: $(tail -c 300 doomed.txt)"
fi

exit $failed
