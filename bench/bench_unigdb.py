# gdb's side of bench_unigdb.sh, sourced by gdb attached to a stub: times
# one memory dump (BENCH_SIZE bytes at BENCH_START, to BENCH_OUT) and BENCH_STEPS
# stepi's, printing "BENCH dump SECONDS" and "BENCH stepi SECONDS".
import os
import time

import gdb

gdb.execute("set pagination off")
start = int(os.environ["BENCH_START"], 0)
end = start + int(os.environ["BENCH_SIZE"], 0)
if end > start:
    t = time.perf_counter()
    gdb.execute("dump binary memory %s %#x %#x"
                % (os.environ["BENCH_OUT"], start, end))
    print("BENCH dump %.6f" % (time.perf_counter() - t))
steps = int(os.environ.get("BENCH_STEPS", "0"))
if steps:
    t = time.perf_counter()
    for _ in range(steps):
        gdb.execute("stepi", to_string=True)
    print("BENCH stepi %.6f" % (time.perf_counter() - t))
