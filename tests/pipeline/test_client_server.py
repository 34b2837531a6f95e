# SPDX-License-Identifier: GPL-2.0-only
"""fio client/server: a scenario runs on "another host" (here: a fio server
on 127.0.0.1 with the engine on its LD_LIBRARY_PATH) driven by
`dmabuf-bench run --client`, and by plain `fio --client`."""
import socket
import subprocess
import time

import pytest

from dbu_test import fio_env
from pipeline_util import BUILD, REPO, bench, need_host_tools, rows

pytestmark = pytest.mark.host


@pytest.fixture
def fio_server(tmp_path):
    need_host_tools()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # fio_env: the ASan build (DBU_BUILD_DIR) needs libasan preloaded
    env = fio_env({"LD_LIBRARY_PATH": str(BUILD)})
    log = open(tmp_path / "server.log", "w")
    srv = subprocess.Popen(["fio", f"--server=ip:127.0.0.1,{port}"], env=env,
                           stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           cwd=tmp_path)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if srv.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"fio --server did not listen on {port}: "
                                f"{(tmp_path / 'server.log').read_text()}")
                time.sleep(0.1)
        yield f"ip:127.0.0.1,{port}"
    finally:
        srv.terminate()
        try:
            srv.wait(timeout=10)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()
        log.close()


def test_scenario_through_fio_server(tmp_path, target_file, fio_server):
    out = tmp_path / "res"
    p = bench("run", "iommu-cost", "--target", target_file, "--client", fio_server,
              "--runtime", "1", "--job", "host-pages-qd1", "--job", "udmabuf-kernel-qd1",
              "--set", "SIZE=64m", "--out", out, timeout=180)
    assert p.returncode == 0, p.stderr
    by_job = {r["job"]: r for r in rows(out)}
    ok = by_job["randread-4k/host-pages-qd1"]
    assert ok["status"] == "ok" and ok["iops"] > 0 and ok["platform"] == "remote"
    assert ok["host"]  # the server's host name, from fio's client_stats
    # The engine's report is written on the server (same filesystem here).
    assert ok["exporter"] == "host" and ok["engine_version"]
    # IOMMU mode and device come from the server side (the engine's report).
    assert ok["iommu"] == "off" and ok["device"].startswith(f"{target_file}@")
    ref = by_job["randread-4k/udmabuf-kernel-qd1"]
    assert ref["status"] == "refused" and ref["iops"] is None and ref["reason"]


def test_plain_fio_client(tmp_path, target_file, fio_server):
    job = tmp_path / "c.fio"
    job.write_text(f"[c]\nioengine=dmabuf_uring\ndmabuf_src=host\ndmabuf_attach=pages\n"
                   f"filename={target_file}\nallow_file_create=0\ndirect=1\nrw=randread\n"
                   f"bs=4k\nsize=4m\ndmabuf_report={tmp_path / 'r.jsonl'}\n")
    out = tmp_path / "c.json"
    p = subprocess.run(["fio", f"--client={fio_server}", "--output-format=json",
                        f"--output={out}", str(job)], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    import sys
    sys.path.insert(0, str(REPO / "scripts"))
    from dbu.results import fio_jobs, load_fio_json
    doc = load_fio_json(out)  # client mode: server messages precede the JSON
    (j,) = fio_jobs(doc)
    assert j["jobname"] == "c" and j["error"] == 0 and j["read"]["total_ios"] == 1024
    assert '"source":"host"' in (tmp_path / "r.jsonl").read_text()
