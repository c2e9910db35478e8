# SPDX-License-Identifier: MIT
"""A post-mortem of an x86_64 machine that reset itself: a triple fault in Keel
(or in a guest QEMU runs directly) leaves its evidence in memory, which QEMU
throws away when it exits.

So x86_64 runs turn a reset into a pause (-action reboot=shutdown,shutdown=pause
instead of -no-reboot) and get a QMP socket. A thread waits for QEMU's SHUTDOWN
event. For a guest reset it first writes a post-mortem to the run's .qemu log:
every CPU's registers, and for each CPU with paging on, the walk of its page
tables for RIP, for the #PF and #DF gates of its IDT and for CR2, entry by
entry, so a table that changed under a running CPU shows where. Then, for any
shutdown, it tells QEMU to quit: the run ends as -no-reboot would have ended it.
"""

import json
import re
import socket
import time

ADDR_MASK = 0x000FFFFFFFFFF000
PRESENT = 1
LARGE = 1 << 7
LEVELS = ("PML4E", "PDPTE", "PDE", "PTE")
CR0_PG = 1 << 31
EFER_LMA = 1 << 10
IDT_GATE_BYTES = 16
VECTOR_PF = 14
VECTOR_DF = 8


def walk(read_u64, cr3, va):
    """The 4-level walk of @va from @cr3 with @read_u64(pa): ([(level, entry's
    address, entry)], the physical address or None, why it stopped)."""
    steps = []
    table = cr3 & ADDR_MASK
    for depth, name in enumerate(LEVELS):
        shift = 39 - 9 * depth
        at = table + ((va >> shift) & 511) * 8
        entry = read_u64(at)
        steps.append((name, at, entry))
        if not entry & PRESENT:
            return steps, None, f"{name} not present"
        if depth in (1, 2) and entry & LARGE:
            size = 1 << shift
            return steps, (entry & ADDR_MASK & ~(size - 1)) | (va & (size - 1)), "large page"
        table = entry & ADDR_MASK
    return steps, table | (va & 0xFFF), "4 KiB page"


CPU_HEAD = re.compile(r"^CPU#(\d+)", re.M)
REG = re.compile(r"\b(RIP|RSP|CR0|CR2|CR3|CR4|EFER)=([0-9a-fA-F]+)")
IDT = re.compile(r"^IDT=\s*([0-9a-fA-F]+)\s+([0-9a-fA-F]+)", re.M)
FLAG = re.compile(r"\b(CPL|HLT)=(\d)")
STACK_QWORDS = 16


def parse_cpus(text):
    """`info registers -a` as {cpu: {register: value}} (RIP, RSP, CRs, EFER, CPL,
    HLT, IDT base)."""
    cpus = {}
    heads = list(CPU_HEAD.finditer(text))
    for n, head in enumerate(heads):
        block = text[head.end():heads[n + 1].start() if n + 1 < len(heads) else len(text)]
        regs = {name: int(value, 16) for name, value in REG.findall(block)}
        regs.update({name: int(value) for name, value in FLAG.findall(block)})
        idt = IDT.search(block)
        if idt:
            regs["IDT"] = int(idt.group(1), 16)
        cpus[int(head.group(1))] = regs
    return cpus


def report(cpus, read_u64):
    """Lines describing each CPU's walks (paging off: said so)."""
    lines = []
    for cpu, regs in sorted(cpus.items()):
        if not (regs.get("CR0", 0) & CR0_PG and regs.get("EFER", 0) & EFER_LMA):
            lines.append(f"cpu {cpu}: not in long mode with paging on")
            continue
        targets = [("RIP", regs.get("RIP", 0)), ("CR2", regs.get("CR2", 0))]
        if "IDT" in regs:
            targets += [("#PF gate", regs["IDT"] + VECTOR_PF * IDT_GATE_BYTES),
                        ("#DF gate", regs["IDT"] + VECTOR_DF * IDT_GATE_BYTES)]
        lines.append(f"cpu {cpu}: CR3 {regs.get('CR3', 0):#x} RIP {regs.get('RIP', 0):#x} "
                     f"RSP {regs.get('RSP', 0):#x} CR2 {regs.get('CR2', 0):#x} "
                     f"CPL {regs.get('CPL', 0)} HLT {regs.get('HLT', 0)}")
        for what, va in targets:
            try:
                steps, pa, why = walk(read_u64, regs.get("CR3", 0), va)
            except (OSError, ValueError) as e:
                lines.append(f"  {what} {va:#x}: memory unreadable ({e})")
                continue
            path = ", ".join(f"{name}@{at:#x}={entry:#018x}" for name, at, entry in steps)
            end = f"-> {pa:#x}" if pa is not None else "-> nothing"
            lines.append(f"  {what} {va:#x}: {path} {end} ({why})")
        lines.append(stack(read_u64, regs.get("CR3", 0), regs.get("RSP", 0)))
    return lines


def stack(read_u64, cr3, rsp):
    """The @STACK_QWORDS quadwords at @rsp, each through the walk (a stack may
    cross a page), as one line: a call chain shows as return addresses."""
    words = []
    for i in range(STACK_QWORDS):
        va = rsp + 8 * i
        try:
            _, pa, _ = walk(read_u64, cr3, va)
            words.append(f"{read_u64(pa):#x}" if pa is not None else "unmapped")
        except (OSError, ValueError):
            words.append("unreadable")
        if words[-1] in ("unmapped", "unreadable"):
            break
    return f"  stack at {rsp:#x}: " + " ".join(words)


SUMMARY_HEAD = "# post-mortem summary"
SUMMARY_END = "# end of the post-mortem summary"


def summary(text):
    """The summary lines a post-mortem wrote into @text (a .qemu log), or []."""
    at = text.rfind(SUMMARY_HEAD)
    if at < 0:
        return []
    end = text.find(SUMMARY_END, at)
    return text[at:end if end >= 0 else len(text)].splitlines()[1:]


class Qmp:
    """A QMP connection: commands and their answers, events kept aside."""

    def __init__(self, path, timeout=30.0):
        end = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(str(path))
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
        self.file = self.sock.makefile("rwb", buffering=0)
        self.events = []
        self._read()  # the greeting
        self.command("qmp_capabilities")

    def _read(self):
        line = self.file.readline()
        if not line:
            raise EOFError("QMP closed")
        return json.loads(line)

    def command(self, name, **args):
        msg = {"execute": name, **({"arguments": args} if args else {})}
        self.file.write(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
            elif "return" in reply:
                return reply["return"]
            elif "error" in reply:
                raise ValueError(reply["error"].get("desc", "QMP error"))

    def hmp(self, line):
        return self.command("human-monitor-command", **{"command-line": line})

    def wait_event(self, name):
        while True:
            while self.events:
                ev = self.events.pop(0)
                if ev.get("event") == name:
                    return ev
            self.events.append(self._read())

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


XP = re.compile(r":\s*0x([0-9a-fA-F]+)\s*$")


def read_u64_via(qmp):
    def read_u64(pa):
        out = qmp.hmp(f"xp /1gx {pa:#x}").strip()
        m = XP.search(out)
        if not m:
            raise ValueError(out or "no answer")
        return int(m.group(1), 16)
    return read_u64


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def watch(path, log_path, note):
    """Until QEMU's first SHUTDOWN: a post-mortem to @log_path if the guest reset
    the machine (@note(line) says so in the run's log), then quit."""
    try:
        qmp = Qmp(path)
    except OSError:
        return  # QEMU died before it listened: nothing to keep
    try:
        if qmp.command("query-status").get("status") == "shutdown":
            # It stopped before this connected, and QMP keeps no old events.
            reset = "Triple fault" in read_text(log_path)
        else:
            reset = qmp.wait_event("SHUTDOWN").get("data", {}).get("reason") == "guest-reset"
        if reset:
            try:
                post_mortem(qmp, log_path, note)
            except (OSError, ValueError) as e:
                note(f"# post-mortem of the reset failed: {e}")
        qmp.command("quit")
    except (OSError, EOFError, ValueError):
        pass  # QEMU went away (killed, or quit): nothing more to do
    finally:
        qmp.close()


def post_mortem(qmp, log_path, note):
    regs = qmp.hmp("info registers -a")
    lines = report(parse_cpus(regs), read_u64_via(qmp))
    with open(log_path, "a", encoding="utf-8") as f:
        f.write("\n# post-mortem at the reset (QEMU paused)\n" + regs + "\n")
        f.write("\n".join([SUMMARY_HEAD, *lines, SUMMARY_END]) + "\n")
    walks = [l.strip() for l in lines if l.startswith("  RIP") or "not present" in l]
    said = " | ".join(walks)[:2000] if walks else "no CPU had long-mode paging on"
    note(f"# post-mortem of the reset in {log_path}: {said}")
