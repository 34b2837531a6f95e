# SPDX-License-Identifier: GPL-2.0-only
"""The engine loads three ways, lists its options, refuses a foreign fio."""
import subprocess

import pytest

from dbu_test import BUILD, ENGINE, REPO, bare_path, run_fio

pytestmark = [pytest.mark.host]

OPTIONS = ["dmabuf_src", "dmabuf_attach", "dmabuf_size_max", "dmabuf_report",
           "dmabuf_eagain_max", "dmabuf_watchdog", "dmabuf_cpu_sync",
           "dmabuf_inject_eagain", "hipri", "registerfiles", "sqthread_poll",
           "sqthread_poll_cpu", "nowait", "force_async"]


def small_job(target, engine="dmabuf_uring"):
    return ["--name=load", f"--ioengine={engine}", f"--filename={target}",
            "--dmabuf_src=host", "--dmabuf_attach=pages", "--rw=read",
            "--bs=4k", "--size=1m", "--direct=1"]


def fio_version():
    return subprocess.run(["fio", "--version"], capture_output=True,
                          text=True).stdout.strip()


def test_bare_name_from_build_tree(target):
    r = run_fio(small_job(target))
    assert r.returncode == 0, r.stderr
    assert "ioengine=dmabuf_uring" in r.stdout
    assert "dmabuf_uring: load: source=host exporter=host attach=pages" \
        in r.stderr


def test_external_path(target):
    r = run_fio(small_job(target, f"external:{ENGINE}"))
    assert r.returncode == 0, r.stderr
    assert "source=host exporter=host attach=pages" in r.stderr


def test_enghelp_lists_every_option():
    r = run_fio(["--enghelp=dmabuf_uring"])
    assert r.returncode == 0, r.stderr
    listed = {line.split(":")[0].strip() for line in r.stdout.splitlines()
              if ":" in line}
    assert set(OPTIONS) <= listed, r.stdout
    for line in r.stdout.splitlines():
        name, _, text = line.partition(":")
        if name.strip() in OPTIONS:
            assert len(text.strip()) > 10, f"no help for {name}"


def test_enghelp_option_detail():
    r = run_fio(["--enghelp=dmabuf_uring,dmabuf_attach"])
    assert r.returncode == 0
    assert "default: kernel" in r.stdout
    r = run_fio(["--enghelp=dmabuf_uring,dmabuf_src"])
    assert "default: udmabuf" in r.stdout


def cached(name):
    """NAME's value in the build under test's CMakeCache.txt ('' if unset)."""
    for line in (BUILD / "CMakeCache.txt").read_text().splitlines():
        if line.split(":", 1)[0] == name and "=" in line:
            return line.split("=", 1)[1]
    return ""


def cmake_build(tmp_path, *defs):
    bdir = tmp_path / "b"
    # the same fio and headers as the build under test
    own = []
    if cached("FIO_BIN"):
        own.append(f"-DFIO_BIN={cached('FIO_BIN')}")
    subprocess.run(["cmake", "-S", str(REPO), "-B", str(bdir),
                    f"-DFIO_SOURCE_DIR={cached('FIO_SOURCE_DIR')}", *own,
                    *defs], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(bdir)], check=True,
                   capture_output=True)
    return bdir


def test_bare_name_after_install(tmp_path, target):
    loader = tmp_path / "loader"
    bdir = cmake_build(tmp_path, f"-DCMAKE_INSTALL_PREFIX={tmp_path}/prefix",
                       f"-DDBU_LOADER_DIR={loader}")
    subprocess.run(["cmake", "--install", str(bdir)], check=True,
                   capture_output=True)
    assert (tmp_path / "prefix/lib/fio/fio-dmabuf_uring.so").is_file()
    assert (loader / "dmabuf_uring").resolve() == \
        (tmp_path / "prefix/lib/fio/fio-dmabuf_uring.so")
    r = subprocess.run(["fio"] + small_job(target), capture_output=True,
                       text=True, env={"PATH": bare_path(),
                                       "LD_LIBRARY_PATH": str(loader)})
    assert r.returncode == 0, r.stderr


def test_default_loader_dir_is_a_glibc_system_dir():
    cache = (BUILD / "CMakeCache.txt").read_text()
    assert "DBU_LOADER_DIR:PATH=/usr/lib/x86_64-linux-gnu" in cache


def test_refuses_other_fio_version(tmp_path, target):
    bdir = cmake_build(tmp_path, "-DDBU_FIO_VERSION_OVERRIDE=fio-3.99")
    r = subprocess.run(["fio"] + small_job(target, "dmabuf_uring"),
                       capture_output=True, text=True,
                       env={"PATH": bare_path(),
                            "LD_LIBRARY_PATH": str(bdir)})
    have = fio_version()
    assert r.returncode == 1
    assert (f"fio: dmabuf_uring: this engine was built for fio-3.99 but is "
            f"loaded by {have}; struct layouts differ between fio versions. "
            f"Rebuild it against this fio's source: scripts/setup (Debian's "
            f"fio), scripts/setup --fio-src <source of {have}> (--fio-git for "
            f"a git checkout), or cmake -DFIO_SOURCE_DIR=<it>") in r.stderr
    assert ("fio: dmabuf_uring: loading the engine: Protocol error (EPROTO). "
            f"it was built for fio-3.99 but runs in {have}") in r.stderr
