# SPDX-License-Identifier: GPL-2.0-only
"""Host tier of the result pipeline: `dmabuf-bench run` on a file with the
real fio and engine, then report, compare (gate and refusals) and plot."""
import json
from pathlib import Path

import pytest

from dbu_test import fio_env
from pipeline_util import BUILD, REPO, bench, need_host_tools, need_matplotlib, rows

pytestmark = pytest.mark.host

QUICK = ["--runtime", "1", "--job", "host-pages-qd128", "--job", "host-pages-qd1"]


@pytest.fixture(autouse=True)
def _tools():
    need_host_tools()


def test_run_writes_labelled_rows_raw_json_and_refusals(tmp_path, target_file):
    out = tmp_path / "res"
    p = bench("run", "iommu-cost", "--target", target_file, "--runtime", "1", "--out", out)
    assert p.returncode == 0, p.stderr
    rs = rows(out)
    by_job = {r["job"]: r for r in rs}
    assert set(by_job) == {f"randread-4k/{m}-qd{q}" for m in
                           ("host-pages", "udmabuf-pages", "udmabuf-kernel")
                           for q in (128, 1)} | {"reference-io_uring/io_uring-qd128",
                                                 "reference-io_uring/io_uring-qd1"}
    for r in rs:
        assert r["scenario"] == "iommu-cost" and r["iommu"] in ("off", "strict", "lazy", "pt")
        assert r["device"].startswith("file@")
    hp = by_job["randread-4k/host-pages-qd128"]
    assert hp["status"] == "ok" and hp["iops"] > 0 and hp["bw_mib"] > 0
    assert hp["source"] == "host" and hp["attach"] == "pages" and hp["exporter"] == "host"
    assert hp["clat_p99_us"] > 0 and hp["cpu_per_io_us"] > 0 and hp["eagain"] == 0
    assert hp["iodepth"] == "128" and hp["engine_version"]
    # attach=kernel cannot run on a stock kernel: a row with its reason, no number.
    k = by_job["randread-4k/udmabuf-kernel-qd128"]
    assert k["status"] == "refused" and k["iops"] is None
    assert k["attach"] == "kernel" and k["source"] == "udmabuf"
    assert "series" in k["reason"] or "not available" in k["reason"], k["reason"]
    # Raw material: fio JSON per job, the engine's reports, system info.
    raw = next((out / "raw").iterdir())
    doc = json.loads((raw / "randread-4k.host-pages-qd128.json").read_text())
    assert doc["jobs"][0]["jobname"] == "host-pages-qd128"
    reps = [json.loads(x) for x in (raw / "randread-4k.report.jsonl").read_text().splitlines()]
    assert {x["job"] for x in reps} >= {"host-pages-qd128", "host-pages-qd1"}
    info = json.loads(next((out / "sysinfo").iterdir()).read_text())
    for key in ("kernel", "cmdline", "iommu", "target", "fio", "engine", "source_revision"):
        assert key in info, key
    assert info["fio"]["version"].startswith("fio-") and info["engine"]["sha256"]
    assert (out / "results.csv").read_text().count("\n") == len(rs) + 1


def test_run_appends_to_out_dir(tmp_path, target_file):
    out = tmp_path / "res"
    for _ in range(2):
        assert bench("run", "iommu-cost", "--target", target_file, "--out", out,
                     *QUICK).returncode == 0
    rs = rows(out)
    assert len(rs) == 4 and len({r["run_id"] for r in rs}) == 2
    rep = bench("report", out)
    assert rep.returncode == 0
    assert "randread-4k/host-pages-qd128" in rep.stdout


def test_run_refuses_a_mode_the_target_is_not_in(tmp_path, target_file):
    out = tmp_path / "res"
    first = bench("run", "iommu-cost", "--target", target_file, "--out", out, *QUICK)
    mode = rows(out)[0]["iommu"]
    other = "strict" if mode != "strict" else "pt"
    p = bench("run", "iommu-cost", "--target", target_file, "--iommu", other,
              "--out", out, *QUICK)
    assert first.returncode == 0
    assert p.returncode == 2 and "refusing to label" in p.stderr
    p = bench("run", "iommu-cost", "--target", target_file, "--iommu", "strict,lazy",
              "--out", out, *QUICK)
    assert p.returncode == 2 and "boot setting" in p.stderr
    assert len(rows(out)) == 2  # nothing was added by the refused runs


def test_compare_two_real_runs_and_an_injected_slowdown(tmp_path, target_file):
    """Both runs capped at 400 IOPS (RATE_IOPS; low enough for a loaded 2-core machine at QD1), so their IOPS agree whatever
    else the machine does; the candidate capped at 40 is a 90 % drop."""
    base, same, slow = (tmp_path / n for n in ("base", "same", "slow"))
    for d, rate in ((base, 400), (same, 400), (slow, 40)):
        assert bench("run", "iommu-cost", "--target", target_file, "--out", d,
                     "--set", f"RATE_IOPS={rate}", *QUICK).returncode == 0
    gate = ["--metrics", "iops,bw_mib", "--threshold", "25"]
    ok = bench("compare", base, same, *gate, "--json", tmp_path / "b.json",
               "--json-smaller", tmp_path / "s.json")
    assert ok.returncode == 0, ok.stdout
    assert "iops" in ok.stdout and "randread-4k/host-pages-qd128" in ok.stdout
    bigger = json.loads((tmp_path / "b.json").read_text())
    assert bigger and all({"name", "unit", "value"} <= set(e) for e in bigger)
    assert any(e["unit"] == "IOPS" for e in bigger)
    assert json.loads((tmp_path / "s.json").read_text())
    bad = bench("compare", base, slow, *gate)
    assert bad.returncode == 1, bad.stdout
    assert "REGRESSION" in bad.stdout and "regression" in bad.stderr
    line = next(x for x in bad.stdout.splitlines()
                if " iops " in x and "host-pages-qd128" in x)
    # about -90 %: 40 IOPS, or 41 when fio fits one more I/O into the second
    # (either fio version, now and then: -89.8 %)
    pct = float(next(w for w in line.split() if w.endswith("%")).rstrip("%"))
    assert -95 < pct < -85, line


def test_compare_refuses_rows_whose_labels_differ(tmp_path, target_file, attach_scenario):
    a, b = tmp_path / "pages", tmp_path / "bounce"
    for d, att in ((a, "pages"), (b, "bounce")):
        assert bench("run", attach_scenario, "--target", target_file, "--runtime", "1",
                     "--out", d, "--set", f"ATTACH={att}").returncode == 0
    assert rows(a)[0]["attach"] == "pages" and rows(b)[0]["attach"] == "bounce"
    p = bench("compare", a, b)
    assert p.returncode == 2
    assert "labels differ" in p.stderr and "attach pages -> bounce" in p.stderr


def test_report_markdown_and_plots(tmp_path, target_file):
    need_matplotlib()
    out = tmp_path / "res"
    assert bench("run", "iommu-cost", "--target", target_file, "--runtime", "1",
                 "--out", out).returncode == 0
    md = bench("report", out, "--markdown")
    assert md.returncode == 0
    for r in rows(out):
        assert f"| {r['job']} |" in md.stdout
    assert "| refused |" in md.stdout and "|---" in md.stdout
    p = bench("plot", out)
    assert p.returncode == 0
    png = Path(p.stdout.split()[0])
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_report_and_compare_say_what_is_missing(tmp_path):
    empty = tmp_path / "nothing"
    empty.mkdir()
    p = bench("report", empty)
    assert p.returncode == 2 and "results.json" in p.stderr
    p = bench("compare", empty, empty)
    assert p.returncode == 2 and "results.json" in p.stderr


def test_p2p_verify_chains_and_the_witness(tmp_path, target_file):
    """The direction-isolated verify jobs with host memory standing in for the
    GPU (GPU_SRC=host): the bounce chains verify; a writer that cannot run
    (kernel attach) makes its witness a skipped row, not a data error; and the
    witness really catches data that never came from the writer."""
    out = tmp_path / "res"
    p = bench("run", "p2p", "--target", target_file, "--set", "GPU_SRC=host",
              "--job", "verify-*/*", "--out", out)
    assert p.returncode == 0, p.stderr
    st = {r["job"]: r for r in rows(out)}
    for j in ("verify-write/poison-bounce", "verify-write/write-bounce",
              "verify-write/witness-bounce", "verify-read/seed", "verify-read/read-bounce"):
        assert st[j]["status"] == "ok", (j, st[j]["reason"])
    assert st["verify-write/write-kernel"]["status"] == "refused"
    w = st["verify-write/witness-kernel"]
    assert w["status"] == "skipped" and "needs write-kernel" in w["reason"]
    assert st["verify-read/read-kernel"]["status"] == "refused"
    # Negative control: poison, then the witness without a writer -> fio's
    # verify fails on the poison (EILSEQ), through plain fio on the expanded file.
    xfile = next((out / "raw").iterdir()) / "verify-write.fio"
    import subprocess
    r = subprocess.run(["fio", "--section=poison-bounce", "--section=witness-bounce",
                        "--output-format=json", f"--output={tmp_path / 'neg.json'}",
                        str(xfile)], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)  # fio leaves *-verify.state files in its cwd
    assert r.returncode != 0
    doc = json.loads((tmp_path / "neg.json").read_text())
    errs = {j["jobname"]: j["error"] for j in doc["jobs"]}
    assert errs == {"poison-bounce": 0, "witness-bounce": 84}, errs
    assert "bad magic header" in r.stderr


def test_p2p_on_the_cuda_double(tmp_path, target_file):
    """GPU_SRC=cuda:0 through the libcuda test double (tests/cuda/): the
    bounce verify chains pass unchanged, and the report's p2p table says, per
    row, where the memory was."""
    out = tmp_path / "res"
    double = BUILD / "cuda-double" / "current"
    p = bench("run", "p2p", "--target", target_file, "--set", "GPU_SRC=cuda:0",
              "--job", "verify-*/*", "--out", out,
              env={"LD_LIBRARY_PATH": str(double)})
    assert p.returncode == 0, p.stderr
    st = {r["job"]: r for r in rows(out)}
    for j in ("verify-write/write-bounce", "verify-write/witness-bounce",
              "verify-read/read-bounce"):
        assert st[j]["status"] == "ok", (j, st[j]["reason"])
    assert st["verify-read/read-bounce"]["cpu_view"] == "shadow"
    assert st["verify-read/read-bounce"]["placement"].startswith(
        "CUDA device memory (cuMemAlloc) on cuda:0, dbu libcuda test double")
    rep = bench("report", out)
    assert rep.returncode == 0, rep.stderr
    head = next(ln for ln in rep.stdout.splitlines() if ln.startswith("job "))
    assert "memory" in head.split()
    line = next(ln for ln in rep.stdout.splitlines()
                if ln.startswith("verify-read/read-bounce"))
    assert "CUDA device memory (cuMemAlloc) on cuda:0" in line


@pytest.mark.parametrize("jobfile", sorted(
    str(p.relative_to(REPO)) for p in (REPO / "jobs").glob("*/*.fio")))
def test_job_file_has_header_and_parses(jobfile, tmp_path, target_file):
    """Each job file starts with its comment block (purpose, variables,
    example, caveats), protects device targets, and fio accepts it."""
    import subprocess
    text = (REPO / jobfile).read_text()
    head = text.split("\n[", 1)[0]
    assert all(line.startswith("#") or not line.strip() for line in head.splitlines())
    for word in ("Variables", "Example", "Caveats"):
        assert word in head, f"{jobfile}: header lacks {word}"
    assert "allow_file_create=0" in text and "${DEV}" in text
    # fio_env: the ASan build (DBU_BUILD_DIR) needs libasan preloaded
    env = fio_env(dict(DEV=str(target_file), SIZE="64m", VERIFY_SIZE="8m", RUNTIME="1",
                       RATE_IOPS="0", GPU_SRC="drm",
                       P2PMEM_SRC="p2pmem:none", REPORT=str(tmp_path / "r.jsonl"),
                       LD_LIBRARY_PATH=str(BUILD)))
    p = subprocess.run(["fio", "--parse-only", str(REPO / jobfile)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
