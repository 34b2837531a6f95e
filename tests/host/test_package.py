# SPDX-License-Identifier: GPL-2.0-only
"""The Debian package (packaging/cpack.cmake): `cmake --build B --target
package` in a scratch build, unpacked with `dpkg -x` into a scratch root
(nothing is installed on the system), then used from there: fio loads the
packaged engine by its bare name, the packaged dmabuf-bench runs a scenario
from the packaged jobs, and dmabuf_uring(7) names every option and key."""
import gzip
import json
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from dbu_test import BUILD, REPO, read_reports

pytestmark = [pytest.mark.host, pytest.mark.nosanitize]

MULTIARCH = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
LOADER = f"usr/lib/{MULTIARCH}"
CLEAN = {"PATH": "/usr/bin:/bin"}


def need(tool, package):
    if not shutil.which(tool):
        pytest.skip(f"{tool} ({package}) missing")


def cache_value(cache, name):
    for line in Path(cache).read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split("=", 1)[1]
    return ""


@pytest.fixture(scope="module")
def pkg(tmp_path_factory):
    """(the .deb, the scratch root it is unpacked into, the build dir)."""
    need("dpkg-deb", "dpkg")
    cache = BUILD / "CMakeCache.txt"
    if not cache.is_file():
        pytest.skip(f"{cache} missing: run scripts/setup first")
    src = cache_value(cache, "FIO_SOURCE_DIR")
    # The package is for Debian's fio (/usr/bin/fio): a build against another
    # fio's headers has no Debian fio to depend on.
    gen = Path(src) / "FIO-VERSION-GEN"
    headers = [x.split("=", 1)[1] for x in gen.read_text().splitlines()
               if x.startswith("DEF_VER=")] if gen.is_file() else ["?"]
    debian = subprocess.run(["/usr/bin/fio", "--version"], capture_output=True,
                            text=True).stdout.strip() if Path("/usr/bin/fio").exists() else ""
    if headers[0] != debian:
        pytest.skip(f"build/ is built against {headers[0]} headers ({src}), Debian's "
                    f"/usr/bin/fio is {debian or 'missing'}: the package is for Debian's fio")
    tmp = tmp_path_factory.mktemp("package")
    bdir = tmp / "b"
    for cmd in (["cmake", "-S", str(REPO), "-B", str(bdir), f"-DFIO_SOURCE_DIR={src}"],
                ["cmake", "--build", str(bdir), "-j2"],
                ["cmake", "--build", str(bdir), "--target", "package"]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, f"{' '.join(cmd)}:\n{r.stdout[-3000:]}{r.stderr[-3000:]}"
    debs = list(bdir.glob("dmabuf-uring_*.deb"))
    assert len(debs) == 1, f"want one dmabuf-uring_*.deb in {bdir}, have {debs}"
    root = tmp / "root"
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(root)], check=True)
    yield debs[0], root, bdir
    shutil.rmtree(root)


def contents(deb):
    """{path: link target or ''} from dpkg-deb --contents."""
    out = {}
    for line in subprocess.run(["dpkg-deb", "--contents", str(deb)], check=True,
                               capture_output=True, text=True).stdout.splitlines():
        name = line.split(None, 5)[5]
        path, _, target = name.partition(" -> ")
        out[path.removeprefix("./").rstrip("/")] = target
    return out


def test_contents(pkg):
    deb, root, _ = pkg
    have = contents(deb)
    want = {
        "usr/lib/fio/fio-dmabuf_uring.so": "",
        f"{LOADER}/dmabuf_uring": "../fio/fio-dmabuf_uring.so",
        "usr/bin/dmabuf-bench": "",
        "usr/share/dmabuf-uring/scripts/dmabuf-bench": "",
        "usr/share/dmabuf-uring/scripts/dbu/cli.py": "",
        "usr/share/dmabuf-uring/scripts/dbu/runner.py": "",
        "usr/share/dmabuf-uring/build/dmabuf_uring": "../../../lib/fio/fio-dmabuf_uring.so",
        "usr/share/man/man7/dmabuf_uring.7.gz": "",
        "usr/share/doc/dmabuf-uring/copyright": "",
    }
    for f in sorted((REPO / "jobs").rglob("*.fio")):
        want[f"usr/share/dmabuf-uring/jobs/{f.relative_to(REPO / 'jobs')}"] = ""
    missing = {p: t for p, t in want.items() if have.get(p) != t}
    assert not missing, f"wrong or missing in {deb.name}: {missing}\nhave: {sorted(have)}"
    stray = [p for p in have if p.startswith("usr/local") or "__pycache__" in p]
    assert not stray, stray
    # The links resolve inside the package, wherever it is unpacked.
    assert (root / LOADER / "dmabuf_uring").resolve() == \
        root / "usr/lib/fio/fio-dmabuf_uring.so"


def test_depends_on_exactly_the_fio_built_for(pkg):
    deb, _, bdir = pkg
    src = Path(cache_value(bdir / "CMakeCache.txt", "FIO_SOURCE_DIR"))
    marks = list(src.glob(".dbu-source-*"))
    want = marks[0].name.removeprefix(".dbu-source-") if len(marks) == 1 else \
        subprocess.run(["dpkg-query", "-W", "-f=${Version}", "fio"],
                       capture_output=True, text=True).stdout.strip()
    info = subprocess.run(["dpkg-deb", "-I", str(deb)], check=True,
                          capture_output=True, text=True).stdout
    dep = [line for line in info.splitlines() if line.strip().startswith("Depends:")]
    assert dep, info
    deps = [d.strip() for d in dep[0].split(":", 1)[1].split(",")]
    assert f"fio (= {want})" in deps, dep[0]
    assert [d for d in deps if d.startswith("fio")] == [f"fio (= {want})"], dep[0]
    assert "python3" in deps, dep[0]


def enghelp_options(engine):
    r = subprocess.run(["fio", f"--enghelp={engine}"], capture_output=True,
                       text=True, env=CLEAN)
    assert r.returncode == 0, r.stderr
    return [line.split(":")[0].strip() for line in r.stdout.splitlines() if ":" in line]


def test_enghelp_of_the_installed_engine(pkg):
    _, root, _ = pkg
    opts = enghelp_options(root / LOADER / "dmabuf_uring")
    assert "dmabuf_src" in opts and "dmabuf_attach" in opts, opts
    r = subprocess.run(["fio", "--enghelp=dmabuf_uring,dmabuf_attach"], capture_output=True,
                       text=True, env={**CLEAN, "LD_LIBRARY_PATH": str(root / LOADER)})
    assert r.returncode == 0 and "default: kernel" in r.stdout, r.stdout + r.stderr


def verify_job(root, tmp_path):
    target = tmp_path / "target.img"
    with open(target, "wb") as f:
        f.truncate(8 << 20)
    report = tmp_path / "report.jsonl"
    r = subprocess.run(
        ["fio", "--name=pkg", "--ioengine=dmabuf_uring", "--dmabuf_src=host",
         "--dmabuf_attach=pages", f"--filename={target}", "--size=4m",
         "--rw=randwrite", "--bs=4k", "--verify=crc32c", "--direct=1",
         f"--dmabuf_report={report}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={**CLEAN, "LD_LIBRARY_PATH": str(root / LOADER)})
    return r, report


def test_verify_job_by_bare_name(pkg, tmp_path):
    _, root, _ = pkg
    r, report = verify_job(root, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "ioengine=dmabuf_uring" in r.stdout
    assert "dmabuf_uring: pkg: source=host exporter=host attach=pages" in r.stderr
    assert "err= 0" in r.stdout
    (rep,) = read_reports(report)
    assert rep["result"] == "ok" and rep["ios"] == 2048, rep


def flat_keys(obj, prefix=""):
    keys = []
    for k, v in obj.items():
        keys.append(prefix + k)
        if isinstance(v, dict):
            keys += flat_keys(v, prefix + k + ".")
    return keys


def test_man_page(pkg, tmp_path):
    _, root, _ = pkg
    need("groff", "groff-base")
    page = root / "usr/share/man/man7/dmabuf_uring.7.gz"
    src = tmp_path / "dmabuf_uring.7"
    src.write_bytes(gzip.decompress(page.read_bytes()))
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr, r.stderr
    if shutil.which("man"):
        r = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True,
                           env={**CLEAN, "MANWIDTH": "200", "LC_ALL": "C.UTF-8"})
        assert r.returncode == 0, r.stderr
        text = r.stdout
    else:
        text = subprocess.run(["groff", "-man", "-Tutf8", str(src)], check=True,
                              capture_output=True, text=True).stdout
    for sec in ("NAME", "OPTIONS", "SCENARIOS", "REPORT"):
        assert f"\n{sec}\n" in text, sec
    words = set(text.replace(",", " ").split())
    opts = enghelp_options(root / LOADER / "dmabuf_uring")
    assert set(opts) <= words, set(opts) - words
    # Each option's default as `fio --enghelp=ENGINE,OPT` gives it.
    r = subprocess.run(["fio", f"--enghelp={root / LOADER / 'dmabuf_uring'},dmabuf_src"],
                       capture_output=True, text=True, env=CLEAN)
    default = [x.split(":", 1)[1].strip() for x in r.stdout.splitlines()
               if x.strip().startswith("default:")][0]
    assert f"default: {default}." in text
    scens = {d.name for d in (root / "usr/share/dmabuf-uring/jobs").iterdir()}
    assert scens and scens <= words, scens - words
    # Every key of a real report line is listed.
    r, report = verify_job(root, tmp_path)
    assert r.returncode == 0, r.stderr
    keys = flat_keys(read_reports(report)[0])
    assert set(keys) <= words, set(keys) - words


def test_dmabuf_bench(pkg, tmp_path):
    _, root, _ = pkg
    bench = root / "usr/bin/dmabuf-bench"
    env = {**CLEAN, "HOME": str(tmp_path)}
    r = subprocess.run([str(bench), "--help"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "run" in r.stdout, r.stdout + r.stderr
    target = tmp_path / "target.img"
    with open(target, "wb") as f:
        f.truncate(16 << 20)
    # The scenarios it knows are the installed jobs/ folders.
    r = subprocess.run([str(bench), "run", "no-such", "--target", str(target)],
                       capture_output=True, text=True, env=env)
    have = ", ".join(sorted(d.name for d in (root / "usr/share/dmabuf-uring/jobs").iterdir()))
    assert r.returncode == 2 and f"(have: {have};" in r.stderr, r.stderr
    # One smoke job end to end, through the installed engine.
    out = tmp_path / "res"
    r = subprocess.run([str(bench), "run", "smoke", "--target", str(target),
                        "--job", "host-pages", "--out", str(out)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [(x["job"], x["status"]) for x in rows] == [("mixed-verify/host-pages", "ok")], rows
    (info,) = (out / "sysinfo").glob("*.json")
    engine = json.loads(info.read_text())["engine"]["path"]
    assert engine == str(root / "usr/lib/fio/fio-dmabuf_uring.so"), engine
    assert not list(root.rglob("__pycache__"))
