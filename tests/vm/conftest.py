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
    return Rig(vm)


class Rig:
    """vm.run with the environment fio gets on the host (dbu_test.fio_env):
    the build under test (DBU_BUILD_DIR) first on the library path and, for
    the ASan/UBSan build, its runtime preloaded."""

    def __init__(self, vm):
        self.vm = vm

    def run(self, command, **kw):
        from dbu_test import fio_env  # pylint: disable=import-outside-toplevel
        full = fio_env()
        env = {k: full[k] for k in ("LD_LIBRARY_PATH", "LD_PRELOAD",
                                    "ASAN_OPTIONS", "UBSAN_OPTIONS")
               if k in full}
        env.update(kw.pop("env", None) or {})
        return self.vm.run(command, env=env, **kw)

    def __getattr__(self, name):
        return getattr(self.vm, name)
