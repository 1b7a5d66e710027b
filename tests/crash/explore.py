#!/usr/bin/env python3
"""explore.py - the crash-state explorer: rebuild the states a power loss
could leave a store in, from a recording of its writes and syncs
(record.c), and check that each opens and passes `govc fsck`.

    explore.py GOVC INITIAL_DIR LOG [--states N] [--seed S] [--keep DIR]

INITIAL_DIR holds the store's files as they were (durably) when the
recording began.  The model, after ALICE and CrashMonkey: a file's
content survives up to its last fsync/fdatasync; the writes after it
reach the disk in any subset (each state draws one, applied in their
order, the order being what decides overlapping writes); a rename survives
once its directory is fsync'd, before that it may or may not have.  Crash
points: every sync, and random points between them.  Prints the number of
states explored and how many failed, and exits 1 if any did.
"""
import os, random, shutil, struct, subprocess, sys, tempfile

def read_log(path):
    ops = []
    with open(path, "rb") as f:
        data = f.read()
    i = 0
    while i < len(data):
        t = chr(data[i]); i += 1
        la, = struct.unpack_from("<I", data, i); i += 4
        a = data[i:i + la].decode(); i += la
        lb, = struct.unpack_from("<I", data, i); i += 4
        b = data[i:i + lb].decode(); i += lb
        off, n = struct.unpack_from("<QQ", data, i); i += 16
        payload = data[i:i + n]; i += n
        ops.append((t, a, b, off, payload, i))   # i: where the record ends
    return ops

class File:
    def __init__(self, content=b""):
        self.durable = bytearray(content)   # what a crash keeps for sure
        self.pending = []                   # ('W', off, bytes) | ('T', size)
    def current(self):
        c = bytearray(self.durable)
        for op in self.pending:
            apply(c, op)
        return c

def apply(c, op):
    if op[0] == "W":
        off, b = op[1], op[2]
        if len(c) < off:
            c.extend(b"\0" * (off - len(c)))
        c[off:off + len(b)] = b
    else:
        size = op[1]
        del c[size:]
        if len(c) < size:
            c.extend(b"\0" * (size - len(c)))

class Model:
    def __init__(self, root, initial):
        self.root = root
        self.live = {}        # name -> File
        for n in os.listdir(initial):
            p = os.path.join(initial, n)
            if os.path.isfile(p) and n != "lock.mdb":
                self.live[n] = File(open(p, "rb").read())
        self.durable_names = dict(self.live)
        self.pending_renames = []   # (from, to) since the last dir sync

    def name(self, path):
        return os.path.relpath(path, self.root)

    def step(self, op):
        t, a, b, off, payload = op[:5]
        n = self.name(a)
        if t == "W":
            f = self.live.setdefault(n, File())
            f.pending.append(("W", off, payload))
        elif t == "T":
            f = self.live.setdefault(n, File())
            f.pending.append(("T", off))
        elif t == "S":
            if n == ".":
                self.durable_names = dict(self.live)
                self.pending_renames = []
            elif n in self.live:
                f = self.live[n]
                f.durable = f.current()
                f.pending = []
        elif t == "R":
            m = self.name(b)
            if n in self.live:
                self.live[m] = self.live.pop(n)
                self.pending_renames.append((n, m))

    def crash_state(self, rng, full=None):
        """the files a crash now could leave: FULL True (every write
        arrived), False (none after the syncs) or None (random)"""
        names = dict(self.durable_names)
        k = len(self.pending_renames) if full else 0 if full is False else \
            rng.randint(0, len(self.pending_renames))
        for (a, b) in self.pending_renames[:k]:   # in order, a prefix
            if a in names:
                names[b] = names.pop(a)
        out = {}
        for n, f in names.items():
            c = bytearray(f.durable)
            for op in f.pending:
                if full or (full is None and rng.random() < 0.5):
                    apply(c, op)
            out[n] = bytes(c)
        return out

def check(govc, files, keep, idx, durable=None):
    d = tempfile.mkdtemp(prefix="govc-crash-")
    try:
        for n, c in files.items():
            if "/" in n or n.startswith(".."):
                continue
            with open(os.path.join(d, n), "wb") as f:
                f.write(c)
        env = dict(os.environ, GOVC_BOOT_ID="after-the-crash")
        env.pop("LD_PRELOAD", None)
        r = subprocess.run([govc, "fsck", d], env=env, capture_output=True, timeout=120)
        ok = r.returncode == 0
        if ok and durable:
            # an fsync'd change must be there: REPO's history names WORD
            lg = subprocess.run([govc, "log", d, durable[0]], env=env, capture_output=True,
                                timeout=60)
            ok = lg.returncode == 0 and durable[1].encode() in lg.stdout
            if not ok:
                r = lg
        if not ok and keep:
            dst = os.path.join(keep, "state-%d" % idx)
            shutil.copytree(d, dst)
            with open(dst + ".fsck", "wb") as f:
                f.write(r.stdout + r.stderr)
        return ok
    finally:
        shutil.rmtree(d, ignore_errors=True)

def main():
    a = sys.argv[1:]
    govc, initial, log = a[0], a[1], a[2]
    states = int(a[a.index("--states") + 1]) if "--states" in a else 300
    seed = int(a[a.index("--seed") + 1]) if "--seed" in a else 1
    keep = a[a.index("--keep") + 1] if "--keep" in a else None
    root = os.path.realpath(a[a.index("--root") + 1]) if "--root" in a else None
    # --durable OFFSET REPO WORD: an fsync returned once the log was OFFSET
    # bytes long; every crash after that must keep REPO's commit naming WORD
    dur = None
    if "--durable" in a:
        k = a.index("--durable")
        dur = (int(a[k + 1]), a[k + 2], a[k + 3])
    durable_checked = 0
    ops = read_log(log)
    if root is None:
        root = os.path.dirname(ops[0][1]) if ops else initial
    rng = random.Random(seed)
    syncs = [i for i, op in enumerate(ops) if op[0] == "S"]
    # crash points: after every sync, and random points between
    points = set(syncs)
    while len(points) < min(states, len(ops)):
        points.add(rng.randrange(len(ops)))
    points = sorted(points)
    m = Model(root, initial)
    done = bad = 0
    j = 0
    for i, op in enumerate(ops):
        m.step(op)
        while j < len(points) and points[j] == i:
            want = (dur[1], dur[2]) if dur and op[5] >= dur[0] else None
            for full in (False, True, None):
                if not check(govc, m.crash_state(rng, full), keep, done, want):
                    bad += 1
                done += 1
                durable_checked += want is not None
            j += 1
    print("crash states explored: %d (from %d writes, syncs and renames, %d sync points); "
          "failed: %d; of them after the fsync, checked to keep it: %d"
          % (done, len(ops), len(syncs), bad, durable_checked))
    sys.exit(1 if bad else 0)

main()
