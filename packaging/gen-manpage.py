#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Write dmabuf_uring(7) from the project's own sources, so it cannot drift:

  options    the built engine, as fio shows it: `fio --enghelp=ENGINE` (the
             list with each option's help) and `fio --enghelp=ENGINE,OPT`
             (type, default, range, valid values)
  scenarios  JOBS/*/*.fio: each file's first header paragraph and sections
  report     the keys engines/report.c writes (the report writer itself),
             in the order it writes them

Run by the build (packaging/cpack.cmake); stdlib only.

  gen-manpage.py --fio FIO --engine /abs/fio-dmabuf_uring.so --jobs JOBS
                 --report-c engines/report.c --version V [--fio-deb DEBVER]
                 [--loader-dir DIR]
                 -o dmabuf_uring.7 [--gzip dmabuf_uring.7.gz]
"""

import argparse
import gzip
import re
import subprocess
import sys
from pathlib import Path

# What each report key means. Only keys report.c writes are printed (a key
# missing here is listed without a text); a stale entry is ignored.
REPORT_TEXT = {
    "job": "fio's job name",
    "jobnum": "fio's job number",
    "engine_version": "the engine's version",
    "fio_version": "the fio that loaded the engine",
    "kernel": "the running kernel's release",
    "cmdline": "the kernel command line",
    "source": "dmabuf_src as given",
    "attach": "dmabuf_attach: kernel, pages or bounce",
    "exporter": "the dma-buf's exporter (the kernel's exp_name; none for host)",
    "buffers": "size in bytes of each slot (one dma-buf per slot)",
    "first_io_ns": "per slot, the latency of its first request",
    "cpu_view": "how fio's CPU accesses reach the memory: mmap (the exporter's "
                "mapping), shadow (a host copy), none",
    "cpu_sync": "whether CPU access is bracketed with DMA_BUF_IOCTL_SYNC",
    "placement": "where the exporter put the memory, read after export and "
                 "again after the run where the exporter can tell",
    "target": "the block device under the job's file",
    "target_driver": "its driver",
    "iommu_domain": "the target's IOMMU domain type: DMA (strict), DMA-FQ (lazy), "
                    "identity (passthrough) or none",
    "uapi_probe": "the kernel series probe: present, absent, compiled-out, "
                  "abi-mismatch, device-unsupported, not-run",
    "uapi_errno": "the errno the probe got (0: none)",
    "ring": "the io_uring ring's setup (the keys below)",
    "ring.iodepth": "ring depth",
    "ring.hipri": "IORING_SETUP_IOPOLL",
    "ring.sqthread_poll": "IORING_SETUP_SQPOLL",
    "ring.registerfiles": "files registered",
    "ring.nowait": "RWF_NOWAIT",
    "ring.uncached": "uncached= on buffered I/O (RWF_UNCACHED or RWF_DONTCACHE)",
    "ring.registered_ring": "the ring fd is registered (io_uring_enter skips the fd lookup)",
    "ring.force_async": "IOSQE_ASYNC every N requests (0: never)",
    "ios": "requests completed",
    "prio_ios": "requests sent with an I/O priority (prio, prioclass, cmdprio)",
    "eagain_reissues": "requests reissued after -EAGAIN",
    "bounce_bytes": "bytes copied by attach=bounce",
    "bounce_ns": "nanoseconds spent in those copies",
    "cpu_syncs": "DMA_BUF_IOCTL_SYNC calls",
    "cpu_unbracketed": "completions left unbracketed by a SYNC (their slot still had "
                       "I/O in flight)",
    "shadow_copies": "cpu_view=shadow: copies between fio's host copy and the memory",
    "shadow_bytes": "bytes those copies moved",
    "shadow_ns": "nanoseconds spent in them",
    "shadow_timed": "whether they count in fio's latencies (dmabuf_shadow_timed)",
    "io_errors": "requests that failed",
    "errors_total": "errors recorded",
    "errors": "the first error messages, in the engine's one-line format",
    "result": "ok or failed (fio's verdict on the job)",
}


def die(msg):
    print(f"gen-manpage: error: {msg}", file=sys.stderr)
    sys.exit(1)


def fio(fio_bin, arg):
    r = subprocess.run([fio_bin, arg], capture_output=True, text=True)
    if r.returncode != 0:
        die(f"{fio_bin} {arg} exited {r.returncode}: "
            f"{(r.stderr or r.stdout).strip()}")
    return r.stdout


def engine_options(fio_bin, engine):
    """[(name, help, {detail: value})] in fio's order."""
    out = []
    for line in fio(fio_bin, f"--enghelp={engine}").splitlines():
        m = re.match(r"^(\S+)\s*: ?(.*)$", line)
        if m:
            out.append((m.group(1), m.group(2).strip()))
    if not out:
        die(f"{fio_bin} --enghelp={engine} listed no options")
    opts = []
    for name, text in out:
        detail, key = {}, None
        for line in fio(fio_bin, f"--enghelp={engine},{name}").splitlines()[1:]:
            m = re.match(r"^\s*([^:]*?)\s*: ?(.*)$", line)
            if not m:
                continue
            k, v = m.group(1), m.group(2).strip()
            if k:
                key = k
                detail[key] = [v] if key == "valid values" else v
            elif key == "valid values" and v:
                detail[key].append(v)
        opts.append((name, text, detail))
    return opts


def scenarios(jobs):
    """[(scenario, [(file name, summary, [sections])])] from JOBS/*/*.fio."""
    out = []
    for d in sorted(p for p in Path(jobs).iterdir() if p.is_dir()):
        files = []
        for f in sorted(d.glob("*.fio")):
            lines = f.read_text().splitlines()
            para = []
            for line in lines:
                if not line.startswith("#"):
                    break
                text = line[1:].strip()
                if not text:
                    if para:
                        break
                    continue
                para.append(text)
            summary = " ".join(para)
            summary = re.sub(r"^\S+\.fio:\s*", "", summary)
            secs = [m.group(1) for m in (re.match(r"^\[(.+)\]\s*$", x) for x in lines)
                    if m and m.group(1) != "global"]
            files.append((f.name, summary, secs))
        if files:
            out.append((d.name, files))
    if not out:
        die(f"{jobs}: no scenario (no */*.fio)")
    return out


def report_keys(report_c):
    """The keys report_body() writes, nested objects as PARENT.KEY."""
    src = Path(report_c).read_text()
    funcs = {m.group(1): m.group(2) for m in re.finditer(
        r"^static void (report_\w+)\([^)]*\)\s*\{(.*?)^\}", src, re.S | re.M)}
    if "report_body" not in funcs:
        die(f"{report_c}: no report_body()")
    token = re.compile(r'json_(?:str|u64|bool)\(f,\s*"(\w+)"'
                       r'|\\"(\w+)\\":([{\[]?)'
                       r'|\b(report_\w+)\(f,')

    def walk(name, prefix, seen):
        keys = []
        for m in token.finditer(funcs[name]):
            if m.group(4):
                if m.group(4) in funcs and m.group(4) not in seen:
                    keys += walk(m.group(4), prefix, seen | {m.group(4)})
                continue
            key = m.group(1) or m.group(2)
            keys.append(prefix + key)
            if m.group(3) == "{":
                prefix = prefix + key + "."
        return keys

    keys = list(dict.fromkeys(walk("report_body", "", {"report_body"})))
    if not keys:
        die(f"{report_c}: found no report keys")
    return keys


def esc(text):
    """Plain text to troff: backslashes, hyphens, a leading dot or quote."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def manpage(args, opts, scens, keys):
    out = []
    w = out.append
    w(f'.TH DMABUF_URING 7 "" "dmabuf_uring {esc(args.version)}" "dmabuf_uring"')
    w(".\\\" Generated by packaging/gen-manpage.py from fio --enghelp of the built")
    w(".\\\" engine, jobs/ and engines/report.c. Do not edit.")
    w(".nh")
    w(".SH NAME")
    w("dmabuf_uring \\- fio I/O engine for dma\\-buf memory over io_uring fixed buffers")
    w(".SH SYNOPSIS")
    w(".B fio \\-\\-ioengine=dmabuf_uring")
    w("[\\fIOPTION\\fR=\\fIVALUE\\fR ...] \\fIJOBOPTIONS\\fR")
    w(".br")
    w(".B dmabuf\\-bench run")
    w("\\fISCENARIO\\fR \\-\\-target \\fIDEV\\fR [\\-\\-out \\fIDIR\\fR]")
    w(".SH DESCRIPTION")
    w("An external fio engine for the \"dmabuf read/write via io_uring\" kernel series. "
      "It registers a dma\\-buf (udmabuf, a DMA heap, a GPU buffer) as io_uring fixed "
      "buffers and does fio's I/O with READ_FIXED and WRITE_FIXED into it, or reaches "
      "the same memory the classic ways (\\fBdmabuf_attach\\fR=pages or bounce) to "
      "compare. Every job says what really ran (see \\fBREPORT\\fR); nothing falls "
      "back silently.")
    w(".PP")
    fio_ver = f" (Debian package fio {esc(args.fio_deb)})" if args.fio_deb else ""
    w(f"The engine is built for exactly one fio release{fio_ver}; struct layouts "
      "differ between releases, and it refuses to run in any other fio. fio finds it "
      "by its bare name through a file named \\fBdmabuf_uring\\fR in a glibc system "
      "library directory, or use "
      "\\fB\\-\\-ioengine=external:\\fR\\fIPATH\\fR\\fB/fio\\-dmabuf_uring.so\\fR. "
      "Engine options must come after \\fB\\-\\-ioengine=\\fR on a command line.")
    w(".SH OPTIONS")
    w("As \\fBfio \\-\\-enghelp=dmabuf_uring\\fR and "
      "\\fBfio \\-\\-enghelp=dmabuf_uring,\\fR\\fIOPTION\\fR show them.")
    for name, text, detail in opts:
        w(".TP")
        w(f"\\fB{esc(name)}\\fR")
        w(esc(text))
        typ = re.sub(r"\s*\([^)]*\)$", "", detail.get("type", "?"))
        facts = [f"type: {typ}", f"default: {detail.get('default', 'no default')}"]
        for k in ("alias", "range"):
            if k in detail:
                facts.append(f"{k}: {detail[k]}")
        w(".br")
        w(esc("; ".join(facts)) + ".")
        for v in detail.get("valid values", []):
            w(".br")
            w(esc(f"value {v}"))
    w(".SH SCENARIOS")
    w("Job files, one folder per scenario: \\fIjobs/\\fR in the source tree, "
      "\\fIPREFIX\\fR\\fB/share/dmabuf\\-uring/jobs/\\fR when installed "
      "(\\fB/usr/share/dmabuf\\-uring/jobs/\\fR from the Debian package). "
      "\\fBdmabuf\\-bench run\\fR \\fISCENARIO\\fR fills their variables "
      "(${DEV}, ${SIZE}, ...; \\fB\\-\\-set\\fR NAME=VALUE) and runs one fio per "
      "section; each file's header documents it.")
    for scen, files in scens:
        w(f".SS {esc(scen)}")
        for fname, summary, secs in files:
            w(".TP")
            w(f"\\fB{esc(fname)}\\fR")
            w(esc(summary or "(no header)"))
            if secs:
                w(".br")
                w(esc("Sections: " + ", ".join(secs) + "."))
    w(".SH REPORT")
    w("Each job prints one summary line on stderr. With \\fBdmabuf_report\\fR=\\fIFILE\\fR "
      "it also appends one JSON object per job (JSON Lines; the jobs of a run share the "
      "file), with these keys in this order (\\fIa.b\\fR is key \\fIb\\fR of object "
      "\\fIa\\fR):")
    for k in keys:
        w(".TP")
        w(f"\\fB{esc(k)}\\fR")
        w(esc(REPORT_TEXT.get(k, "")) if REPORT_TEXT.get(k) else "\\&")
    w(".SH EXAMPLES")
    w(".nf")
    w("fio \\-\\-name=t \\-\\-ioengine=dmabuf_uring \\-\\-dmabuf_src=host \\e")
    w("    \\-\\-dmabuf_attach=pages \\-\\-filename=/tmp/t.img \\-\\-size=64m \\e")
    w("    \\-\\-direct=1 \\-\\-rw=randrw \\-\\-bs=4k \\-\\-verify=crc32c \\e")
    w("    \\-\\-dmabuf_report=/tmp/t.json")
    w("dmabuf\\-bench run smoke \\-\\-target /dev/nvme0n1 \\-\\-out res")
    w("dmabuf\\-bench report res")
    w(".fi")
    w(".SH FILES")
    w(".TP")
    w("\\fI/usr/lib/fio/fio\\-dmabuf_uring.so\\fR")
    w("the engine (Debian package; \\fIPREFIX\\fR/lib/fio after cmake \\-\\-install)")
    w(".TP")
    w(f"\\fI{esc(args.loader_dir)}/dmabuf_uring\\fR")
    w("the link fio's dlopen() finds by the bare name")
    w(".TP")
    w("\\fI/usr/share/dmabuf\\-uring/\\fR")
    w("job files and the dmabuf\\-bench scripts")
    w(".SH SEE ALSO")
    w(".BR fio (1),")
    w(".B dmabuf\\-bench \\-\\-help")
    return "\n".join(out) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fio", default="fio")
    p.add_argument("--engine", required=True, help="absolute path of the built .so")
    p.add_argument("--jobs", required=True)
    p.add_argument("--report-c", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--fio-deb", default="", help="Debian version of fio built for")
    p.add_argument("--loader-dir", default="/usr/lib/<multiarch>",
                   help="where the bare-named dmabuf_uring is installed")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--gzip", help="also write this gzip file (reproducible)")
    args = p.parse_args()
    if not Path(args.engine).is_absolute():
        die(f"--engine {args.engine}: fio --enghelp needs an absolute path")
    text = manpage(args, engine_options(args.fio, args.engine), scenarios(args.jobs),
                   report_keys(args.report_c))
    Path(args.output).write_text(text)
    if args.gzip:
        with open(args.gzip, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                              compresslevel=9) as gz:
            gz.write(text.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
