# SPDX-License-Identifier: GPL-2.0-only
"""Fixtures of the pipeline tests (helpers: pipeline_util.py)."""
import pytest


@pytest.fixture
def target_file(tmp_path):
    """A 64 MiB existing file (the job files use allow_file_create=0)."""
    p = tmp_path / "target.img"
    with open(p, "wb") as f:
        f.truncate(64 << 20)
    return p


@pytest.fixture
def attach_scenario(tmp_path):
    """A one-job scenario whose attach mode comes from a variable."""
    d = tmp_path / "attach-scn"
    d.mkdir()
    (d / "one.fio").write_text(
        "# test scenario: attach from ${ATTACH}\n"
        "[global]\nioengine=dmabuf_uring\nfilename=${DEV}\nallow_file_create=0\n"
        "direct=1\nrw=randread\nbs=4k\nsize=${SIZE}\ntime_based\nruntime=${RUNTIME}\n"
        "dmabuf_report=${REPORT}\n\n[host-4k]\ndmabuf_src=host\ndmabuf_attach=${ATTACH}\n")
    return d
