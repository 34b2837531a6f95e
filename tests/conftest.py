# SPDX-License-Identifier: GPL-2.0-only
"""Shared fixtures.  Helpers live in dbu_test.py (tests/ is on sys.path
through pytest.ini), so that tier folders may have conftest files too."""
import pytest

import dbu_test  # noqa: F401  (puts the build's own fio, if any, first on PATH)


@pytest.fixture
def target(tmp_path):
    """A 32 MiB regular file to do I/O on."""
    path = tmp_path / "target.img"
    with open(path, "wb") as f:
        f.truncate(32 << 20)
    return path
