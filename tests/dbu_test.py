# SPDX-License-Identifier: GPL-2.0-only
"""Test helpers: the real fio with the engine from the build tree.

DBU_BUILD_DIR selects the build (scripts/test points it at the ASan/UBSan
build for the sanitizer pass); fio finds the bare engine name through
LD_LIBRARY_PATH, as a user's shell would after scripts/setup.  A build for
another fio than Debian's (scripts/setup --fio-src/--fio-git/--fio-debian)
links that fio as BUILD/bin/fio; importing this module puts BUILD/bin first
on PATH, so every "fio" the tests run (and dmabuf-bench's) is that one.
"""
import json
import os
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("DBU_BUILD_DIR", REPO / "build")).resolve()
ENGINE = BUILD / "fio-dmabuf_uring.so"
SANITIZED = (BUILD / "SANITIZED").exists()
FIO_BIN_DIR = BUILD / "bin"
if (FIO_BIN_DIR / "fio").exists() and \
        os.environ.get("PATH", "").split(":")[0] != str(FIO_BIN_DIR):
    os.environ["PATH"] = f"{FIO_BIN_DIR}:{os.environ.get('PATH', '/usr/bin:/bin')}"


def bare_path():
    """A minimal PATH that still finds the build's fio: /usr/bin:/bin, after
    BUILD/bin when the build has its own fio."""
    own = [str(FIO_BIN_DIR)] if (FIO_BIN_DIR / "fio").exists() else []
    return ":".join(own + ["/usr/bin", "/bin"])


def fio_env(extra=None):
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = str(BUILD) + (
        ":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    if SANITIZED:
        lib = subprocess.run(["gcc", "-print-file-name=libasan.so"],
                             capture_output=True, text=True).stdout.strip()
        env["LD_PRELOAD"] = lib
        # fio itself is not built for LeakSanitizer; the engine's errors
        # still abort the run.
        env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
        env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
    env.update(extra or {})
    return env


def run_fio(args, env=None, timeout=120, cwd=None):
    """Run fio; returns CompletedProcess (text stdout/stderr).  The default
    working directory is a temporary one: fio drops verify state there."""
    return subprocess.run(["fio"] + [str(a) for a in args], env=fio_env(env),
                          capture_output=True, text=True, timeout=timeout,
                          cwd=cwd or tempfile.gettempdir())


def read_reports(path):
    """The engine's report file: one JSON object per line."""
    return [json.loads(line) for line in Path(path).read_text().splitlines()
            if line.strip()]

