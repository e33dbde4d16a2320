#!/usr/bin/env bash
# Proves the freestanding agent archive's promises: the only symbols it
# needs from outside are the port hooks, and its text fits in 16 KiB.
set -euo pipefail
lib=${1:?usage: check_agent_archive.sh libuniscope-agent.a}
port="usca_port_irq_restore usca_port_irq_save usca_port_timestamp usca_port_vcpu usca_port_virt_to_phys"

defined=$(nm --defined-only "$lib" | awk 'NF == 3 { print $3 }' | sort -u)
needed=$(nm --undefined-only "$lib" | awk 'NF == 2 { print $2 }' | sort -u)
outside=$(comm -23 <(echo "$needed") <(echo "$defined"))
extra=$(comm -23 <(echo "$outside") <(tr ' ' '\n' <<<"$port" | sort))
if [ -n "$extra" ]; then
    echo "FAIL: undefined symbols beyond the port hooks:" $extra
    exit 1
fi
echo "undefined symbols (port hooks only):" $outside

text=$(size "$lib" | awk 'NR > 1 { t += $1 } END { print t }')
echo "text: $text bytes (limit 16384)"
if [ "$text" -gt 16384 ]; then
    echo "FAIL: text over 16 KiB"
    exit 1
fi
bare=$(nm --defined-only --extern-only "$lib" | awk 'NF == 3 && $3 !~ /^usca_/ { print $3 }')
if [ -n "$bare" ]; then
    echo "FAIL: exported symbols without the usca_ prefix:" $bare
    exit 1
fi
echo "PASS"
