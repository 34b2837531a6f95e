"""Fixtures of the VM-rig tests: a ready rig, or a visible reason it is not."""

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QEMU_BIN = "/usr/bin/qemu-system-x86_64"


def pytest_configure(config):
    config.addinivalue_line("markers", "vm: boots the QEMU VM rig (scripts/dmabuf-bench vm)")


@pytest.fixture(scope="session")
def rig():
    """scripts/dbu/vm.py with the kernel and initramfs cached.

    Skips only when QEMU itself is missing; a rig that cannot be built
    (download failure, missing busybox-static) fails the tests.
    """
    if not os.access(QEMU_BIN, os.X_OK):
        pytest.skip(f"{QEMU_BIN} is missing (apt-get install qemu-system-x86)")
    sys.path.insert(0, str(REPO / "scripts"))
    from dbu import vm  # pylint: disable=import-outside-toplevel
    vm.ensure_rig()
    return vm
