# gdb's side of bench_unigdb.sh, sourced by gdb attached to a stub: times
# one memory dump (BENCH_SIZE bytes at BENCH_START, to BENCH_OUT; with
# BENCH_MONITOR set, through unigdb's "monitor dump") and BENCH_STEPS
# stepi's, printing "BENCH dump SECONDS" and "BENCH stepi SECONDS".
import os
import time

import gdb

gdb.execute("set pagination off")
start = int(os.environ["BENCH_START"], 0)
end = start + int(os.environ["BENCH_SIZE"], 0)
out = os.environ["BENCH_OUT"]
if end > start and os.environ.get("BENCH_MONITOR"):
    # unigdb writes the file itself: gdb only sends the command
    if os.path.exists(out):
        os.unlink(out)
    t = time.perf_counter()
    gdb.execute("monitor dump %s %#x %d" % (out, start, end - start))
    print("BENCH dump %.6f" % (time.perf_counter() - t))
elif end > start:
    t = time.perf_counter()
    gdb.execute("dump binary memory %s %#x %#x" % (out, start, end))
    print("BENCH dump %.6f" % (time.perf_counter() - t))
steps = int(os.environ.get("BENCH_STEPS", "0"))
if steps:
    t = time.perf_counter()
    for _ in range(steps):
        gdb.execute("stepi", to_string=True)
    print("BENCH stepi %.6f" % (time.perf_counter() - t))
