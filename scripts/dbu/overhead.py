"""Engine overhead benchmark (design.md section 10, first two targets).

Runs fio's own io_uring engine (fixedbufs=1) and dmabuf_uring
(dmabuf_src=host dmabuf_attach=pages) with the same ring options on the
same target, alternating A/B (ABBA order) for several rounds, and t/io_uring
(fio's peak tool) with matching flags.  Prints per queue depth the IOPS and
the CPU time per I/O of each, and the ratios dmabuf_uring/io_uring and
dmabuf_uring/t_io_uring as the median over rounds with their spread.

CPU per I/O = (usr_cpu + sys_cpu)% x job_runtime / total_ios, from fio's
JSON (--output-format=json --output=FILE); the ramp time is excluded (fio
resets its rusage when the ramp ends).  For t/io_uring it is the child's
rusage over the I/Os it reported, start-up included (approximate).

Targets: IOPS >= 0.98x and CPU/I/O <= 1.02x of io_uring at every QD.

With --vm the benchmark runs in the QEMU rig against a guest device
(--target, default /dev/nullb0; also /dev/nvme0n1), by default in
deterministic mode: guest time counts guest instructions, so each figure
repeats across boots within about 0.5 % and ns/IO is the instructions one
I/O costs (fio, engine, io_uring, block layer). One round of a few seconds
is enough there; the IOPS target is 1.00x (docs/deterministic.md).

Progress goes to stderr, results to stdout.  Exit status: 0 when every run
worked (with --check: and every target was met), 1 when a target was
missed under --check, 2 on a failed run or bad arguments.

This is a benchmark, not a test: on a shared or noisy machine use more
rounds and a longer runtime and read the spread before the medians.
"""

import argparse
import errno
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
FIO_SRC = BUILD / "fio-src" / "fio-3.33"
DEFAULT_TARGET = "/var/tmp/dmabuf-bench-overhead.dat"
TARGET_IOPS = 0.98
TARGET_CPU = 1.02
TARGET_IOPS_ICOUNT = 1.00
VM_DEFAULT_TARGET = "/dev/nullb0"

ENGINES = {
    "io_uring": ["--ioengine=io_uring", "--fixedbufs=1"],
    "dmabuf_uring": ["--ioengine=dmabuf_uring", "--dmabuf_src=host",
                     "--dmabuf_attach=pages"],
}
T_IO_URING = "t_io_uring"


class BenchError(Exception):
    pass


def log(msg):
    print(f"overhead: {msg}", file=sys.stderr, flush=True)


def parse_size(text):
    m = re.fullmatch(r"(\d+)([kKmMgG]?)(i?[bB])?", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 4k, 1g)")
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]
    return int(m.group(1)) * mult


def parse_qds(text):
    try:
        qds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of depths: {text!r}")
    if not qds or any(q < 1 or q > 4096 for q in qds):
        raise argparse.ArgumentTypeError(f"depths must be 1..4096: {text!r}")
    return qds


def add_arguments(p):
    p.add_argument("--target", metavar="PATH",
                   help="file or block device to read (default: create "
                   f"{DEFAULT_TARGET}, --size bytes, and keep it for the "
                   "next run). Only read, never written, when given")
    p.add_argument("--size", type=parse_size, default=1 << 30,
                   help="size of the created target (default 1g)")
    p.add_argument("--runtime", type=int, default=None, metavar="S",
                   help="seconds per measured run (default 10; --vm: 2)")
    p.add_argument("--ramp", type=int, default=1, metavar="S",
                   help="fio ramp_time, excluded from the figures (default 1)")
    p.add_argument("--rounds", type=int, default=None, metavar="N",
                   help="A/B rounds per queue depth (default 5; --vm "
                        "deterministic: 1, the figures repeat)")
    p.add_argument("--qd", type=parse_qds, default=[1, 128], metavar="LIST",
                   help="queue depths, comma separated (default 1,128)")
    p.add_argument("--bs", default="4k", help="block size (default 4k)")
    p.add_argument("--rw", default="randread", choices=["randread", "read"],
                   help="access pattern (default randread)")
    p.add_argument("--no-registerfiles", action="store_true",
                   help="do not register files (default: registerfiles=1 "
                   "for both engines, -F1 for t/io_uring)")
    p.add_argument("--hipri", action="store_true",
                   help="polled completions (hipri for both, -p1 for "
                   "t/io_uring); needs a poll-capable device")
    p.add_argument("--fio-arg", action="append", default=[], metavar="ARG",
                   help="extra fio argument for both engines, e.g. "
                   "--fio-arg=--iodepth_batch_submit=32 (repeatable)")
    p.add_argument("--fio", default="fio", help="fio binary (default: fio "
                   "from PATH; it must be the version the engine was built for)")
    p.add_argument("--engine-dir", default=str(BUILD), metavar="DIR",
                   help=f"where fio-dmabuf_uring.so is (default {BUILD})")
    p.add_argument("--t-io-uring", default=str(FIO_SRC / "t" / "io_uring"),
                   metavar="PATH", help="t/io_uring binary (built with make "
                   "in the fio source tree when missing)")
    p.add_argument("--no-t-io-uring", action="store_true",
                   help="skip the t/io_uring runs")
    p.add_argument("--keep", metavar="DIR",
                   help="keep every fio JSON and log in DIR")
    p.add_argument("--json", metavar="FILE",
                   help="also write the results as JSON to FILE")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when a target is missed")
    p.add_argument("--vm", action="store_true",
                   help="run in the QEMU rig on a guest device (--target, "
                        f"default {VM_DEFAULT_TARGET})")
    p.add_argument("--iommu", default="off", choices=["off", "strict", "lazy", "pt"],
                   help="--vm: the guest's IOMMU mode (default off)")
    p.add_argument("--timeout", type=float, default=1800, metavar="S",
                   help="--vm: bound the boot (default 1800)")
    p.add_argument("--platform", default="", help=argparse.SUPPRESS)
    from .vm import add_deterministic
    add_deterministic(p, default=None)


def add_parser(subparsers):
    p = subparsers.add_parser(
        "overhead", help="dmabuf_uring vs fio's io_uring and t/io_uring: "
        "IOPS and CPU per I/O",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


# ---------------------------------------------------------------- target

def make_target(path, size):
    try:
        st = os.stat(path)
        if st.st_size == size:
            log(f"reusing {path} ({size} bytes)")
            return
    except FileNotFoundError:
        pass
    log(f"creating {path}: {size} bytes of data (not sparse, so reads "
        "reach the device)")
    chunk = os.urandom(1 << 20)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        left = size
        while left:
            n = min(left, len(chunk))
            f.write(chunk[:n])
            left -= n
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def probe_direct(path):
    """(True, '') when O_DIRECT opens and reads, else (False, why)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    except OSError as e:
        if e.errno == errno.EINVAL:
            return False, "the filesystem refuses O_DIRECT (EINVAL)"
        raise BenchError(f"opening {path}: {e.strerror}")
    try:
        import mmap
        buf = mmap.mmap(-1, 4096)
        os.preadv(fd, [buf], 0)
        return True, ""
    except OSError as e:
        return False, f"an O_DIRECT read fails ({e.strerror})"
    finally:
        os.close(fd)


def target_bytes(path):
    with open(path, "rb") as f:
        return f.seek(0, os.SEEK_END)


def fs_name(path):
    """Filesystem type of the mount holding path (longest mount prefix)."""
    real = os.path.realpath(path)
    best, kind = "", "?"
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                dev, mnt, typ = line.split()[:3]
                mnt = mnt.replace("\\040", " ")
                if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) \
                        and len(mnt) >= len(best):
                    best, kind = mnt, f"{typ} on {dev}"
    except OSError:
        pass
    return kind


# ---------------------------------------------------------------- runs

def fio_cmd(args, engine, qd, direct, out):
    cmd = [args.fio, "--name=overhead", f"--filename={args.target}",
           *ENGINES[engine], f"--direct={int(direct)}", f"--rw={args.rw}",
           f"--bs={args.bs}", f"--iodepth={qd}", "--time_based",
           f"--runtime={args.runtime}", f"--ramp_time={args.ramp}",
           "--norandommap", "--randrepeat=0", "--group_reporting",
           "--output-format=json", f"--output={out}"]
    if not args.no_registerfiles:
        cmd.append("--registerfiles=1")
    if args.hipri:
        cmd.append("--hipri=1")
    return cmd + args.fio_arg


def run_timeout(args, slack):
    """A bound for one run; none in the deterministic guest, whose clock
    jumps ahead while it waits for the host (loading binaries over 9p):
    the rig's own --timeout bounds the boot in host time there."""
    if args.platform == "vm-icount":
        return None
    return args.runtime + args.ramp + slack


def run_fio(args, engine, qd, direct, workdir, tag):
    out = os.path.join(workdir, f"{tag}.json")
    cmd = fio_cmd(args, engine, qd, direct, out)
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = ":".join(
        x for x in (args.engine_dir, env.get("LD_LIBRARY_PATH")) if x)
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True,
                           timeout=run_timeout(args, 120))
    except subprocess.TimeoutExpired:
        raise BenchError(f"{engine} QD{qd} did not finish: {shlex.join(cmd)}")
    with open(os.path.join(workdir, f"{tag}.log"), "w") as f:
        f.write(shlex.join(cmd) + "\n" + p.stdout + p.stderr)
    try:
        with open(out) as f:
            text = f.read()
        # fio may print notes before the JSON document.
        data = json.loads(text[text.index("{"):])
        job = data["jobs"][0]
    except (OSError, ValueError, KeyError, IndexError):
        job = None
    if p.returncode or job is None or job.get("error"):
        raise BenchError(
            f"{engine} QD{qd} failed (exit {p.returncode}):\n  "
            f"{shlex.join(cmd)}\n" + (p.stderr or p.stdout).strip()[-2000:])
    ios = sum(job[d]["total_ios"] for d in ("read", "write", "trim"))
    runtime_s = job["job_runtime"] / 1000.0
    cpu = (job["usr_cpu"] + job["sys_cpu"]) / 100.0
    if not ios or not runtime_s:
        raise BenchError(f"{engine} QD{qd}: no I/O was done ({out})")
    return {"iops": ios / runtime_s, "cpu_us": cpu * runtime_s / ios * 1e6,
            "usr": job["usr_cpu"], "sys": job["sys_cpu"], "ios": ios,
            "ctx": job.get("ctx", 0),
            "lat_us": job["read"]["lat_ns"]["mean"] / 1000.0}


def ensure_t_io_uring(args):
    path = Path(args.t_io_uring)
    if path.is_file() and os.access(path, os.X_OK):
        return str(path)
    if path != FIO_SRC / "t" / "io_uring":
        raise BenchError(f"t/io_uring not found at {path}")
    if not (FIO_SRC / "config-host.h").exists():
        raise BenchError(f"t/io_uring is missing and {FIO_SRC} is not "
                         "configured; build the project first "
                         "(cmake --build build) or pass --no-t-io-uring")
    log(f"building t/io_uring: make -C {FIO_SRC} t/io_uring")
    p = subprocess.run(["make", "-C", str(FIO_SRC), "t/io_uring"],
                       capture_output=True, text=True)
    if p.returncode:
        raise BenchError("building t/io_uring failed:\n" + p.stderr[-2000:])
    return str(path)


# t/io_uring prints one line a second: IOPS=N below 100K, IOPS=N.NNK and
# IOPS=N.NNM above (t/io_uring.c); anything else on a line is not a sample.
T_LINE = re.compile(r"^IOPS=([0-9]+(?:\.[0-9]+)?)([KM]?), BW=", re.M)
T_UNIT = {"": 1, "K": 1e3, "M": 1e6}
T_FAILED = re.compile(r"^(io: unexpected ret|Your filesystem/driver/kernel doesn't"
                      r"|io_submit:|passthrough doesn't)", re.M)


def parse_t_io_uring(text, ramp):
    """Per-second IOPS of a t/io_uring run and the steady ones: the first
    ramp + 1 lines dropped (the first holds thread start and registration,
    the second still runs high at QD 1). ValueError when it failed or
    stopped early."""
    per_sec = [float(v) * T_UNIT[u] for v, u in T_LINE.findall(text)]
    if T_FAILED.search(text) or "Exiting on timeout" not in text or not per_sec:
        raise ValueError("t/io_uring failed or stopped before its runtime")
    return per_sec, per_sec[ramp + 1:] or per_sec


def run_t_io_uring(args, tbin, qd, direct, workdir, tag):
    batch = min(qd, 32)
    # -rN prints N-1 lines (the last second ends the run unprinted); the
    # first ramp + 1 of them are dropped.
    cmd = [tbin, f"-d{qd}", f"-s{batch}", f"-c{batch}",
           f"-b{parse_size(args.bs)}", f"-p{int(args.hipri)}", "-B1",
           f"-F{0 if args.no_registerfiles else 1}", f"-O{int(direct)}",
           "-n1", f"-R{int(args.rw == 'randread')}",
           f"-r{args.runtime + args.ramp + 2}", args.target]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        text, _ = proc.communicate(timeout=run_timeout(args, 60))
    except subprocess.TimeoutExpired:
        proc.kill()
        raise BenchError(f"t/io_uring QD{qd} did not stop: {shlex.join(cmd)}")
    # Popen reaped it; its rusage is in RUSAGE_CHILDREN deltas, taken below.
    with open(os.path.join(workdir, f"{tag}.log"), "w") as f:
        f.write(shlex.join(cmd) + "\n" + text)
    try:
        per_sec, steady = parse_t_io_uring(text, args.ramp)
    except ValueError as e:
        per_sec = None
        why = str(e)
    if proc.returncode or not per_sec:
        raise BenchError(f"t/io_uring QD{qd} failed (exit {proc.returncode}"
                         f"{'' if per_sec else ', ' + why}):"
                         f"\n  {shlex.join(cmd)}\n{text.strip()[-2000:]}")
    return {"iops": statistics.mean(steady), "ios": sum(per_sec),
            "cmd": shlex.join(cmd)}


def children_cpu():
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------- report

def spread(values):
    return (min(values), max(values)) if values else (float("nan"),) * 2


def summarize(rounds):
    """rounds: list of {engine: result}; medians and paired ratios."""
    names = list(rounds[0])
    s = {}
    for n in names:
        s[n] = {k: statistics.median(r[n][k] for r in rounds)
                for k in ("iops", "cpu_us") if k in rounds[0][n]}
    ratios = {}
    for n in names:
        if n == "dmabuf_uring":
            continue
        for k in ("iops", "cpu_us"):
            if k not in rounds[0][n]:
                continue
            vals = [r["dmabuf_uring"][k] / r[n][k] for r in rounds]
            ratios[f"{k}/{n}"] = {"median": statistics.median(vals),
                                  "min": min(vals), "max": max(vals),
                                  "rounds": vals}
    return s, ratios


def print_report(args, meta, results, out=sys.stdout):
    w = out.write
    w(f"dmabuf_uring overhead: {meta['target']} ({meta['fs']}, "
      f"{meta['target_bytes']} bytes), rw={args.rw} bs={args.bs}, "
      f"{args.rounds} rounds x {args.runtime}s (+{args.ramp}s ramp), "
      f"direct={int(meta['direct'])}"
      + ("" if meta["direct"] else f" [no O_DIRECT: {meta['why']}]") + "\n")
    w(f"ring options (both engines): {meta['ring_opts']}\n")
    w(f"host: {meta['host']}" + (f", platform {meta['platform']}" if meta.get("platform")
                                  else "") + "\n")
    if meta.get("platform") == "vm-icount":
        w("deterministic rig: guest time counts guest instructions; ns/IO is the "
          "instructions one I/O costs\n")
    target_iops = meta["target_iops"]
    missed = []
    for qd in args.qd:
        rounds = results[qd]
        s, ratios = summarize(rounds)
        w(f"\nQD {qd}\n")
        w(f"  {'engine':<14}{'IOPS (median)':>15}{'min':>11}{'max':>11}{'ns/IO':>9}"
          f"{'CPU/IO us':>12}{'min':>9}{'max':>9}\n")
        for n in rounds[0]:
            iops = [r[n]["iops"] for r in rounds]
            lo, hi = spread(iops)
            line = (f"  {n:<14}{s[n]['iops']:>15.0f}{lo:>11.0f}{hi:>11.0f}"
                    f"{1e9 / s[n]['iops']:>9.0f}")
            if "cpu_us" in rounds[0][n]:
                c = [r[n]["cpu_us"] for r in rounds]
                clo, chi = spread(c)
                line += f"{s[n]['cpu_us']:>12.2f}{clo:>9.2f}{chi:>9.2f}"
            else:
                line += f"{'-':>12}"
            w(line + "\n")
        w("  ratios dmabuf_uring / other (median over rounds [min..max]):\n")
        for key, r in ratios.items():
            what, other = key.split("/")
            label = {"iops": "IOPS", "cpu_us": "CPU/IO"}[what]
            verdict = ""
            if other == "io_uring":
                ok = (r["median"] >= target_iops if what == "iops"
                      else r["median"] <= TARGET_CPU)
                goal = (f">= {target_iops:.2f}" if what == "iops"
                        else f"<= {TARGET_CPU}")
                verdict = f"  target {goal}: {'met' if ok else 'MISSED'}"
                if not ok:
                    missed.append(f"QD{qd} {label}")
            w(f"    {label:<7}vs {other:<11}{r['median']:7.3f} "
              f"[{r['min']:.3f}..{r['max']:.3f}]{verdict}\n")
        w("    per round: " + "  ".join(
            f"{k.split('/')[0]}/{k.split('/')[1]}=" +
            ",".join(f"{v:.3f}" for v in r["rounds"])
            for k, r in ratios.items() if k.endswith("/io_uring")) + "\n")
    if "t_cmd" in meta:
        w(f"\nt/io_uring: {meta['t_cmd']} (per QD: -d/-s/-c adjusted); "
          "its CPU/IO is the child's rusage over the I/Os it reported, "
          "start-up included\n")
    w("\nsummary: " + ("all targets met" if not missed else
                       "targets missed: " + ", ".join(missed)) + "\n")
    return missed


# ---------------------------------------------------------------- main

def run(args):
    if args.vm:
        from . import vm
        args.deterministic = vm.icount_mode(args.deterministic,
                                            args.target or VM_DEFAULT_TARGET)
    det_vm = args.vm and args.deterministic
    if args.runtime is None:
        args.runtime = 2 if args.vm else 10
    if args.rounds is None:
        args.rounds = 1 if det_vm or args.platform == "vm-icount" else 5
    try:
        if args.vm:
            return _run_vm(args)
        return _run(args)
    except BenchError as e:
        log(f"error: {e}")
        return 2
    except KeyboardInterrupt:
        log("interrupted")
        return 130


def _run(args):
    if args.rounds < 1 or args.runtime < 1 or args.ramp < 0:
        raise BenchError("--rounds and --runtime must be >= 1, --ramp >= 0")
    if not shutil.which(args.fio):
        raise BenchError(f"fio not found ({args.fio})")
    so = Path(args.engine_dir) / "dmabuf_uring"
    if not so.exists():
        raise BenchError(f"{so} (what fio dlopens for ioengine=dmabuf_uring)"
                         " is missing: build the engine first "
                         "(cmake --build build)")
    if args.target is None:
        args.target = DEFAULT_TARGET
        make_target(args.target, args.size)
    elif not os.path.exists(args.target):
        raise BenchError(f"--target {args.target} does not exist")
    direct, why = probe_direct(args.target)
    if not direct:
        log(f"direct=0 on {args.target}: {why}; page-cache reads measure "
            "the copy, not the device")
    tbin = None if args.no_t_io_uring else ensure_t_io_uring(args)

    meta = {"platform": args.platform,
            "target_iops": TARGET_IOPS_ICOUNT if args.platform == "vm-icount"
            else TARGET_IOPS,
            "target": args.target, "fs": fs_name(args.target),
            "target_bytes": target_bytes(args.target), "direct": direct,
            "why": why, "host": f"{os.uname().release}, {os.cpu_count()} CPUs",
            "ring_opts": " ".join(
                (["registerfiles=1"] if not args.no_registerfiles else []) +
                (["hipri=1"] if args.hipri else []) + args.fio_arg)
            or "(none)"}
    workdir = args.keep or tempfile.mkdtemp(prefix="dbu-overhead-")
    os.makedirs(workdir, exist_ok=True)
    order = ["io_uring", "dmabuf_uring"]
    per_run = args.runtime + args.ramp
    total = len(args.qd) * args.rounds * (len(order) + bool(tbin)) * per_run
    log(f"{len(args.qd)} QD x {args.rounds} rounds x "
        f"{len(order) + bool(tbin)} runs, about {total // 60}m{total % 60:02d}s;"
        f" logs in {workdir}")
    results = {}
    try:
        for qd in args.qd:
            results[qd] = []
            for rnd in range(args.rounds):
                seq = order if rnd % 2 == 0 else order[::-1]
                res = {}
                for eng in seq:
                    tag = f"qd{qd}-r{rnd}-{eng}"
                    r = run_fio(args, eng, qd, direct, workdir, tag)
                    res[eng] = r
                    log(f"QD{qd} round {rnd + 1}/{args.rounds} {eng:<13}"
                        f"{r['iops']:>10.0f} IOPS {r['cpu_us']:8.2f} us CPU/IO")
                if tbin:
                    tag = f"qd{qd}-r{rnd}-t_io_uring"
                    c0 = children_cpu()
                    r = run_t_io_uring(args, tbin, qd, direct, workdir, tag)
                    r["cpu_us"] = (children_cpu() - c0) / r["ios"] * 1e6
                    meta["t_cmd"] = r.pop("cmd")
                    res[T_IO_URING] = r
                    log(f"QD{qd} round {rnd + 1}/{args.rounds} t/io_uring   "
                        f"{r['iops']:>10.0f} IOPS {r['cpu_us']:8.2f} us CPU/IO")
                results[qd].append({k: res[k] for k in
                                    order + ([T_IO_URING] if tbin else [])})
    except BaseException:
        log(f"logs of the runs so far kept in {workdir}")
        raise
    missed = print_report(args, meta, results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "args": {
                k: v for k, v in vars(args).items() if k != "func"},
                "results": {str(q): {"rounds": results[q],
                                     "ratios": summarize(results[q])[1]}
                            for q in args.qd}}, f, indent=1)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if (missed and args.check) else 0


def _run_vm(args):
    """Boot the rig once and run this benchmark inside, on the guest device."""
    from . import vm
    if args.target and not args.target.startswith("/dev/"):
        raise BenchError(f"--vm --target {args.target}: name a guest device "
                         "(/dev/nullb0, /dev/nvme0n1, /dev/ram0)")
    inner = ["/usr/bin/python3", str(REPO / "scripts" / "dmabuf-bench"), "overhead",
             "--target", args.target or VM_DEFAULT_TARGET,
             "--runtime", str(args.runtime), "--ramp", str(args.ramp),
             "--rounds", str(args.rounds), "--qd", ",".join(map(str, args.qd)),
             "--bs", args.bs, "--rw", args.rw, "--fio", args.fio,
             "--engine-dir", str(Path(args.engine_dir).resolve()),
             "--t-io-uring", str(Path(args.t_io_uring).resolve()),
             "--platform", vm.PLATFORM[args.deterministic]]
    inner += [f"--fio-arg={a}" for a in args.fio_arg]
    for flag in ("no_registerfiles", "hipri", "no_t_io_uring", "check"):
        if getattr(args, flag):
            inner.append("--" + flag.replace("_", "-"))
    # Shared with the guest (its /tmp is its own tmpfs).
    rw = [str(Path(args.engine_dir).resolve())]
    for opt in ("keep", "json"):
        path = getattr(args, opt)
        if path:
            path = str(Path(path).resolve())
            inner += [f"--{opt}", path]
            rw.append(path if opt == "keep" else str(Path(path).parent))
    if not args.no_t_io_uring:
        ensure_t_io_uring(args)
    log(f"booting the rig ({vm.PLATFORM[args.deterministic]}, iommu={args.iommu})")
    try:
        rc, _ = vm.run(inner, iommu=args.iommu, timeout=args.timeout, rw=rw,
                       stream=True, deterministic=args.deterministic)
    except vm.RigError as e:
        raise BenchError(f"VM rig: {e}") from e
    return rc


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="overhead.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
