# SPDX-License-Identifier: GPL-2.0-only
"""fio parity: an ioengine=io_uring job becomes a dma-buf job by its engine
line alone (engines/options.c).

- every option `fio --enghelp=io_uring` lists, in the fio under test, is an
  option of dmabuf_uring with the same type and default;
- each of them, given a value, runs under both engines and ends the same
  way (data verified with crc32c), except the refusals options.c documents,
  which say why;
- every io_uring job file in jobs/ runs with only its engine line switched.
"""
import json
import re

import pytest

from dbu_test import ENGINE, REPO, read_reports, run_fio

pytestmark = [pytest.mark.host]

PREFIX = "fio: dmabuf_uring: "
SWITCH = ["--ioengine=dmabuf_uring", "--dmabuf_src=host", "--dmabuf_attach=pages"]
CMD_ONLY = ("that is an option of fio's io_uring_cmd engine (NVMe or SCSI "
            "passthrough); dmabuf_uring issues READ_FIXED and WRITE_FIXED, "
            "which do not carry it. Drop it, or use ioengine=io_uring_cmd.")


def cmd_only(arg):
    """An io_uring_cmd option given a value: the case and its refusal."""
    return [arg], (f"{arg[2:]}: Operation not supported (EOPNOTSUPP). "
                   f"{CMD_ONLY}")


# A value for each option of fio's io_uring engine (3.33, 3.41, master), and
# what dmabuf_uring says of it when it refuses it (None: runs).  A fio with
# an option missing here fails test_every_option_has_a_case.
CASES = {
    "hipri": (["--hipri"], None),
    "cmdprio_percentage": (["--cmdprio_percentage=50"], None),
    "cmdprio_class": (["--cmdprio_percentage=100", "--cmdprio_class=2"], None),
    "cmdprio": (["--cmdprio_percentage=100", "--cmdprio=3"], None),
    "cmdprio_hint": (["--cmdprio_percentage=100", "--cmdprio_hint=1"], None),
    "cmdprio_bssplit": (["--cmdprio_bssplit=4k/50"], None),
    "fixedbufs": (["--fixedbufs"], None),
    "registerfiles": (["--registerfiles"], None),
    "sqthread_poll": (["--sqthread_poll"], None),
    "sqthread_poll_cpu": (["--sqthread_poll", "--sqthread_poll_cpu=0"], None),
    "nonvectored": (["--nonvectored=0"], None),
    "uncached": (["--uncached=1", "--direct=0"], "uncached-0x40"),
    "nowait": (["--nowait=1"], None),
    "force_async": (["--force_async=2"], None),
    "cmd_type": (["--cmd_type=nvme"], None),
    "readfua": cmd_only("--readfua=1"),
    "writefua": cmd_only("--writefua=1"),
    "write_mode": cmd_only("--write_mode=zeroes"),
    "verify_mode": cmd_only("--verify_mode=compare"),
    "deac": cmd_only("--deac=1"),
    "cdb_len": cmd_only("--cdb_len=16"),
    "verify_bytchk": cmd_only("--verify_bytchk=1"),
    "read_mode": cmd_only("--read_mode=prefetch"),
    "md_per_io_size": (["--md_per_io_size=8"], "md_per_io_size: Operation "
                       "not supported (EOPNOTSUPP). md_per_io_size=8 asks "
                       "for a protection information buffer per I/O; "
                       "dmabuf_uring attaches none. Drop it, or use "
                       "ioengine=io_uring."),
    "pi_act": (["--pi_act=0"], None),
    "pi_chk": (["--pi_chk=GUARD"], None),
    "apptag": (["--apptag=0x5678"], None),
    "apptag_mask": (["--apptag_mask=0xff00"], None),
}


def uncached_0x40():
    """fio before 3.40 sets RWF_UNCACHED (0x40, never merged; RWF_ATOMIC
    since Linux 6.11) for uncached=1: refused.  Later ones RWF_DONTCACHE."""
    if "RWF_UNCACHED" not in enghelp("io_uring", "uncached"):
        return None
    return ("uncached: Operation not supported (EOPNOTSUPP). the fio this "
            "engine is built for sets RWF_UNCACHED (0x40) for it, a flag "
            "Linux never merged: since 6.11 the kernel reads 0x40 as "
            "RWF_ATOMIC. fio 3.40 on sets RWF_DONTCACHE; build against one "
            "(scripts/setup --fio-debian sid) or drop uncached.")


def enghelp(engine, opt=None):
    r = run_fio([f"--enghelp={engine}" + (f",{opt}" if opt else "")])
    return r.stdout


def uring_options():
    return [ln.split(":")[0].strip() for ln in enghelp("io_uring").splitlines()
            if re.match(r"^\S+\s+:", ln)]


def describe(text):
    """type, default and range lines of `fio --enghelp=ENGINE,OPT`."""
    return [ln.strip() for ln in text.splitlines()
            if ln.strip().startswith(("type:", "default:", "range:"))]


def test_every_option_has_a_case():
    names = uring_options()
    assert "hipri" in names and "fixedbufs" in names, names
    assert [n for n in names if n not in CASES] == []


@pytest.mark.parametrize("name", uring_options())
def test_same_type_and_default(name):
    ours = enghelp(ENGINE, name)
    assert describe(ours), f"dmabuf_uring has no option {name}:\n{ours}"
    assert describe(ours) == describe(enghelp("io_uring", name))


def io_errors(stderr):
    """fio's own 'io_u error' lines, without the offsets."""
    return {re.sub(r"offset=\d+", "", ln) for ln in stderr.splitlines()
            if ln.startswith("fio: io_u error")}


def prios(job):
    """fio's I/O count per priority, writes and verify reads; none where
    every I/O had one priority."""
    return [(p["prioclass"], p["prio"], p["clat_ns"]["N"])
            for d in ("write", "read") for p in job[d].get("prios", [])]


def job(target, extra):
    return [f"--name=parity", f"--filename={target}", "--size=4m", "--bs=4k",
            "--rw=randwrite", "--verify=crc32c", "--iodepth=8", "--direct=1",
            "--output-format=json", *extra]


@pytest.mark.parametrize("name", uring_options())
def test_same_outcome(name, target, tmp_path):
    extra, refusal = CASES[name]
    if refusal == "uncached-0x40":
        refusal = uncached_0x40()
    ref = run_fio(["--ioengine=io_uring", *job(target, extra)])
    ours = run_fio([*SWITCH, f"--dmabuf_report={tmp_path}/r.jsonl",
                    *job(target, extra)])
    errs = [ln for ln in ours.stderr.splitlines() if ln.startswith(PREFIX)]
    if refusal:
        assert ours.returncode == 1 and errs == [PREFIX + refusal], ours.stderr
        return
    assert ours.returncode == ref.returncode, \
        f"io_uring: {ref.returncode} {ref.stderr}\ndmabuf_uring: {ours.stderr}"
    if ref.returncode:
        # the kernel refused both alike (here: hipri or uncached on this
        # filesystem); dmabuf_uring names the first request that failed
        assert io_errors(ours.stderr) == io_errors(ref.stderr) != set()
        assert len(errs) == 1, ours.stderr
    else:
        assert errs == [], ours.stderr
    if ref.returncode == 0:
        a, = json.loads(ref.stdout)["jobs"]
        b, = json.loads(ours.stdout)["jobs"]
        assert b["error"] == 0 and b["write"]["total_ios"] == 1024
        # cmdprio: the same I/Os got the same priorities under both, and
        # those of a priority other than the default reached the SQE
        assert prios(a) == prios(b)
        row, = read_reports(tmp_path / "r.jsonl")
        if "--cmdprio_percentage=100" in extra:
            assert row["prio_ios"] == row["ios"] > 0


def test_prio_and_uncached_refusals(target):
    for extra, msg in (
            (["--uncached=1"], "uncached with direct=1: Invalid argument "
             "(EINVAL). uncached applies to buffered I/O only (fio's "
             "io_uring engine ignores it with direct=1). Drop one of them."),
            (["--uncached=1", "--dmabuf_attach=kernel"],
             "uncached with dmabuf_attach=kernel: Invalid argument (EINVAL). "
             "uncached applies to buffered I/O, and the kernel registers a "
             "dma-buf only for direct=1. Drop uncached.")):
        r = run_fio([*SWITCH, *job(target, []), *extra])
        errs = [ln for ln in r.stderr.splitlines() if ln.startswith(PREFIX)]
        assert r.returncode == 1 and errs == [PREFIX + msg], r.stderr


@pytest.mark.parametrize("extra", [["--cmdprio_percentage=50"],
                                   ["--cmdprio_bssplit=4k/30"]])
def test_cmdprio_reaches_the_sqe(target, tmp_path, extra):
    """The I/Os fio's cmdprio code gives a priority are the ones sent with
    it (no verify here: fio's stats count writes only)."""
    args = [a for a in job(target, extra) if a != "--verify=crc32c"]
    r = run_fio([*SWITCH, f"--dmabuf_report={tmp_path}/r.jsonl", *args])
    assert r.returncode == 0, r.stderr
    b, = json.loads(r.stdout)["jobs"]
    row, = read_reports(tmp_path / "r.jsonl")
    high = sum(n for c, p, n in prios(b) if (c, p) != (0, 0))
    assert 0 < row["prio_ios"] == high < row["ios"] == 1024


@pytest.mark.parametrize("inject", [0, 7])
def test_prio_prioclass_reach_every_sqe(target, tmp_path, inject):
    """prio/prioclass (fio's, not the engine's) reach every SQE as in fio's
    io_uring engine, reissues after -EAGAIN too; the kernel takes
    best-effort level 4."""
    r = run_fio([*SWITCH, f"--dmabuf_report={tmp_path}/r.jsonl",
                 f"--dmabuf_inject_eagain={inject}",
                 *job(target, ["--prioclass=2", "--prio=4"])])
    assert r.returncode == 0, r.stderr
    row, = read_reports(tmp_path / "r.jsonl")
    # verify reads count too: every request fio issued
    assert row["prio_ios"] == row["ios"] > 0
    assert (row["eagain_reissues"] > 0) == bool(inject)


def io_uring_job_files():
    return sorted(p for p in (REPO / "jobs").rglob("*.fio")
                  if re.search(r"^ioengine=io_uring$", p.read_text(), re.M))


@pytest.mark.parametrize("path", io_uring_job_files(),
                         ids=lambda p: str(p.relative_to(REPO / "jobs")))
def test_job_file_switches_by_engine_line(path, target, tmp_path):
    text = path.read_text()
    switched = re.sub(r"^ioengine=io_uring$", "ioengine=dmabuf_uring\n"
                      "dmabuf_src=host\ndmabuf_attach=pages", text, flags=re.M)
    assert len(re.findall(r"^ioengine=", switched, re.M)) == 1
    (tmp_path / path.name).write_text(switched)
    env = {"DEV": str(target), "SIZE": "8m", "RUNTIME": "1", "RATE_IOPS": "0"}
    r = run_fio(["--output-format=json", tmp_path / path.name], env=env,
                timeout=60)
    assert r.returncode == 0, r.stderr
    jobs = json.loads(r.stdout)["jobs"]
    assert jobs and all(j["error"] == 0 and j["read"]["total_ios"] > 0
                        for j in jobs), r.stdout[-2000:]


@pytest.mark.parametrize("reg", [0, 1])
def test_register_ring_is_opt_in_and_reported(target, tmp_path, reg):
    """dmabuf_register_ring: off by default (like fio's io_uring engine),
    on when asked, and the report says which ran."""
    r = run_fio([*SWITCH, f"--dmabuf_report={tmp_path}/r.jsonl",
                 *([f"--dmabuf_register_ring={reg}"] if reg else []),
                 *job(target, [])])
    assert r.returncode == 0, r.stderr
    row, = read_reports(tmp_path / "r.jsonl")
    assert row["ring"]["registered_ring"] is bool(reg)
    assert row["result"] == "ok" and row["ios"] == 2048
