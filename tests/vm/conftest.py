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
    """vm.run with the build under test (DBU_BUILD_DIR) first on the guest's
    library path.  For the ASan/UBSan build, fio alone gets the runtime
    preloaded, through a wrapper first on the guest's PATH: preloaded into
    every command of a guest script it makes some of them hang."""

    def __init__(self, vm):
        self.vm = vm

    def run(self, command, **kw):
        # pylint: disable=import-outside-toplevel
        from dbu_test import BUILD, SANITIZED, fio_env
        full = fio_env()
        env = {"LD_LIBRARY_PATH": full["LD_LIBRARY_PATH"]}
        if SANITIZED:
            wrap = BUILD / "guest-bin"
            wrap.mkdir(exist_ok=True)
            (wrap / "fio").write_text(
                "#!/bin/sh\n"
                f"LD_PRELOAD={full['LD_PRELOAD']} "
                f"ASAN_OPTIONS={full['ASAN_OPTIONS']} "
                f"UBSAN_OPTIONS={full['UBSAN_OPTIONS']} "
                'exec /usr/bin/fio "$@"\n')
            (wrap / "fio").chmod(0o755)
            env["PATH"] = f"{wrap}:{os.environ.get('PATH', '/usr/bin:/bin')}"
        env.update(kw.pop("env", None) or {})
        return self.vm.run(command, env=env, **kw)

    def __getattr__(self, name):
        return getattr(self.vm, name)
