# SPDX-License-Identifier: GPL-2.0-only
"""host tier: no fd or mapping growth in fio across many engine jobs.

One fio run holds GROUPS stonewalled groups of numjobs=4 dmabuf_uring jobs
(dmabuf_src=host, pages or bounce, verify=crc32c); each job sets up its ring,
registers its buffers and unregisters them at the end, so the run does
4 x GROUPS registrations and unregistrations.  Between the groups a
stonewalled probe job (ioengine=null, so it adds nothing of the engine's)
runs tests/host's probe through exec_prerun: fio calls system(), and the
probe walks up from itself to the fio processes and records the fd targets
and the mappings of

  job   the first fio ancestor: the process running the probe job (thread
        mode: fio's main process; process mode: the job's forked child,
        which inherited the main process's fds and mappings)
  main  the topmost fio ancestor: fio's main process

When a probe runs, every earlier engine job has exited (stonewall), so the
fd targets after the last group must equal those after the first, and the
mappings must grow no more than in a control run of the same jobs with fio's
psync engine (fio itself keeps one MAP_SHARED /dev/zero page per job it ran;
mappings are counted from group 2, after glibc's arenas settle, and unnamed
anonymous ones may differ by ANON_SLACK); a difference
is reported by fd target (anon_inode:[io_uring], /memfd:..., a path) and by
mapping name.  Both thread=1 and thread=0 (processes) run.
"""
import collections
import os
import re

import pytest

from dbu_test import SANITIZED, read_reports, run_fio

pytestmark = [pytest.mark.host]

GROUPS = 8
NUMJOBS = 4
ANON_SLACK = 2
# ASan's allocator maps its own anonymous regions as the heap grows: under
# the ASan build only named mappings (and every fd) are compared
ANON_CHECKED = not SANITIZED
PROBE = r"""#!/bin/sh
# $1: probe name.  Walk up to the fio processes (comm "fio").
pid=$$ job= main=
while [ "$pid" -gt 1 ]; do
	comm=$(cat /proc/$pid/comm 2>/dev/null)
	if [ "$comm" = fio ]; then
		[ -z "$job" ] && job=$pid
		main=$pid
	fi
	pid=$(awk '{print $4}' /proc/$pid/stat)
done
for role in job main; do
	eval p=\$$role
	echo "pid $role $p"
	for fd in /proc/$p/fd/*; do
		echo "fd $role $(readlink "$fd")"
	done
	awk -v r=$role '{ n = $6 == "" ? "[anon]" : $6; print "map " r " " n }' \
		/proc/$p/maps
done
"""


def read_probe(path):
    """{role: {"pid": pid, "fd": Counter, "map": Counter}}"""
    out = collections.defaultdict(lambda: {"fd": collections.Counter(),
                                           "map": collections.Counter()})
    for line in path.read_text().splitlines():
        kind, role, what = (line.split(" ", 2) + [""])[:3]
        if kind == "pid":
            out[role]["pid"] = int(what)
        elif kind in ("fd", "map"):
            # the probe's own pipe/redirection fds are the shell's, not fio's;
            # fd numbers are not kept: only what they point to
            what = re.sub(r"\d+", "N", what) if what.startswith(
                ("pipe:", "socket:", "anon_inode:[eventpoll]")) else what
            out[role][kind][what] += 1
    return out


def growth(first, last):
    """{name: last - first} for the names whose count changed."""
    return {k: last[k] - first[k] for k in set(first) | set(last)
            if last[k] != first[k]}


def show(delta):
    return ", ".join(f"{n:+d} {w}" for w, n in sorted(delta.items())) or "none"


def job_file(tmp_path, probe, target, report, engine, attach, mode):
    """GROUPS groups of NUMJOBS jobs, a probe after each, and one more group
    at the end so that fio keeps the engine loaded at every probe (in thread
    mode fio dlcloses it when its last job ends)."""
    lines = ["[global]", f"filename={target}", "direct=1",
             f"thread={1 if mode == 'thread' else 0}", "size=2m"]
    for g in range(GROUPS + 1):
        lines += [f"[io{g}]", "stonewall", f"ioengine={engine}",
                  f"numjobs={NUMJOBS}", "offset_increment=2m", "rw=randrw",
                  "bsrange=4k-64k", "iodepth=8", "verify=crc32c",
                  "verify_fatal=1"]
        if engine == "dmabuf_uring":
            lines += ["dmabuf_src=host", f"dmabuf_attach={attach}",
                      f"dmabuf_report={report}"]
        if g < GROUPS:
            lines += [f"[probe{g}]", "stonewall", "ioengine=null", "size=4k",
                      f"exec_prerun={probe} probe{g}"]
    path = tmp_path / f"leaks-{engine}.fio"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_probed(tmp_path, engine, attach, mode):
    d = tmp_path / engine
    d.mkdir()
    probe = d / "probe.sh"
    probe.write_text(PROBE)
    probe.chmod(0o755)
    target = d / "target.img"
    with open(target, "wb") as f:
        f.truncate((NUMJOBS * 2) << 20)
    report = d / "r.jsonl"
    r = run_fio([job_file(d, probe, target, report, engine, attach, mode)],
                cwd=d, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    if engine == "dmabuf_uring":
        rows = read_reports(report)
        assert len(rows) == (GROUPS + 1) * NUMJOBS
        assert all(row["result"] == "ok" and row["errors"] == []
                   for row in rows), rows
    return [read_probe(d / f"probe{g}.prerun.txt") for g in range(GROUPS)]


@pytest.mark.parametrize("attach", ["pages", "bounce"])
@pytest.mark.parametrize("mode", ["thread", "process"])
def test_no_growth(tmp_path, attach, mode):
    """The engine's run against a control run of fio's psync engine with the
    same jobs: fio itself grows by one MAP_SHARED page (/dev/zero) per job
    it has run (its own shared allocations), so mappings are compared as
    growth beyond the control's; fds must not grow at all."""
    probes = run_probed(tmp_path, "dmabuf_uring", attach, mode)
    control = run_probed(tmp_path, "psync", attach, mode)
    first, last = probes[0], probes[-1]
    counts = {role: [(sum(p[role]["fd"].values()), sum(p[role]["map"].values()))
                     for p in probes] for role in ("job", "main")}
    ccounts = {role: [(sum(p[role]["fd"].values()),
                       sum(p[role]["map"].values())) for p in control]
               for role in ("job", "main")}
    print(f"\nleaks {mode} {attach}: (fds, maps) after each of {GROUPS} "
          f"groups of {NUMJOBS} jobs: {counts}; psync control: {ccounts}")
    if mode == "thread":
        assert first["job"]["pid"] == first["main"]["pid"], first
    else:
        assert first["job"]["pid"] != first["main"]["pid"], first
    for role in ("job", "main"):
        fds = growth(first[role]["fd"], last[role]["fd"])
        assert not fds, (
            f"{mode} {attach}: fds of the {role} fio process grew from "
            f"group 1 to group {GROUPS}: {show(fds)}; (fds, maps) per group: "
            f"{counts[role]}")
        # mappings from group 2 on: in thread mode glibc's malloc arenas and
        # thread-stack cache settle during the first group (+0 to +2 [anon]
        # either way in both runs)
        ours = growth(probes[1][role]["map"], last[role]["map"])
        theirs = growth(control[1][role]["map"], control[-1][role]["map"])
        extra = {k: ours.get(k, 0) - theirs.get(k, 0)
                 for k in set(ours) | set(theirs)
                 if ours.get(k, 0) != theirs.get(k, 0)}
        # unnamed anonymous mappings wobble by one or two either way in
        # thread mode (glibc arenas, ASan's per-thread regions), in the
        # control run too; a leak of one per job would be
        # NUMJOBS * (GROUPS - 2) = 24 here
        if abs(extra.get("[anon]", 0)) <= ANON_SLACK or not ANON_CHECKED:
            extra.pop("[anon]", None)
        assert not extra, (
            f"{mode} {attach}: mappings of the {role} fio process grew from "
            f"group 2 to group {GROUPS} beyond fio's own (psync control): "
            f"{show(extra)} (engine run {show(ours)}, control {show(theirs)}); "
            f"(fds, maps) per group: {counts[role]}")
