#!/usr/bin/python3
"""drgn (Debian's python3-drgn) on the demo kernel: a core unicore wrote,
opened by drgn itself, and tools/drgn/uniscope.py's helpers on that core
and on a live guest's RAM file. Tools and the image come from the
environment ctest sets (USC_UNIRUN, USC_UNICORE, USC_DEMOKERNEL)."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "drgn"))

import drgn  # noqa: E402
import uniscope  # noqa: E402

DEADLINE_S = 60  # TCG on a loaded machine: generous
UNIRUN = os.environ["USC_UNIRUN"]
UNICORE = os.environ["USC_UNICORE"]
IMAGE = os.environ["USC_DEMOKERNEL"]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def wait_for(cond, what):
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        if cond():
            check(True, what)
            return True
        time.sleep(0.05)  # polling pace, not synchronisation
    check(False, "in time: " + what)
    return False


def unirun(*args):
    return subprocess.run([UNIRUN, *args], capture_output=True, text=True, timeout=120)


def listed(name, state):
    out = unirun("--list").stdout
    return any(l.split()[:2] == [name, state] for l in out.splitlines()[1:])


def boot(name, args):
    r = unirun("--detach", "--accel", "tcg", "--memory", "64", "--name", name,
               IMAGE, "--", args + " name=" + name)
    check(r.returncode == 0, "unirun boots %s: %s" % (name, r.stderr.strip()))


def core_checks(core):
    prog = uniscope.open_core(core, IMAGE)
    # drgn itself: its threads (the core's NT_PRSTATUS notes), their stacks
    # (the first NT_PRSTATUS: the faulting vCPU's; the threads follow)
    trace = str(prog.crashed_thread().stack_trace())
    check("crash_level3" in trace, "drgn: the faulting vCPU's stack starts "
          "in crash_level3:\n" + trace)
    check(prog["demo_magic"].value_() == 0x05CA1AB1E0DDBA11,
          "drgn: a global by name (demo_magic)")
    names = {t.name: t for t in uniscope.threads(prog)}
    check({"worker-0", "worker-1", "crasher"} <= set(names),
          "helpers: the agent's threads by name: %s" % sorted(names))
    check(names.get("worker-0") and names["worker-0"].state == "blocked"
          and names["worker-0"].regs["rip"] != 0,
          "helpers: a sleeping thread's saved registers")
    # every thread that was not running is a drgn thread too, its stack
    # from its saved registers
    lwps = uniscope.core_lwps(core)
    tids = {t.tid for t in prog.threads()}
    for t in names.values():
        if t.state == "running":
            continue
        lwp = lwps.get(t.id)
        check(lwp in tids, "drgn: thread %s is prog.thread(%s) of %s"
              % (t.name, lwp, sorted(tids)))
        if lwp in tids:
            st = str(prog.thread(lwp).stack_trace())
            check("sleep_ticks" in st, "drgn: %s's stack reaches sleep_ticks:\n%s"
                  % (t.name, st))
    m = {x.name: x.value for x in uniscope.metrics(prog)}
    check(m.get("timer_ticks", 0) > 0, "helpers: metrics (timer_ticks)")
    p = uniscope.panic_record(prog)
    check(p is not None and p.reason.startswith("page fault") and p.vector == 14
          and p.cr2 == 0xDEADBEEF, "helpers: the panic record: %s" % (p,))
    check("PANIC: page fault" in uniscope.log_tail(prog),
          "helpers: the console log ring's tail")


def live_checks(name):
    prog = uniscope.open_live(name, IMAGE)
    names = [t.name for t in uniscope.threads(prog)]
    check("worker-0" in names, "live: threads by name: %s" % names)
    ticks = lambda: {x.name: x.value for x in uniscope.metrics(prog)}["timer_ticks"]
    first = ticks()
    wait_for(lambda: ticks() > first, "live: timer_ticks advance without a pause")


def main():
    rundir = tempfile.mkdtemp(prefix="usc-drgn-")
    os.environ["UNISCOPE_RUNDIR"] = rundir
    try:
        boot("dcrash", "scenario=crash threads=2")
        boot("dlive", "scenario=work threads=2")
        if wait_for(lambda: listed("dcrash", "panicked"), "dcrash panicked"):
            core = os.path.join(rundir, "crash.core")
            r = subprocess.run([UNICORE, "dump", "dcrash", "-o", core],
                               capture_output=True, text=True, timeout=120)
            check(r.returncode == 0, "unicore dump: %s" % r.stderr.strip())
            if r.returncode == 0:
                core_checks(core)
        if wait_for(lambda: listed("dlive", "running"), "dlive running"):
            live_checks("dlive")
        bad = os.path.join(rundir, "not-a-guest")
        with open(bad, "wb") as f:
            f.write(bytes(1 << 20))
        try:
            uniscope.threads(uniscope.open_live(bad))
            check(False, "a RAM file without an agent is refused")
        except uniscope.UniscopeError as e:
            check("no uniscope agent" in str(e), "no agent: one clear error")
    finally:
        for n in ("dcrash", "dlive"):
            unirun("--stop", n)
        shutil.rmtree(rundir, ignore_errors=True)
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
