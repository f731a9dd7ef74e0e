#!/usr/bin/env python3
"""Checks a shoot-out results folder: shootout_check.py OUT_DIR METHODS_TXT.

Passes when every method listed by `shootout --list` produced its rows, every
row is "ok" with samples and messages, or skipped for an accepted reason
(a size the method cannot carry, iceoryx in tiny mode, a peer that is really
not installed), and report.md (and the plots, when gnuplot is installed)
exist.

A row that ran and passed its checks but completed no operation inside its
sampling window ("ok" with no samples, no messages, or only zero samples) is
too slow to sample on this machine right now: in tiny mode a window is 3 ms,
and on a loaded machine a peer's processes may not even be scheduled in it.
Such a row is reported as skipped, with that reason, not as a failure (a run
in which no row at all produced a sample still fails).
"""
import json
import os
import shutil
import sys


def main():
    out, methods_txt = sys.argv[1], sys.argv[2]
    with open(os.path.join(out, "results.json")) as f:
        res = json.load(f)
    listed = [l.split()[0] for l in open(methods_txt) if l.strip()]
    rows = res["rows"]
    errors = []

    by_method = {}
    too_slow = []
    for r in rows:
        by_method.setdefault(r["method"], []).append(r)
        what = "%s %s %s" % (r["method"], r["workload"], r["size"])
        st = r["status"]
        if st == "ok":
            if not r["checksum_ok"]:
                errors.append("%s: ok but its checks failed" % what)
            elif (not r["samples"] or r["messages"] <= 0
                  or not any(x > 0 for x in r["samples"])):
                too_slow.append(
                    "%s: too slow to sample (%d messages, %d samples in the "
                    "sampling window; the machine is busy)"
                    % (what, r["messages"], len(r["samples"])))
        elif st == "skipped":
            kind = r["skip_kind"]
            if kind == "not-installed":
                really_missing = (r["method"] == "iceoryx"
                                  and shutil.which("iox-roudi") is None)
                if not really_missing:
                    errors.append("%s: skipped as not installed, but it is: %s"
                                  % (what, r["note"]))
            elif kind not in ("unsupported", "isolation"):
                errors.append("%s: skipped (%s): %s" % (what, kind, r["note"]))
        else:
            errors.append("%s: %s: %s" % (what, st, r["note"]))

    # Every listed method has rows; every messaging method covers every size.
    expected = {"rtt": {64, 4096, 1 << 20}, "stream": {8, 64, 4096, 1 << 20}}
    for m in listed:
        if m not in by_method:
            errors.append("%s: no row at all" % m)
            continue
        for w, sizes in expected.items():
            got = {r["size"] for r in by_method[m] if r["workload"] == w}
            if got and got != sizes:
                errors.append("%s %s: sizes %s, expected %s"
                              % (m, w, sorted(got), sorted(sizes)))
    # Too slow to sample is a skip, but a run where no row at all produced a
    # sample measured nothing.
    ran = [r for r in rows if r["status"] == "ok"]
    if ran and len(too_slow) == len(ran):
        errors.append("no row produced a sample (%d rows ran)" % len(ran))
    # Scaling: shoal's queue and at least one peer, each in all 3 x 3
    # producer x consumer configurations.
    scaling = {}
    for r in rows:
        if r["workload"] == "scaling":
            scaling.setdefault(r["method"], []).append(r)
    if len(scaling) < 2:
        errors.append("scaling: methods %s, expected shoal's and a peer's"
                      % sorted(scaling))
    for m, rs in sorted(scaling.items()):
        if len(rs) != 9:
            errors.append("scaling: %s has %d rows, expected 9" % (m, len(rs)))

    # Fan-out: shoal's Broadcast to 4 subscribers at 64 B and 1 MiB, its
    # 1 MiB reference (a single-reader Channel) and the Broadcast to 1
    # subscriber (the reference's process count), when the method is listed;
    # each says how many CPUs it kept busy (a number, or null when a repeat
    # was too short for the kernel's accounting).
    fanout = {(r["method"], r["size"], r["consumers"]) for r in rows
              if r["workload"] == "fanout"}
    if "shoal.broadcast.loan" in listed:
        for want in [("shoal.broadcast.loan", 64, 4), ("shoal.broadcast.loan", 1 << 20, 4),
                     ("shoal.channel.loan", 1 << 20, 1), ("shoal.broadcast.loan", 1 << 20, 1)]:
            if want not in fanout:
                errors.append("fanout: no row %s %d B to %d" % want)
    for r in rows:
        if r["workload"] == "fanout" and r["status"] == "ok":
            busy = r.get("cpus_busy", "missing")
            if busy is not None and not (isinstance(busy, (int, float)) and 0 < busy < 1000):
                errors.append("fanout: %s %d B to %d: cpus_busy %r" %
                              (r["method"], r["size"], r["consumers"], busy))

    report = open(os.path.join(out, "report.md")).read()
    if not report:
        errors.append("report.md is empty")
    # The report is for people on other machines: none of this machine's
    # paths (the results folder, the temporary folders, Bazel's cache).
    for path in {os.path.abspath(out), os.environ.get("TEST_TMPDIR", ""),
                 os.environ.get("TEST_SRCDIR", ""), "/.cache/bazel/", "/execroot/"}:
        if len(path) > 1 and path in report:
            errors.append("report.md names a path of this machine: %s" % path)
    for section in ("## How to read this", "## Against the README's table"):
        if section not in report:
            errors.append("report.md has no section %r" % section)
    # The results folder holds the report, the JSON, the plots and the
    # README's table; working files live elsewhere.
    allowed = {"report.md", "results.json", "readme-table.md", "readme-table.json",
               "latency.svg", "throughput.svg", "scaling.svg"}
    for name in sorted(os.listdir(out)):
        if name not in allowed:
            errors.append("results folder: unexpected %s" % name)
    if shutil.which("gnuplot"):
        for p in ("latency.svg", "throughput.svg", "scaling.svg"):
            if not os.path.exists(os.path.join(out, p)):
                errors.append("plot %s missing" % p)

    ok = sum(1 for r in rows if r["status"] == "ok") - len(too_slow)
    skipped = [r for r in rows if r["status"] == "skipped"]
    print("rows: %d ok, %d skipped" % (ok, len(skipped) + len(too_slow)))
    for r in skipped:
        print("  skipped: %s %s %s: %s" % (r["method"], r["workload"], r["size"], r["note"]))
    for t in too_slow:
        print("  skipped: " + t)
    if errors:
        print("FAIL:")
        for e in errors:
            print("  " + e)
        sys.exit(1)
    print("PASS: every installed method produced its rows and every check matched")


if __name__ == "__main__":
    main()
