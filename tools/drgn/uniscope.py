"""drgn helpers for unikernels that link the uniscope agent.

The agent publishes a control block and its tables in guest memory
(include/uniscope/abi.h, docs/abi.md). These helpers read them from any
drgn Program that can read the guest's physical memory: a core written by
``unicore dump`` (or QEMU's dump-guest-memory), or a live guest's RAM file
(``open_live``), without pausing it. Guest memory is untrusted: every size
is bounded, every string cut at its field, and a table that lies raises
UniscopeError instead of reading far.

In drgn:   drgn -c CORE -s IMAGE    then
           >>> import sys; sys.path.insert(0, "tools/drgn"); from uniscope import *
           >>> for t in threads(prog): print(t.id, t.name, t.state)
As a tool: /usr/bin/python3 tools/drgn/uniscope.py CORE|NAME|RAMFILE [IMAGE]
"""

import mmap
import os
import struct
import sys
from collections import namedtuple

import drgn

__all__ = [
    "UniscopeError",
    "open_core",
    "open_live",
    "control_block",
    "threads",
    "metrics",
    "log_tail",
    "panic_record",
]

MAGIC = 0x45504F4353494E55  # "UNISCOPE" in memory order
PAGE = 4096
NOTE_NAME = b"USCOPE"
NOTE_TYPE = 0x55530001
NOTE_TYPE_THREADS = 0x55530003
NO_AGENT = (1 << 64) - 1

# Bounds a sane guest stays within; a table beyond them is refused.
MAX_ENTRIES = 1 << 16
MAX_LOG = 1 << 24

RUN_STATES = {0: "booting", 1: "running", 2: "panicked", 3: "halted"}
THREAD_STATES = {0: "free", 1: "runnable", 2: "running", 3: "blocked", 4: "exited"}
METRIC_KINDS = {1: "counter", 2: "gauge"}
SAVED_REGS = ("rip", "rsp", "rbp", "rbx", "r12", "r13", "r14", "r15")
FRAME_REGS = (
    "rax rbx rcx rdx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15 rip rflags"
).split()


class UniscopeError(Exception):
    """The guest has no agent, or its tables cannot be trusted."""


ControlBlock = namedtuple(
    "ControlBlock",
    "paddr name build_id ts_hz boot_ts max_vcpus state vcpus_online "
    "heartbeat_ts tables metrics_count threads_used log_head",
)
Thread = namedtuple(
    "Thread", "id name state vcpu cpu_seconds switches wait_obj regs"
)
Metric = namedtuple("Metric", "name kind unit value")
Panic = namedtuple(
    "Panic", "reason vcpu thread_id vector error_code cr2 count timestamp regs"
)

# usc_table entries of the header: name -> offset
_TABLES = {
    "metrics": 160,
    "threads": 184,
    "tracepoints": 208,
    "trace_rings": 232,
    "log": 256,
    "panic": 280,
}


def _read(prog, paddr, size):
    """Guest-physical bytes. A core leaves out pages of zeros (unicore
    dump's cores are sparse): read page by page, those as zeros, unless
    nothing at all can be read."""
    try:
        return prog.read(paddr, size, True)
    except drgn.FaultError as e:
        first = e
    out, got, at, end = bytearray(), False, paddr, paddr + size
    while at < end:
        n = min(end, (at // PAGE + 1) * PAGE) - at
        try:
            out += prog.read(at, n, True)
            got = True
        except drgn.FaultError:
            out += bytes(n)
        at += n
    if not got:
        raise UniscopeError("guest memory at 0x%x unreadable: %s" % (paddr, first))
    return bytes(out)


def _cstr(raw):
    """A NUL-terminated field as text; a field without its NUL is cut."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _checksum(header):
    """FNV-1a of the header with magic and checksum taken as zero (abi.h)."""
    h = 2166136261
    for i, c in enumerate(header):
        if i < 8 or 20 <= i < 24:
            c = 0
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h


def _check_block(raw, paddr):
    magic, version, size, hsize, cksum, self_paddr = struct.unpack_from(
        "<QIIIIQ", raw, 0
    )
    return (
        magic == MAGIC
        and version >= 1
        and size == PAGE
        and hsize == 512
        and self_paddr == paddr
        and _checksum(raw[:512]) == cksum
    )


def _uscope_notes(core_path):
    """(type, descriptor) of each USCOPE note of an ELF core's PT_NOTEs."""
    with open(core_path, "rb") as f:
        data = f.read(1 << 20)  # headers and notes come first
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(min(phnum, 4096)):
        at = phoff + i * phentsize
        if at + 56 > len(data):
            break
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data, at)
        if p_type != 4:  # PT_NOTE
            continue
        with open(core_path, "rb") as f:
            f.seek(p_offset)
            notes = f.read(min(p_filesz, 1 << 24))
        pos = 0
        while pos + 12 <= len(notes):
            namesz, descsz, ntype = struct.unpack_from("<III", notes, pos)
            name_at = pos + 12
            desc_at = name_at + ((namesz + 3) & ~3)
            end = desc_at + ((descsz + 3) & ~3)
            if desc_at + descsz > len(notes):
                break
            if notes[name_at : name_at + namesz].rstrip(b"\0") == NOTE_NAME:
                yield ntype, notes[desc_at : desc_at + descsz]
            pos = end


def _note_cb_paddr(core_path):
    """The control block's address from a uniscope core's USCOPE note."""
    for ntype, desc in _uscope_notes(core_path):
        if ntype == NOTE_TYPE and len(desc) >= 64:
            cb, = struct.unpack_from("<Q", desc, 56)
            return None if cb == NO_AGENT else cb
    return None


def core_lwps(core_path):
    """{agent thread id: LWP} of a uniscope core: the NT_PRSTATUS (drgn's
    prog.thread(LWP), gdb's "LWP n") that ``unicore dump`` wrote for each
    thread that was not running, with its saved registers."""
    for ntype, desc in _uscope_notes(core_path):
        if ntype != NOTE_TYPE_THREADS or len(desc) < 16:
            continue
        hdr_size, n, size = struct.unpack_from("<III", desc, 0)
        if hdr_size < 16 or size < 48 or n > 4096:
            return {}
        out = {}
        for i in range(n):
            at = hdr_size + i * size
            if at + 48 > len(desc):
                break
            lwp, tid = struct.unpack_from("<II", desc, at)
            out[tid] = lwp
        return out
    return {}


def _scan(prog, start, end):
    """Page by page through physical [start, end) for a valid block."""
    for paddr in range(start, end, PAGE):
        try:
            head = prog.read(paddr, 8, True)
        except drgn.FaultError:
            continue
        if struct.unpack("<Q", head)[0] == MAGIC:
            raw = _read(prog, paddr, PAGE)
            if _check_block(raw, paddr):
                return paddr
    return None


def _find(prog):
    """A Program drgn opened itself: the agent's symbol, else a scan."""
    try:
        sym = prog.symbol("usca_area")
        raw = prog.read(sym.address, PAGE)
        paddr, = struct.unpack_from("<Q", raw, 24)
        if _check_block(_read(prog, paddr, PAGE), paddr):
            return paddr
    except (LookupError, drgn.FaultError, UniscopeError):
        pass
    return _scan(prog, 0, 1 << 32)


def control_block(prog):
    """The agent's control block (ControlBlock), or UniscopeError."""
    if "uniscope_cb" not in prog.cache:
        prog.cache["uniscope_cb"] = _find(prog)
    paddr = prog.cache["uniscope_cb"]
    if paddr is None:
        raise UniscopeError("no uniscope agent found in this guest")
    raw = _read(prog, paddr, PAGE)
    if not _check_block(raw, paddr):
        raise UniscopeError("the control block at 0x%x is not valid" % paddr)
    tables = {}
    for name, off in _TABLES.items():
        tp, tv, esize, cap = struct.unpack_from("<QQII", raw, off)
        tables[name] = (tp, esize, cap)
    ts_hz, boot_ts, max_vcpus, bid_len = struct.unpack_from("<QQII", raw, 40)
    state, online, hb, mcount, tused = struct.unpack_from("<IIQII", raw, 512)
    log_head, = struct.unpack_from("<Q", raw, 544)
    return ControlBlock(
        paddr=paddr,
        name=_cstr(raw[96:160]),
        build_id=raw[64 : 64 + min(bid_len, 32)].hex(),
        ts_hz=ts_hz,
        boot_ts=boot_ts,
        max_vcpus=max_vcpus,
        state=RUN_STATES.get(state, "state %d" % state),
        vcpus_online=online,
        heartbeat_ts=hb,
        tables=tables,
        metrics_count=mcount,
        threads_used=tused,
        log_head=log_head,
    )


def _table(cb, name, entry_size, count=None):
    paddr, esize, cap = cb.tables[name]
    if esize != entry_size or cap > MAX_ENTRIES:
        raise UniscopeError("the %s table lies (entry %d, capacity %d)" % (name, esize, cap))
    n = cap if count is None else min(count, cap)
    return paddr, n


def _consistent(prog, paddr, size, tries=8):
    """A seqlock-guarded slot read while the guest may write it."""
    raw = _read(prog, paddr, size)
    for _ in range(tries):
        seq, = struct.unpack_from("<Q", raw, 0)
        if seq % 2 == 0:
            again = _read(prog, paddr, 8)
            if struct.unpack("<Q", again)[0] == seq:
                return raw
        raw = _read(prog, paddr, size)
    return raw  # a stopped guest may sit mid-write: take it as it stands


def threads(prog):
    """The agent's threads (Thread), exited and free slots left out."""
    cb = control_block(prog)
    paddr, n = _table(cb, "threads", 160, cb.threads_used)
    hz = cb.ts_hz or 1
    out = []
    for i in range(n):
        raw = _consistent(prog, paddr + 160 * i, 160)
        tid, state, vcpu, _ = struct.unpack_from("<IIII", raw, 8)
        if state in (0, 4):
            continue
        cpu, switches, _, wait = struct.unpack_from("<QQQQ", raw, 24)
        regs = dict(zip(SAVED_REGS, struct.unpack_from("<8Q", raw, 96)))
        out.append(
            Thread(
                id=tid,
                name=_cstr(raw[64:96]),
                state=THREAD_STATES.get(state, "state %d" % state),
                vcpu=vcpu,
                cpu_seconds=cpu / hz,
                switches=switches,
                wait_obj=wait,
                regs=regs if state != 2 else None,
            )
        )
    return out


def metrics(prog):
    """The agent's counters and gauges (Metric)."""
    cb = control_block(prog)
    paddr, n = _table(cb, "metrics", 64, cb.metrics_count)
    out = []
    for i in range(n):
        raw = _read(prog, paddr + 64 * i, 64)
        value, kind = struct.unpack_from("<QI", raw, 0)
        if kind == 2:
            value = struct.unpack_from("<q", raw, 0)[0]
        out.append(
            Metric(
                name=_cstr(raw[16:48]),
                kind=METRIC_KINDS.get(kind, "kind %d" % kind),
                unit=_cstr(raw[48:64]),
                value=value,
            )
        )
    return out


def log_tail(prog, nbytes=4096):
    """The end of the agent's console log ring, at most (nbytes), as text."""
    cb = control_block(prog)
    paddr, esize, cap = cb.tables["log"]
    if esize != 1 or cap == 0 or cap > MAX_LOG or cap & (cap - 1):
        raise UniscopeError("the log ring lies (capacity %d)" % cap)
    n = min(nbytes, cap, cb.log_head)
    start = cb.log_head - n
    ring = _read(prog, paddr, cap)
    at = start % cap
    raw = ring[at : at + n] + ring[: max(0, at + n - cap)]
    return raw.decode("utf-8", "replace")


def panic_record(prog):
    """The agent's panic record (Panic), or None if the guest has not panicked."""
    cb = control_block(prog)
    paddr, esize, cap = cb.tables["panic"]
    if esize != 456 or cap < 1:
        raise UniscopeError("the panic record lies (entry %d)" % esize)
    raw = _consistent(prog, paddr, 456)
    valid, vcpu, ts, vector, err, cr2, thread, count = struct.unpack_from(
        "<IIQQQQII", raw, 8
    )
    if not valid:
        return None
    regs = dict(zip(FRAME_REGS, struct.unpack_from("<18Q", raw, 184)))
    return Panic(
        reason=_cstr(raw[56:184]),
        vcpu=vcpu,
        thread_id=thread,
        vector=None if vector == (1 << 64) - 1 else vector,
        error_code=err,
        cr2=cr2,
        count=count,
        timestamp=ts,
        regs=regs,
    )


def _load_image(prog, image):
    if not image:
        return
    try:
        prog.load_debug_info([image])
    except drgn.MissingDebugInfoError:
        pass  # symbols of other files (none here) are what is missing


def open_core(core, image=None):
    """A drgn Program on a core file, its agent found through the core's
    USCOPE note (unicore dump) or, failing that, a scan of its memory."""
    prog = drgn.Program()
    prog.set_core_dump(core)
    _load_image(prog, image)
    cb = _note_cb_paddr(core)
    if cb is None:
        cb = _scan(prog, 0, 1 << 32)
    prog.cache["uniscope_cb"] = cb
    return prog


def _ram_file(target):
    """The RAM file of a unirun guest NAME, a qemu:...,mem=PATH, or a path."""
    if target.startswith("qemu:"):
        for opt in target[5:].split(","):
            if opt.startswith("mem="):
                return opt[4:]
        raise UniscopeError("%s: no mem= RAM file" % target)
    if os.path.exists(target):
        return target
    rundir = os.environ.get("UNISCOPE_RUNDIR")
    if not rundir:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        rundir = os.path.join(xdg, "uniscope") if xdg else "/tmp/uniscope-%d" % os.getuid()
    path = os.path.join(rundir, target, "mem")
    if not os.path.exists(path):
        raise UniscopeError("%s: no such guest" % target)
    return path


def open_live(target, image=None):
    """A drgn Program on a running guest's RAM file (unirun NAME,
    qemu:...,mem=PATH, or the file's path), read without pausing it.
    Physical memory only: the helpers here work; stacks need a core."""
    path = _ram_file(target)
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        ram = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
    finally:
        os.close(fd)
    prog = drgn.Program(
        drgn.Platform(
            drgn.Architecture.X86_64,
            drgn.PlatformFlags.IS_64_BIT | drgn.PlatformFlags.IS_LITTLE_ENDIAN,
        )
    )

    def read(address, count, offset, physical):
        return ram[offset : offset + count]

    # below the PCI hole, file offset = guest-physical address (docs/qemu.md)
    low = min(size, 0xC0000000)
    prog.add_memory_segment(0, low, read, True)
    _load_image(prog, image)
    cb = None
    at = ram.find(struct.pack("<Q", MAGIC))
    while at >= 0 and at < low:
        if at % PAGE == 0 and _check_block(ram[at : at + PAGE], at):
            cb = at
            break
        at = ram.find(struct.pack("<Q", MAGIC), at + 8)
    prog.cache["uniscope_cb"] = cb
    prog.cache["uniscope_ram"] = ram  # the mapping lives as long as prog
    return prog


def _main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print("usage: uniscope.py CORE|NAME|RAMFILE [IMAGE]")
        return 0 if len(argv) >= 2 else 2
    what = argv[1]
    image = argv[2] if len(argv) > 2 else None
    try:
        is_core = False
        with open(_ram_file(what) if not os.path.exists(what) else what, "rb") as f:
            is_core = f.read(4) == b"\x7fELF"
        prog = open_core(what, image) if is_core else open_live(what, image)
        cb = control_block(prog)
        print("guest %s, agent %s, %d vCPUs" % (cb.name, cb.state, cb.max_vcpus))
        for t in threads(prog):
            print("  thread %-4d %-20s %-9s vCPU %d" % (t.id, t.name, t.state, t.vcpu))
        for m in metrics(prog):
            print("  %-32s %20d %s" % (m.name, m.value, m.unit))
        p = panic_record(prog)
        if p:
            print("panic: %s (vCPU %d, thread %d)" % (p.reason, p.vcpu, p.thread_id))
        print(log_tail(prog, 1024), end="")
    except (UniscopeError, OSError, drgn.FaultError) as e:
        print("uniscope.py: %s: %s" % (what, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
