"""`dmabuf-bench run`: run a scenario (jobs/<SCENARIO>/*.fio), collect, label.

On a target (`--target DEV`, a real device or a file) the run happens here:
the IOMMU mode is read from the target's IOMMU group and recorded; a requested
`--iommu` other than that mode is refused (it is a boot setting). With `--vm`
the rig boots once per requested IOMMU mode and runs this same command inside
the guest against its emulated NVMe (/dev/nvme0n1, or the guest device
--target names). On /dev/nullb0 or /dev/ram0 the rig is deterministic by
default (QEMU icount, platform=vm-icount); on the NVMe it is plain TCG
(vm-tcg), since icount repeats nothing there (docs/deterministic.md).

Each job file section is one fio invocation (`--section=NAME`), so every job
has its own fio JSON and stderr; a file whose header says
`# dbu-run: whole-file` (a sequence such as poison -> write -> witness) is one
invocation. Job-file variables (${DEV}, ${SIZE}, ...) are expanded here, and
the expanded file is kept beside the results (it is what ran; it also makes
`--client` work, since a fio server would otherwise expand them in its own
environment).

Output directory (appended to by every run):
  results.json / results.csv   one row per job (see results.py)
  sysinfo/RUN.json             kernel, cmdline, IOMMU, device, fio, engine, git
  raw/RUN/FILE.fio             the expanded job file
  raw/RUN/FILE.SECTION.json    fio --output-format=json --output=...
  raw/RUN/FILE.SECTION.stderr  fio's stderr (engine messages, summary line)
  raw/RUN/FILE.report.jsonl    the engine's per-job reports (dmabuf_report)
"""

import argparse
import datetime
import fnmatch
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import time
from pathlib import Path

from . import results as R
from . import witness
from .sysinfo import device_label, engine_file, sysinfo, target_info
from .vm import add_deterministic as vm_add_deterministic
from .vm import add_peer as vm_add_peer

REPO = Path(__file__).resolve().parents[2]
JOBS = REPO / "jobs"
VM_TARGET = "/dev/nvme0n1"
# With --vm --peer-bar a second NVMe controller beside the peer has a CMB of
# this size: P2PDMA memory of another device than the target, for the
# p2pmem rows (1 MiB x iodepth 8 of the p2p jobs, and a margin).
PEER_CMB_MB = 16
IOMMU_CHOICES = ("off", "strict", "lazy", "pt")
DOMAIN_OF_MODE = {"off": "none", "strict": "DMA", "lazy": "DMA-FQ", "pt": "identity"}
VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
WHOLE_FILE = re.compile(r"^#\s*dbu-run:\s*whole-file\b", re.M)
# A section may name sections that must have run ok before it (same file,
# earlier): "# dbu-needs: write-kernel". fio ignores the comment; the runner
# skips the section (a row with the reason) when one of them did not.
NEEDS = re.compile(r"^#\s*dbu-needs:\s*(.+)$")
# fio's own keywords expanded by fio itself (not by us).
FIO_KEYWORDS = {"ncpus", "pagesize", "mb_memory"}


def progress(msg):
    print(f"dmabuf-bench: {msg}", file=sys.stderr, flush=True)


class RunError(Exception):
    pass


# ---------------------------------------------------------------- job files

def scenario_files(scenario):
    """The job files of SCENARIO: jobs/<name>/*.fio, a directory, or a file."""
    p = Path(scenario)
    if not p.exists() and (JOBS / scenario).is_dir():
        p = JOBS / scenario
    if p.is_file():
        return p.stem if p.parent == JOBS else p.parent.name, [p.resolve()]
    if p.is_dir():
        files = sorted(p.glob("*.fio"))
        if not files:
            raise RunError(f"{p}: no *.fio job files")
        return p.name, [f.resolve() for f in files]
    have = sorted(d.name for d in JOBS.iterdir() if d.is_dir()) if JOBS.is_dir() else []
    raise RunError(f"unknown scenario {scenario!r} (have: {', '.join(have) or 'none'}; "
                   "or give a directory / .fio file)")


def parse_ini(text):
    """[(section, {opt: value})] of a fio job file, global options merged
    into each job's (enough to label rows; fio does the real parsing)."""
    sections, glob, cur = [], {}, None
    for raw in text.splitlines():
        line = raw.strip()
        m = NEEDS.match(line)
        if m and cur is not None and cur is not glob:
            cur["__needs"] = m.group(1).split()
            continue
        if not line or line[0] in "#;":
            continue
        m = re.match(r"^\[(.+)\]$", line)
        if m:
            name = m.group(1).strip()
            cur = glob if name == "global" else {}
            if name != "global":
                sections.append((name, cur))
            continue
        if cur is None:
            continue
        k, _, v = line.partition("=")
        cur[k.strip()] = v.strip()
    return [(n, {**glob, **o}) for n, o in sections]


def expand(text, variables, path):
    """${NAME} -> value in option lines (comments are left as written)."""
    lines, missing = [], set()
    for line in text.splitlines(keepends=True):
        if line.lstrip()[:1] not in ("#", ";"):
            missing |= {v for v in VAR_RE.findall(line)
                        if v not in variables and v not in FIO_KEYWORDS}
            line = VAR_RE.sub(lambda m: str(variables.get(m.group(1), m.group(0))), line)
        lines.append(line)
    if missing:
        raise RunError(f"{path.name} uses {', '.join('${%s}' % m for m in sorted(missing))}; "
                       "set with --set NAME=VALUE")
    return "".join(lines)


# ---------------------------------------------------------------- running

def mode_of(tinfo):
    return R.IOMMU_FROM_DOMAIN.get(tinfo.get("iommu_domain", "none"), "unknown")


def default_vars(args, tinfo):
    size = tinfo.get("size") or 0
    gib = 1 << 30
    size = min(size, gib) if size else gib
    size = max(size // (1 << 20), 1)
    dev = args.target if args.client else os.path.abspath(args.target)
    # In the rig with a --peer-bar, the GPU-class memory is the peer's BAR
    # and P2PDMA memory the --peer-cmb controller's; elsewhere P2PDMA memory
    # is the target NVMe's own (a CMB, if it has one).
    peer = os.environ.get("DBU_PEER_BDF")
    if os.environ.get("DBU_PEER_FILE") and not peer:
        raise RunError("the rig was given --peer-bar, but the guest found no "
                       "ivshmem device (see build/vm/last-console.log)")
    nvme = os.environ.get("DBU_PEER_CMB_BDF")
    if os.environ.get("DBU_PEER_CMB") and not nvme:
        raise RunError("the rig was given --peer-cmb, but the guest found no "
                       "NVMe 'dbu-cmb' with P2PDMA memory (see "
                       "build/vm/last-console.log)")
    if not nvme and tinfo.get("bus") == "pci":
        nvme = tinfo.get("bus_device")
    v = {"DEV": dev, "SIZE": f"{size}m", "VERIFY_SIZE": f"{min(size, 8)}m",
         "RUNTIME": str(args.runtime), "RATE_IOPS": "0",
         "GPU_SRC": f"vfio:{peer}" if peer else "drm",
         "P2PMEM_SRC": f"p2pmem:{nvme or 'none'}"}
    for s in args.set:
        k, eq, val = s.partition("=")
        if not eq or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k):
            raise RunError(f"--set {s}: expected NAME=VALUE")
        v[k] = val
    return v


def fio_env(args):
    env = dict(os.environ)
    dirs = [args.engine_dir] if args.engine_dir else []
    dirs.append(str(REPO / "build"))
    env["LD_LIBRARY_PATH"] = ":".join(dirs + [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p])
    return env


def fio_messages(text):
    """'fio: ...' lines (and the engine's) from fio's stderr, host prefix cut,
    and fio's first verify complaint ('verify: bad magic header ...', 'crc32c:
    verify failed at file ...'): the first bad block and its offset."""
    out, verify = [], False
    for line in text.splitlines():
        line = re.sub(r"^<[^>]*>\s*", "", line).strip()
        if re.match(r"(verify: |\S+: verify failed at file )", line) and not verify:
            out.append(line)
            verify = True
        elif line.startswith("fio: ") and "init failed" not in line and \
                not line.startswith("fio: pid="):
            msg = line[5:].strip()
            if msg not in out:
                out.append(msg)
    return out


def run_fio(args, jobfile, section, out_json, stderr_path, timeout):
    argv = ["fio"]
    if args.client:
        argv.append(f"--client={args.client}")
    argv += ["--output-format=json", f"--output={out_json}"]
    if section:
        argv.append(f"--section={section}")
    argv.append(str(jobfile))
    t0 = time.monotonic()
    try:
        # cwd: fio drops verify state files (*-verify.state) there.
        p = subprocess.run(argv, env=fio_env(args), capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL,
                           cwd=Path(out_json).parent)
        rc, err = p.returncode, p.stderr + p.stdout
    except subprocess.TimeoutExpired as e:
        rc = 124
        err = ((e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes)
               else (e.stderr or "")) + f"\nfio: timed out after {timeout} s (killed)\n"
    Path(stderr_path).write_text(f"$ {shlex.join(argv)}\n{err}")
    if args.client and Path(out_json).exists():
        # In client mode the server's messages land in the output file.
        err += Path(out_json).read_text(errors="replace").split("\n{\n", 1)[0]
    return rc, err, time.monotonic() - t0


def run_local(args):
    scenario, files = scenario_files(args.scenario)
    if args.engine_dir and not (Path(args.engine_dir) / "dmabuf_uring").exists():
        raise RunError(f"--engine-dir {args.engine_dir}: no engine there "
                       "(dmabuf_uring, the file fio dlopens); refusing to fall "
                       "back to another one")
    target = args.target
    tinfo = target_info(target) if not args.client else \
        {"path": target, "kind": "remote", "iommu_domain": "", "size": 0}
    # With --client the device is on the fio server: its IOMMU mode comes
    # from the engine's report there (iommu_domain), checked against --iommu.
    if not args.client and tinfo["kind"] == "missing":
        raise RunError(f"--target {target}: {tinfo.get('error', 'not found')} "
                       "(a block device, or an existing file: job files use "
                       "allow_file_create=0)")
    mode = mode_of(tinfo) if not args.client else \
        (args.iommu_list[0] if len(args.iommu_list) == 1 else "unknown")
    wanted = args.iommu_list if not args.client else []
    if args.client and len(args.iommu_list) > 1:
        raise RunError("--client: give at most one --iommu (the server's boot mode)")
    if wanted and len(wanted) > 1:
        raise RunError(f"--iommu {','.join(wanted)}: on a real target the IOMMU mode is a "
                       f"boot setting and this boot is in '{mode}'; run once per boot "
                       "with --iommu MODE and the same --out (runs append), or use --vm")
    if wanted and wanted[0] != mode:
        raise RunError(
            f"--iommu {wanted[0]}: refusing to label this run; the target's IOMMU group "
            f"has domain type '{tinfo.get('iommu_domain')}' (= {mode}). Reboot with "
            f"{IOMMU_HINT[wanted[0]]} and run again, or drop --iommu to record '{mode}'")
    out = Path(args.out).resolve()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")
    run_id = f"{scenario}-{mode}-{stamp}-{secrets.token_hex(2)}"
    raw = out / "raw" / run_id
    variables = default_vars(args, tinfo)
    expanded = [(f, expand(f.read_text(), {**variables, "REPORT": str(
        raw / f"{f.stem}.report.jsonl")}, f)) for f in files]
    raw.mkdir(parents=True, exist_ok=True)
    (out / "sysinfo").mkdir(parents=True, exist_ok=True)
    info = sysinfo(args, run_id, scenario, tinfo, mode)
    info["variables"] = variables
    base = {"run_id": run_id, "scenario": scenario, "iommu": mode,
            "device": device_label(tinfo), "platform": args.platform,
            "host": info["host"], "kernel": info["kernel"],
            "fio_version": info["fio"]["version"]}
    progress(f"run {run_id}: {len(files)} job file(s) on {target} "
             f"({base['device']}, iommu={mode}, kernel {info['kernel']})")

    plan = []
    for f, xtext in expanded:
        text = f.read_text()
        report = raw / f"{f.stem}.report.jsonl"
        xfile = raw / f.name
        xfile.write_text(xtext)
        sections = parse_ini(xtext)
        if args.job:
            sections = [(n, o) for n, o in sections
                        if any(fnmatch.fnmatchcase(n, j) or fnmatch.fnmatchcase(f"{f.stem}/{n}", j)
                               for j in args.job)]
        if not sections:
            continue
        if WHOLE_FILE.search(text):
            plan.append((f, xfile, report, None, sections))
        else:
            plan += [(f, xfile, report, s, [s]) for s in sections]
    total = sum(len(p[4]) for p in plan)
    if total == 0:
        raise RunError("no job matched" + (f" --job {', '.join(args.job)}" if args.job else ""))

    rows, done, failed = [], 0, 0
    status = {}
    t_all = time.monotonic()
    for f, xfile, report, sec, secs in plan:
        tag = f"{f.stem}.{sec[0]}" if sec else f.stem
        unmet = [n for n in (sec[1].get("__needs", []) if sec else [])
                 if status.get(f"{f.stem}/{n}", ("missing", "not in this run"))[0] != "ok"]
        if unmet:
            row = R.make_row({**base, "job": f"{f.stem}/{sec[0]}"}, None, None, 0, [], sec[1])
            row["status"] = "skipped"
            row["reason"] = "; ".join(
                f"needs {n}, which was {status.get(f'{f.stem}/{n}', ('not run',))[0]}"
                + (f" ({status[f'{f.stem}/{n}'][1][:160]})" if f"{f.stem}/{n}" in status
                   and status[f"{f.stem}/{n}"][1] else "") for n in unmet)
            rows.append(row)
            status[row["job"]] = (row["status"], row["reason"])
            done += 1
            progress(f"[{done}/{total}] {row['job']}: SKIPPED: {row['reason'][:300]}")
            continue
        out_json, errp = raw / f"{tag}.json", raw / f"{tag}.stderr"
        # In the deterministic guest the clock jumps ahead while the guest
        # waits for the host (9p reads, emulated NVMe): a bound in guest
        # time fires early. The rig's --timeout bounds the boot instead.
        timeout = args.job_timeout or (None if args.platform == R.ICOUNT else
                                       max(300, 30 * int(args.runtime) * len(secs)))
        what = f"{f.stem}/{sec[0]}" if sec else f"{f.stem} ({len(secs)} jobs, one fio run)"
        progress(f"[{done + 1}/{total}] {what} ...")
        rc, err, secs_taken = run_fio(args, xfile, sec[0] if sec else None,
                                      out_json, errp, timeout)
        doc = R.load_fio_json(out_json) if out_json.exists() else None
        jobs = {j.get("jobname"): j for j in R.fio_jobs(doc)}
        reports = {}
        for rep in R.read_reports(report):
            reports[rep.get("job")] = rep
        msgs = fio_messages(err)
        for name, opts in secs:
            row = R.make_row({**base, "job": f"{f.stem}/{name}"}, jobs.get(name),
                             reports.get(name), rc, msgs if sec or name not in jobs else [],
                             opts)
            if args.client:
                _label_remote(row, reports.get(name), args, target)
            _peer_witness(row, reports.get(name), opts)
            if not row.get("engine_version") and reports.get(name):
                row["engine_version"] = reports[name].get("engine_version", "")
            if not info["engine"]["version"] and row.get("engine_version"):
                info["engine"]["version"] = row["engine_version"]
            rows.append(row)
            status[row["job"]] = (row["status"], row.get("reason", ""))
            done += 1
            failed += row["status"] == "failed"
            if row["status"] == "ok":
                progress(f"  {row['job']}: ok {R.fmt(row['iops'])} IOPS, "
                         f"{R.fmt(row['bw_mib'])} MiB/s, clat p99 {R.fmt(row['clat_p99_us'])} us "
                         f"[{row['source']}/{row['attach']}]")
            else:
                progress(f"  {row['job']}: {row['status'].upper()}: {row['reason'][:300]}")
        progress(f"  ({secs_taken:.1f} s)")

    for r in rows:
        if not r["engine_version"]:
            r["engine_version"] = info["engine"]["version"]
    (out / "sysinfo" / f"{run_id}.json").write_text(json.dumps(info, indent=1) + "\n")
    all_rows = R.load_rows(out) + rows
    R.save_rows(out, all_rows)
    ok = sum(r["status"] == "ok" for r in rows)
    count = {st: sum(r["status"] == st for r in rows) for st in ("refused", "skipped")}
    progress(f"run {run_id}: {ok} ok, {count['refused']} refused, {count['skipped']} skipped, "
             f"{failed} failed in {time.monotonic() - t_all:.1f} s; "
             f"results: {out / 'results.csv'} ({len(all_rows)} rows)")
    return 1 if failed else 0


def _peer_witness(row, rep, opts):
    """A verify job on the rig's peer BAR: its backing file, read outside
    the BAR, against the NVMe (witness.py); a disagreement fails the row."""
    path = os.environ.get("DBU_PEER_FILE")
    if not (path and rep and row["source"].startswith("vfio:") and
            opts.get("verify", "0") not in ("0", "none") and
            row["status"] in ("ok", "failed")):
        return
    length = sum(rep.get("buffers") or [])
    try:
        w = witness.compare(path, length, row["target"])
        summary, ok = w.summary(), w.ok
    except OSError as e:
        summary, ok = f"unreadable: {e}", False
    row["peer_witness"] = summary
    progress(f"  {row['job']}: device-memory witness ({path}): {summary}")
    if not ok and row["status"] == "ok":
        row["status"] = "failed"
        row["reason"] = f"device-memory witness: {summary}"


def _label_remote(row, rep, args, target):
    """Client mode: IOMMU mode and device from the server-side report."""
    row["device"] = f"{target}@{row.get('host') or args.client}"
    if not rep or not rep.get("target_driver") or rep.get("target_driver") == "none" \
            and not rep.get("target"):
        return
    seen = R.IOMMU_FROM_DOMAIN.get(rep.get("iommu_domain", "none"), "unknown")
    if args.iommu_list and seen != args.iommu_list[0] and row["status"] == "ok":
        row["status"] = "refused"
        row["reason"] = (f"IOMMU label mismatch: the server's target is in '{seen}' "
                         f"(iommu_domain {rep.get('iommu_domain')}), the run asked for "
                         f"--iommu {args.iommu_list[0]}; numbers dropped")
        for m in R.METRIC_KEYS:
            row[m] = None
    row["iommu"] = seen


IOMMU_HINT = {"off": "no IOMMU (intel_iommu=off / amd_iommu=off) or no IOMMU group for the device",
              "strict": "intel_iommu=on iommu.strict=1",
              "lazy": "intel_iommu=on iommu.strict=0",
              "pt": "iommu=pt"}


def run_vm(args):
    from . import vm
    scenario_files(args.scenario)  # fail early on a bad name
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    # vfio needs an IOMMU on sid's kernel: a peer boots strict by default.
    modes = args.iommu_list or (["strict"] if args.peer_bar else ["off"])
    peer_cmb = args.peer_cmb or (PEER_CMB_MB if args.peer_bar else 0)
    worst = 0
    for mode in modes:
        inner = ["/usr/bin/python3", str(REPO / "scripts" / "dmabuf-bench"), "run",
                 args.scenario if not Path(args.scenario).exists()
                 else str(Path(args.scenario).resolve()),
                 "--target", args.target or VM_TARGET, "--iommu", mode,
                 "--out", str(out), "--runtime", str(args.runtime),
                 "--platform", args.platform]
        for s in args.set:
            inner += ["--set", s]
        for j in args.job:
            inner += ["--job", j]
        rw = [str(out)]
        if args.engine_dir:
            # Shared with the guest: /tmp there is the guest's own tmpfs.
            inner += ["--engine-dir", str(Path(args.engine_dir).resolve())]
            rw.append(str(Path(args.engine_dir).resolve()))
        if args.job_timeout:
            inner += ["--job-timeout", str(args.job_timeout)]
        progress(f"VM run: scenario {args.scenario}, iommu={mode}, {args.platform}")
        t0 = time.monotonic()
        try:
            rc, _ = vm.run(inner, iommu=mode, kernel=args.kernel, modules=args.modules,
                           timeout=args.timeout, rw=rw,
                           disk_mb=args.disk_mb, stream=True,
                           deterministic=args.deterministic,
                           peer_bar=args.peer_bar, peer_topology=args.peer_topology,
                           nvme_cmb_mb=args.nvme_cmb, peer_cmb_mb=peer_cmb)
        except vm.RigError as e:
            raise RunError(f"VM rig: {e}") from e
        progress(f"VM run iommu={mode}: exit {rc} after {time.monotonic() - t0:.1f} s")
        if rc not in (0, 1):
            # The guest run never wrote its rows: record the mode's failure.
            _record_vm_failure(args, out, mode, rc)
            worst = max(worst, 1)
        else:
            worst = max(worst, rc)
    progress(f"results in {out} (see: dmabuf-bench report {out})")
    return worst


def _record_vm_failure(args, out, mode, rc):
    scenario, files = scenario_files(args.scenario)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")
    run_id = f"{scenario}-{mode}-{stamp}-vmfail"
    why = {124: "VM run timed out (--timeout)", 125: "the guest reported no exit status "
           "(see build/vm/last-console.log)"}.get(rc, f"the run in the guest exited {rc}")
    rows = []
    for f in files:
        for name, opts in parse_ini(f.read_text()):
            rows.append(R.make_row({"run_id": run_id, "scenario": scenario,
                                    "job": f"{f.stem}/{name}", "iommu": mode,
                                    "device": "", "platform": args.platform},
                                   None, None, rc, [why], opts))
    R.save_rows(out, R.load_rows(out) + rows)


# ---------------------------------------------------------------- CLI

HELP = "run a scenario's jobs, collect fio JSON + engine reports into one results dir"
EPILOG = """\
examples:
  dmabuf-bench run iommu-cost --vm --iommu strict,lazy,pt --runtime 2 --out res/
  dmabuf-bench run iommu-cost --vm --target /dev/nullb0 --out res/  # guest's null_blk
  dmabuf-bench run iommu-cost --target /dev/nvme0n1 --out res/    # records this boot's mode
  dmabuf-bench run p2p --target /dev/nvme0n1 --set GPU_SRC=cuda:0 --out res/
  dmabuf-bench run smoke --target /dev/nvme0n1 --client ip:gpu-box,8765 --out res/
Job-file variables: DEV (the target), SIZE (min(1 GiB, target size)),
VERIFY_SIZE (8m), RUNTIME (--runtime), RATE_IOPS (0 = unthrottled),
GPU_SRC (drm), REPORT (set per job file); override with --set NAME=VALUE.
Exit status: 0 all jobs ok or refused at start (refusals are rows with their
reason), 1 a job failed after starting, 2 bad arguments / rig unusable.
"""


def add_parser(subparsers):
    p = subparsers.add_parser("run", help=HELP, description=HELP.capitalize() + ".",
                              epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", help="smoke | iommu-cost | p2p, a jobs/ folder or a .fio file")
    p.add_argument("--target", metavar="DEV",
                   help="device (or existing file) to run on, here; with --vm "
                        f"the guest's device (default {VM_TARGET}; also "
                        "/dev/nullb0, /dev/ram0)")
    p.add_argument("--vm", action="store_true",
                   help="run in the QEMU rig (boots once per --iommu mode)")
    p.add_argument("--iommu", default="", metavar="MODES",
                   help="comma list of off,strict,lazy,pt. --vm: boot each (default off; "
                        "strict with --peer-bar); "
                        "--target: the mode this boot must be in (refused otherwise)")
    vm_add_peer(p)
    p.add_argument("--kernel", metavar="BZIMAGE", help="--vm: boot this kernel")
    p.add_argument("--modules", metavar="DIR", help="--vm: modules root of --kernel")
    p.add_argument("--timeout", type=float, default=1200, metavar="S",
                   help="--vm: bound each boot (default 1200)")
    vm_add_deterministic(p, default=None)
    p.add_argument("--disk-mb", type=int, default=256, metavar="MB",
                   help="--vm: size of the emulated NVMe (default 256)")
    p.add_argument("--runtime", type=int, default=10, metavar="S",
                   help="seconds per time-based job (${RUNTIME}, default 10)")
    p.add_argument("--out", default="results", metavar="DIR",
                   help="results directory, appended to (default ./results)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="set a job-file variable (repeatable)")
    p.add_argument("--job", action="append", default=[], metavar="NAME",
                   help="run only matching sections (SECTION or FILE/SECTION, shell "
                        "wildcards allowed; repeatable)")
    p.add_argument("--engine-dir", metavar="DIR",
                   help="directory holding the engine (dmabuf_uring); default build/")
    p.add_argument("--client", metavar="HOST",
                   help="run fio as a client of `fio --server` on HOST (fio's "
                        "--client syntax, e.g. ip:10.0.0.2,8765); --target is then "
                        "the server's device path")
    p.add_argument("--job-timeout", type=int, default=0, metavar="S",
                   help="kill a fio invocation after S s (default max(300, 30*runtime))")
    p.add_argument("--platform", default="", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_run)


def _cmd_run(args):
    args.iommu_list = [m.strip() for m in args.iommu.split(",") if m.strip()]
    bad = [m for m in args.iommu_list if m not in IOMMU_CHOICES]
    if bad:
        progress(f"error: --iommu {','.join(bad)}: expected some of {', '.join(IOMMU_CHOICES)}")
        return 2
    if not args.engine_dir and not engine_file(None):
        progress("no engine in build/: running scripts/setup first")
        if subprocess.run([str(REPO / "scripts" / "setup")]).returncode:
            progress("error: scripts/setup failed")
            return 2
    try:
        if not args.vm and not args.target and not args.client:
            progress("no --target given: running in the QEMU rig (--vm)")
            args.vm = True
        if args.vm:
            from . import vm
            args.deterministic = vm.icount_mode(args.deterministic,
                                                args.target or VM_TARGET)
            args.platform = args.platform or vm.PLATFORM[args.deterministic]
            if args.client:
                raise RunError("--client and --vm do not combine")
            return run_vm(args)
        if not args.target:
            raise RunError("--client needs --target DEV (the server's device)")
        if args.kernel or args.modules:
            raise RunError("--kernel/--modules need --vm")
        if args.peer_bar or args.peer_cmb or args.nvme_cmb or args.peer_topology != "root":
            raise RunError("--peer-bar/--peer-cmb/--nvme-cmb/--peer-topology need --vm "
                           "(they add devices to the rig)")
        args.platform = args.platform or ("remote" if args.client else "hardware")
        return run_local(args)
    except RunError as e:
        progress(f"error: {e}")
        return 2
