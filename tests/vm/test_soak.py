# SPDX-License-Identifier: GPL-2.0-only
"""vm tier: a verify soak of every source x attach that runs on a stock kernel.

One boot of the QEMU rig runs one fio invocation holding two stonewalled jobs
per combination (udmabuf x {pages, bounce}, heap x bounce, drm x bounce,
host x {pages, bounce}), all with --direct=1 --allow_file_create=0,
bsrange=4k-256k (fio draws multiples of the 4k minimum), iodepth=32 and
verify=crc32c, over a device region of the rig:

  SRC-ATTACH-write  rw=randwrite, verify_backlog: every write is read back
                    and checked while the job runs; io_size counts the
                    writes, and fio counts the verification reads in read
                    io_bytes, so read io_bytes is exactly the bytes verified
                    (the job does no other reads).
  SRC-ATTACH-rw     rw=randrw (random reads and writes mixed), then fio's
                    verify pass over what it wrote; SOAK_BYTES / 8.

Each combination must exit cleanly with no verify error on stderr, its engine
report (--dmabuf_report, JSON Lines) must say result "ok" with errors [], and
its write job must have verified at least SOAK_BYTES.  The test prints, per
combination, "soak: SRC x ATTACH: N bytes written, M bytes verified" (see it
with pytest -s; the same lines are in every assert message and in
soak-results.txt in the test's temporary directory).

dmabuf_attach=kernel needs a kernel with the io_uring dma-buf series: not run
here (the stock rig kernel refuses it; tests/kernel covers it).

Knobs (environment):
  DBU_SOAK_BYTES   bytes written, and so verified, per combination by the
                   write job (fio size syntax; default 2g), e.g.
                   DBU_SOAK_BYTES=64m for a quick run.
  DBU_SOAK_TARGET  nullb (default, /dev/nullb0: memory-backed null_blk) or
                   nvme (/dev/nvme0n1, the emulated drive); the region is the
                   first 512 MiB of nullb0 / 240 MiB of nvme0n1; more bytes
                   than that are loops= passes over it (fio stops a verifying
                   write job after one pass whatever its io_size), so the
                   bytes written are SOAK_BYTES rounded up to whole passes.

Timing under TCG (2 host cores shared with other work, load 4-7): the
default 2g took 628 s of guest time, 647 s wall with the boot (10 min 47 s
for pytest): per combination 67-138 s of job time for 2 GiB written and
verified plus the randrw phase (host x pages/bounce 72/67 s, drm x bounce
99 s, udmabuf x pages 119 s, heap x bounce 120 s, udmabuf x bounce 138 s),
i.e. 15-32 MiB/s verified (as much again written).  On a quiet host 1 GiB
per combination took 36-40 s.  DBU_SOAK_BYTES=1g halves the time.
/dev/nullb0 and /dev/nvme0n1 measured alike (nullb0 slightly less guest
time at 128m, 57 s against 67 s) and nullb0 takes no host disk.  The guest
timeout assumes at least MIN_RATE.
"""
import json
import os
import re
import shlex
import time

import pytest

from dbu_test import BUILD, fio_env, read_reports

pytestmark = pytest.mark.vm

# (dmabuf_src, dmabuf_attach) that a stock kernel runs; kernel attach is not
COMBOS = [("udmabuf", "pages"), ("udmabuf", "bounce"), ("heap", "bounce"),
          ("drm", "bounce"), ("host", "pages"), ("host", "bounce")]
NOT_RUN = [(src, "kernel") for src in ("udmabuf", "heap", "drm")]
TARGETS = {"nullb": ("/dev/nullb0", "512m"), "nvme": ("/dev/nvme0n1", "240m")}
COMMON = ["--ioengine=dmabuf_uring", "--direct=1", "--allow_file_create=0",
          "--bsrange=4k-256k", "--iodepth=32", "--verify=crc32c",
          "--do_verify=1", "--randrepeat=0"]
VERIFY_ERR = re.compile(r"verify failed|verify: bad|bad pattern|"
                        r"verify type mismatch|unknown verify header|"
                        r"Bad verify type")
MIN_RATE = 8 << 20       # B/s moved (written + read); bounds the guest


def parse_size(text):
    m = re.fullmatch(r"(\d+)([kmgt]?)i?b?", text.strip().lower())
    if not m:
        raise ValueError(f"DBU_SOAK_BYTES={text!r}: expected e.g. 2g, 512m")
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30,
                               "t": 40}[m.group(2)]


SOAK_BYTES = parse_size(os.environ.get("DBU_SOAK_BYTES", "2g"))
TKEY = os.environ.get("DBU_SOAK_TARGET", "nullb")


def job_name(src, attach, phase):
    return f"{src}-{attach}-{phase}"


def guest_script(d, target, region):
    q = shlex.quote
    args = COMMON + [f"--dmabuf_report={d}/soak.jsonl",
                     f"--filename={target}", f"--size={region}"]
    # fio does not wrap a verifying write job's io_size around its region
    # (it stops after one pass over it): more than the region is loops
    reg = parse_size(region)
    amount = ([f"--io_size={SOAK_BYTES}"] if SOAK_BYTES <= reg else
              [f"--loops={-(-SOAK_BYTES // reg)}"])
    for src, attach in COMBOS:
        common = ["--stonewall", f"--dmabuf_src={src}",
                  f"--dmabuf_attach={attach}"]
        args += [f"--name={job_name(src, attach, 'write')}", *common,
                 "--rw=randwrite", "--verify_backlog=64", *amount]
        args += [f"--name={job_name(src, attach, 'rw')}", *common,
                 "--rw=randrw", f"--io_size={max(SOAK_BYTES // 8, 4 << 20)}"]
    return "\n".join([
        "#!/bin/sh", f"D={q(str(d))}", 'cd "$D" || exit 1',
        f"export LD_LIBRARY_PATH={q(str(BUILD))}",
        # the ASan build (DBU_BUILD_DIR=build-asan) needs libasan preloaded
        # in the guest too; the guest's / is the host's, so the path holds
        *[f"export {k}={q(v)}" for k, v in fio_env().items()
          if k in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")],
        't0=$(cut -d" " -f1 /proc/uptime)',
        'fio --output-format=json --output="$D/soak.json" '
        + " ".join(q(a) for a in args) + ' 2>"$D/soak.err"',
        'echo $? >"$D/soak.rc"',
        'echo "$t0 $(cut -d" " -f1 /proc/uptime)" >"$D/times"']) + "\n"


@pytest.fixture(scope="module")
def soak(rig, tmp_path_factory):
    if not (BUILD / "fio-dmabuf_uring.so").exists():
        pytest.skip(f"engine not built: {BUILD}/fio-dmabuf_uring.so missing")
    if TKEY not in TARGETS:
        pytest.fail(f"DBU_SOAK_TARGET={TKEY}: expected one of {list(TARGETS)}")
    target, region = TARGETS[TKEY]
    d = tmp_path_factory.mktemp("soak")
    (d / "run.sh").write_text(guest_script(d, target, region))
    # both phases move ~2.5 x SOAK_BYTES; bound the guest generously
    timeout = 300 + len(COMBOS) * 2.5 * SOAK_BYTES / MIN_RATE
    t0 = time.monotonic()
    rc, out = rig.run(["/bin/sh", str(d / "run.sh")], rw=[str(d)],
                      timeout=timeout, stream=False)
    wall = time.monotonic() - t0
    assert rc == 0, f"guest script failed (rc {rc}):\n{out[-4000:]}"
    fio_rc = int((d / "soak.rc").read_text())
    stderr = (d / "soak.err").read_text()
    text = (d / "soak.json").read_text()
    jobs = ({j["jobname"]: j for j in json.loads(text[text.index("{"):])["jobs"]}
            if "{" in text else {})
    rep = d / "soak.jsonl"
    reports = {r["job"]: r for r in read_reports(rep)} if rep.exists() else {}
    g0, g1 = map(float, (d / "times").read_text().split())
    lines = []
    for src, attach in COMBOS:
        w = jobs.get(job_name(src, attach, "write"))
        r = jobs.get(job_name(src, attach, "rw"))
        if not w or not r:
            lines.append(f"soak: {src} x {attach}: no fio result")
            continue
        secs = (w["job_runtime"] + r["job_runtime"]) / 1000
        lines.append(
            f"soak: {src} x {attach}: {w['write']['io_bytes']} bytes written, "
            f"{w['read']['io_bytes']} bytes verified (randrw phase: "
            f"{r['write']['io_bytes']} written, {r['read']['io_bytes']} read "
            f"incl. its verify pass) in {secs:.1f} s")
    lines += [f"soak: {s} x {a}: not run (needs a kernel with the io_uring "
              "dma-buf series)" for s, a in NOT_RUN]
    lines.append(f"soak: {target} region {region}, DBU_SOAK_BYTES="
                 f"{SOAK_BYTES}; fio {g1 - g0:.1f} s of guest time, "
                 f"{wall:.1f} s wall with the boot")
    summary = "\n".join(lines)
    (d / "soak-results.txt").write_text(summary + "\n")
    print("\n" + summary)
    return {"rc": fio_rc, "stderr": stderr, "jobs": jobs, "reports": reports,
            "summary": summary}


def test_soak_exit_status(soak):
    assert soak["rc"] == 0, (f"fio exit {soak['rc']}\n{soak['summary']}\n"
                             f"{soak['stderr'][-4000:]}")
    assert not VERIFY_ERR.search(soak["stderr"]), soak["stderr"][-4000:]


@pytest.mark.parametrize("src,attach", COMBOS,
                         ids=[f"{s}-{a}" for s, a in COMBOS])
def test_soak(soak, src, attach):
    msg = soak["summary"]
    for phase in ("write", "rw"):
        name = job_name(src, attach, phase)
        assert name in soak["jobs"], (
            f"{name}: no fio result\n{msg}\n{soak['stderr'][-3000:]}")
        assert name in soak["reports"], (
            f"{name}: no engine report\n{msg}\n{soak['stderr'][-3000:]}")
        fj, rep = soak["jobs"][name], soak["reports"][name]
        # total_err is only in fio's JSON with continue_on_error (not set)
        assert fj["error"] == 0 and fj.get("total_err", 0) == 0, (
            f"{name}: fio error {fj['error']}\n{msg}\n{soak['stderr'][-3000:]}")
        assert rep["result"] == "ok" and rep["errors"] == [], (name, rep, msg)
        assert rep["source"] == src and rep["attach"] == attach, rep
        assert fj["write"]["io_bytes"] > 0 and fj["read"]["io_bytes"] > 0, msg
    bad = [ln for ln in soak["stderr"].splitlines()
           if VERIFY_ERR.search(ln) and f"{src}-{attach}-" in ln]
    assert not bad, bad
    w = soak["jobs"][job_name(src, attach, "write")]
    written, verified = w["write"]["io_bytes"], w["read"]["io_bytes"]
    # every write read back and checked, no other read in this job
    assert written >= SOAK_BYTES, msg
    assert verified == written, msg
    assert verified >= SOAK_BYTES, msg
