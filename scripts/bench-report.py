#!/usr/bin/env python3
"""Scale curves of Paddock beside ZooKeeper 3.8 (`make bench-report`, issue 17).

    scripts/bench-report.py measure [--quick] [--only SECTION ...] [--systems paddock,zookeeper]
    scripts/bench-report.py render

`measure` starts fresh local 3-server ensembles of Paddock (scripts/cluster.sh, release build in
$CARGO_TARGET_DIR or target/) and of ZooKeeper 3.8 (scripts/zk-cluster.sh), runs paddock-bench /
paddock-bench-zk with --json for every point of the matrix, samples the servers' CPU time and RSS
from /proc, and merges the results into docs/benchmarks/results.json (a section measured again
replaces its earlier points; with --systems, only those systems' points, in the order given).
`render` turns that file into docs/benchmarks.md and the PNG plots
in docs/benchmarks/ without measuring anything (matplotlib: `make bench-report` installs it into
.bench-venv/).

Sections: sessions, value-size, tree-size, catch-up, watches, rates (in that order; rates uses
the peaks it measures itself). BENCH_REPORT_QUICK=1 or --quick runs a reduced matrix (a smoke test).

Every system's part of a section runs while holding /tmp/bench.lock (flock, the machine's
benchmark lock), released between parts so other measurements get turns. Uses the ports of
`make cluster` and scripts/zk-cluster.sh: stop those ensembles first.
"""

import argparse
import datetime
import fcntl
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "docs" / "benchmarks"
RESULTS = OUT_DIR / "results.json"
LOCK = "/tmp/bench.lock"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
BIN = TARGET / "release"
HZ = os.sysconf("SC_CLK_TCK")
SYSTEMS = ("paddock", "zookeeper")
SECTIONS = ("sessions", "value-size", "tree-size", "catch-up", "watches", "rates")
# Server N's ZooKeeper-protocol port: both systems answer the four-letter words there.
ZK_PORT = {1: 2181, 2: 2182, 3: 2183}
GRPC = "127.0.0.1:7181,127.0.0.1:7182,127.0.0.1:7183"
ZK_SERVERS = "127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183"


def log(msg):
    print(f"[bench-report {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- matrix


def matrix(quick):
    """The points of every section; the quick matrix is a smoke test, not a report."""
    if quick:
        return {
            "duration": 3,
            "warmup": 2,
            "sessions": [1, 32, 256],
            "value_sizes": [10, 10240, 1048576],
            "tree_sizes": [1000, 100000],
            "snap_keys": 100000,
            "diff_writes": 20000,
            "watch_sessions": 500,
            "watch_keys_each": 100,
            "watch_tree": 5000,
            "rate_fractions": [0.25, 0.75],
        }
    return {
        "duration": 8,
        "warmup": 5,
        "sessions": [1, 8, 32, 128, 512, 1024],
        "value_sizes": [10, 1024, 10240, 102400, 1048576],
        "tree_sizes": [1000, 100000, 1000000],
        "snap_keys": 1000000,
        "diff_writes": 100000,
        "watch_sessions": 10000,
        "watch_keys_each": 100,
        "watch_tree": 10000,
        "rate_fractions": [0.25, 0.5, 0.75],
    }


# ---------------------------------------------------------------- processes


def run(cmd, env=None, check=True, timeout=None):
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run(cmd, cwd=ROOT, env=e, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({r.returncode}): {r.stderr[-2000:]}")
    return r


def four_letter(n, word, timeout=2.0):
    """Server n's answer to a four-letter word on its ZooKeeper-protocol port ('' if none)."""
    try:
        with socket.create_connection(("127.0.0.1", ZK_PORT[n]), timeout=timeout) as s:
            s.sendall(word.encode())
            s.settimeout(timeout)
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
            return out.decode(errors="replace")
    except OSError:
        return ""


def srvr_field(n, field):
    m = re.search(rf"^{field}: *(.*)$", four_letter(n, "srvr"), re.M)
    return m.group(1).strip() if m else None


def zxid_of(n):
    z = srvr_field(n, "Zxid")
    return int(z, 16) if z else None


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


def rss_mib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class RssSampler:
    """The largest RSS of each pid, sampled every 0.25 s while active."""

    def __init__(self, pids):
        self.pids = list(pids)
        self.peak = {p: rss_mib(p) for p in self.pids}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.wait(0.25):
            for p in self.pids:
                self.peak[p] = max(self.peak[p], rss_mib(p))

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


class Ensemble:
    """A local 3-server ensemble of one system."""

    def __init__(self, system):
        self.system = system

    # -- whole ensemble
    def up(self):
        """A fresh ensemble (data wiped), all three serving."""
        if self.system == "paddock":
            run(["scripts/cluster.sh", "down", "--wipe"], check=False)
            run(["scripts/cluster.sh", "up"], env=self._env())
        else:
            run(["scripts/zk-cluster.sh", "down"], check=False)
            run(["scripts/zk-cluster.sh", "up"], env=self._env())
        self.wait_serving([1, 2, 3])

    def down(self, wipe=True):
        if self.system == "paddock":
            run(["scripts/cluster.sh", "down"] + (["--wipe"] if wipe else []), check=False)
        else:
            run(["scripts/zk-cluster.sh", "down" if wipe else "stop"], check=False)

    def _env(self):
        # 1,024 sessions from one address: no per-IP limit on either system.
        return {"PADDOCK_SET": "maxClientCnxns=0", "CARGO_TARGET_DIR": str(TARGET), "ZK_HEAP": "2g"}

    # -- one server
    def pidfile(self, n):
        if self.system == "paddock":
            return ROOT / f"data/cluster/{n}/paddock.pid"
        return ROOT / f"data/zk/{n}/pid"

    def pid(self, n):
        try:
            return int(self.pidfile(n).read_text().strip())
        except (OSError, ValueError):
            return None

    def pids(self):
        return [p for p in (self.pid(n) for n in (1, 2, 3)) if p]

    def mode(self, n):
        return srvr_field(n, "Mode")

    def leader(self):
        for n in (1, 2, 3):
            if self.mode(n) == "leader":
                return n
        return None

    def follower(self):
        for n in (3, 2, 1):
            if self.mode(n) == "follower":
                return n
        raise RuntimeError(f"{self.system}: no follower")

    def stop_one(self, n):
        if self.system == "paddock":
            pid = self.pid(n)
            if pid:
                os.kill(pid, 15)
                for _ in range(200):
                    if not Path(f"/proc/{pid}").exists():
                        break
                    time.sleep(0.05)
                self.pidfile(n).unlink(missing_ok=True)
        else:
            run(["scripts/zk-cluster.sh", "stop", str(n)])

    def wipe_one(self, n):
        """Server n's data gone but its identity kept: a new server in the same seat."""
        if self.system == "paddock":
            d = ROOT / f"data/cluster/{n}"
            keep = {"myid", "paddock.log"}
        else:
            d = ROOT / f"data/zk/{n}/data"
            keep = {"myid"}
        for p in d.iterdir():
            if p.name in keep:
                continue
            shutil.rmtree(p) if p.is_dir() else p.unlink()

    def start_one(self, n):
        """Starts server n from its data and returns at once (as scripts/cluster.sh up would
        start it, whose own wait polls too coarsely to time a start with)."""
        if self.system == "paddock":
            env = dict(os.environ, **self._env(), NO_COLOR="1",
                       PADDOCK_WORKER_THREADS=str(max(1, (os.cpu_count() or 1) // 3)))
            with open(ROOT / f"data/cluster/{n}/paddock.log", "a") as logf:
                p = subprocess.Popen([str(BIN / "paddock"), "--config", f"deploy/cluster/zoo{n}.cfg"],
                                     cwd=ROOT, env=env, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
            self.pidfile(n).write_text(f"{p.pid}\n")
            # Reaped when it exits, so that a stopped server leaves no zombie for kill -0 to see.
            threading.Thread(target=p.wait, daemon=True).start()
        else:
            run(["scripts/zk-cluster.sh", "start", str(n)], env=self._env())

    def wait_serving(self, ns, limit=600):
        deadline = time.time() + limit
        while time.time() < deadline:
            modes = [self.mode(n) for n in ns]
            if all(m in ("leader", "follower", "standalone") for m in modes):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.system}: servers {ns} not serving after {limit} s")

    def bench(self):
        if self.system == "paddock":
            return BIN / "paddock-bench", GRPC
        return BIN / "paddock-bench-zk", ZK_SERVERS


def bench_point(ens, args, timeout=900):
    """One paddock-bench(-zk) run with --json, with the servers' CPU per op and peak RSS."""
    exe, servers = ens.bench()
    pids = ens.pids()
    cmd = [str(exe), "--server", servers, "--json", "--quiet"] + [str(a) for a in args]
    t0, c0 = time.time(), cpu_ticks(pids)
    with RssSampler(pids) as rss:
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    c1, wall = cpu_ticks(pids), time.time() - t0
    line = next((l for l in r.stdout.splitlines() if l.startswith("{")), None)
    if line is None:
        log(f"{ens.system} {' '.join(map(str, args))}: no result: {r.stderr.strip()[-400:]}")
        return {"error": (r.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    j = json.loads(line)
    ops = j.get("ops", 0)
    point = {
        "ops_per_sec": j["ops_per_sec"],
        "ops": ops,
        "p50": j["latency_ms"]["p50"],
        "p99": j["latency_ms"]["p99"],
        "p999": j["latency_ms"]["p999"],
        "errors": j.get("errors_total", 0),
        "sessions_lost": j.get("sessions_lost", 0),
        # All three servers, user + system, over the whole command (setup included when the
        # point has one: the measured part dominates the points that use this figure).
        "cpu_us_per_op": round((c1 - c0) * 1e6 / HZ / ops, 1) if ops else None,
        "rss_mib_peak": round(max(rss.peak.values() or [0]), 1),
        "wall_s": round(wall, 2),
        # Setup (creating the keys), connecting and cleanup: the command's time outside the run.
        "setup_s": round(wall - j.get("elapsed_s", 0), 2),
    }
    if "watch_events" in j:
        point["watch_events"] = j["watch_events"]
    if j.get("errors_total") or j.get("sessions_lost"):
        point["error_detail"] = j.get("errors")
    return point


def rss_now(ens):
    return round(max((rss_mib(p) for p in ens.pids()), default=0), 1)


# ---------------------------------------------------------------- sections


@contextmanager
def fresh(ens):
    """A fresh ensemble for the block, stopped and wiped after it whatever happens."""
    ens.up()
    try:
        yield
    finally:
        ens.down()


def warm(ens, m):
    if m["warmup"]:
        for w in ("set", "get"):
            bench_point(ens, ["--sessions", 32, "--duration", m["warmup"], "--workload", w])


def sec_sessions(ens, m):
    pts = []
    with fresh(ens):
        warm(ens, m)
        for n in m["sessions"]:
            for w in ("set", "get"):
                p = bench_point(ens, ["--sessions", n, "--duration", m["duration"], "--workload", w])
                pts.append({"sessions": n, "workload": w, **p})
                log(f"  {ens.system} sessions={n} {w}: {p.get('ops_per_sec')} ops/s p99 {p.get('p99')}")
    return pts


def sec_value_size(ens, m):
    pts = []
    with fresh(ens):
        warm(ens, m)
        for size in m["value_sizes"]:
            # 64 MiB of keys at most per server, so 1 MiB values do not fill the memory.
            keys = max(16, min(1000, (64 << 20) // max(size, 1)))
            for w in ("set", "get"):
                p = bench_point(ens, ["--sessions", 32, "--duration", m["duration"], "--workload", w,
                                      "--value-size", size, "--keys", keys])
                pts.append({"value_size": size, "keys": keys, "workload": w, **p})
                log(f"  {ens.system} value={size} {w}: {p.get('ops_per_sec')} ops/s p99 {p.get('p99')}")
    return pts


def snapshot_ms(ens):
    """The time to write a snapshot of the whole tree on the leader, ms.

    Paddock: the admin API's snapshot command (the tree written to a temporary file), timed here.
    ZooKeeper 3.8 has no such command: the largest `zk_max_snapshot_time` of the three servers'
    `mntr`, the snapshots they write themselves after a restart (the caller restarts them first)."""
    n = ens.leader()
    if n is None:
        return None
    if ens.system == "paddock":
        req = urllib.request.Request(
            f"http://127.0.0.1:808{n}/commands/snapshot?streaming=false",
            headers={"Authorization": "digest bench:bench"},
        )
        t = time.time()
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                r.read()
        except OSError as e:
            log(f"  paddock snapshot command failed: {e}")
            return None
        return round((time.time() - t) * 1000, 1)
    times = []
    for k in (1, 2, 3):
        m = re.search(r"^zk_max_snapshot_?time\s+(\d+)", four_letter(k, "mntr"), re.M)
        if m:
            times.append(int(m.group(1)))
    return max(times) if times else None


def restart_s(ens):
    """Stop every server (data kept), start them again, seconds until all three serve."""
    ens.down(wipe=False)
    t = time.time()
    for n in (1, 2, 3):
        ens.start_one(n)
    ens.wait_serving([1, 2, 3])
    return round(time.time() - t, 2)


def sec_tree_size(ens, m):
    pts = []
    for size in m["tree_sizes"]:
        with fresh(ens):
            # The bench's setup creates the tree (`size` keys of 100 B under one parent, pipelined
            # multis / creates), setData runs over it, and --keep leaves it for the rest.
            p = bench_point(ens, ["--sessions", 32, "--duration", m["duration"], "--workload", "set",
                                  "--keys", size, "--keep"], timeout=1800)
            rss = rss_now(ens)
            snap = snapshot_ms(ens) if ens.system == "paddock" else None
            rs = restart_s(ens)
            if ens.system == "zookeeper":
                snap = snapshot_ms(ens)
            pts.append({
                "znodes": size, "fill_s": p.get("setup_s"), "error": p.get("error"),
                "set_ops_per_sec": p.get("ops_per_sec"), "set_p99": p.get("p99"),
                "cpu_us_per_op": p.get("cpu_us_per_op"),
                "rss_mib": rss, "rss_mib_peak": p.get("rss_mib_peak"),
                "rss_mib_after_restart": rss_now(ens), "snapshot_ms": snap, "restart_s": rs,
            })
            log(f"  {ens.system} tree={size}: {pts[-1]}")
    return pts


def catch_up(ens, n, leader, limit=900):
    """Seconds from starting server n until it serves at the leader's zxid (no writes meanwhile)."""
    target = zxid_of(leader)
    t = time.time()
    ens.start_one(n)
    deadline = t + limit
    while time.time() < deadline:
        z = zxid_of(n)
        if z is not None and target is not None and z >= target:
            return round(time.time() - t, 2)
        time.sleep(0.02)
    return None


def sec_catch_up(ens, m):
    pts = []
    # SNAP: a new follower (its data wiped) joins an ensemble holding snap_keys znodes.
    with fresh(ens):
        bench_point(ens, ["--sessions", 32, "--ops", 32, "--workload", "get", "--keys", m["snap_keys"],
                          "--keep"], timeout=1800)
        leader, f = ens.leader(), ens.follower()
        ens.stop_one(f)
        ens.wipe_one(f)
        s = catch_up(ens, f, leader)
        pts.append({"kind": "SNAP", "znodes": m["snap_keys"], "behind_writes": None, "seconds": s})
        log(f"  {ens.system} SNAP {m['snap_keys']} znodes: {s} s")
    # DIFF: a follower stopped while diff_writes setData run through the others.
    with fresh(ens):
        leader, f = ens.leader(), ens.follower()
        ens.stop_one(f)
        others = [n for n in (1, 2, 3) if n != f]
        exe, _ = ens.bench()
        port = (lambda n: f"127.0.0.1:718{n}") if ens.system == "paddock" else (lambda n: f"127.0.0.1:218{n}")
        r = subprocess.run([str(exe), "--server", ",".join(port(n) for n in others), "--json", "--quiet",
                            "--sessions", "32", "--ops", str(m["diff_writes"]), "--workload", "set"],
                           cwd=ROOT, capture_output=True, text=True, timeout=900)
        ok = r.returncode == 0
        s = catch_up(ens, f, leader)
        pts.append({"kind": "DIFF", "znodes": 1000, "behind_writes": m["diff_writes"], "seconds": s,
                    "writes_ok": ok})
        log(f"  {ens.system} {m['diff_writes']} writes behind: {s} s")
    return pts


def sec_watches(ens, m):
    pts = []
    with fresh(ens):
        keys = m["watch_tree"]
        warm(ens, m)
        base_rss = rss_now(ens)
        base = bench_point(ens, ["--sessions", 32, "--duration", m["duration"], "--workload", "set",
                                 "--keys", keys])
        n, k = m["watch_sessions"], m["watch_keys_each"]
        t = time.time()
        w = bench_point(ens, ["--sessions", 32, "--duration", m["duration"], "--workload", "set",
                              "--keys", keys, "--watchers", n, "--watch-keys", k], timeout=1800)
        watched_wall = round(time.time() - t, 2)
        per_write = n * k / keys
        extra_cpu = None
        if base.get("cpu_us_per_op") and w.get("cpu_us_per_op") and w.get("watch_events"):
            # Setup (connecting n sessions, n*k addWatch) is inside w's CPU: per event it is an
            # upper bound of the cost of firing one.
            extra_cpu = round((w["cpu_us_per_op"] - base["cpu_us_per_op"]) / per_write, 2)
        pts.append({
            "watch_sessions": n, "watches": n * k, "keys": keys, "events_per_write": per_write,
            "rss_mib_before": base_rss, "rss_mib_with_watches": w.get("rss_mib_peak"),
            "set_ops_per_sec_without": base.get("ops_per_sec"), "set_p99_without": base.get("p99"),
            "cpu_us_per_write_without": base.get("cpu_us_per_op"),
            "set_ops_per_sec_with": w.get("ops_per_sec"), "set_p99_with": w.get("p99"),
            "cpu_us_per_write_with": w.get("cpu_us_per_op"), "watch_events": w.get("watch_events"),
            "cpu_us_per_event_bound": extra_cpu, "wall_s_with": watched_wall, "error": w.get("error"),
        })
        log(f"  {ens.system} watches: {pts[-1]}")
    return pts


def sec_rates(ens, m, peaks):
    pts = []
    with fresh(ens):
        warm(ens, m)
        for w in ("set", "get"):
            for f in m["rate_fractions"]:
                rate = int(peaks[w] * f)
                p = bench_point(ens, ["--sessions", 32, "--duration", m["duration"], "--workload", w,
                                      "--rate", rate])
                pts.append({"workload": w, "fraction": f, "rate": rate, **p})
                log(f"  {ens.system} {w} at {rate}/s: p50 {p.get('p50')} p99 {p.get('p99')} p999 {p.get('p999')}")
    return pts


def peaks_for_rates(results):
    """The rates section's reference: the lower of the two systems' 32-session peaks (from the
    sessions section), so both run the same absolute rates."""
    peaks = {}
    for w in ("set", "get"):
        vals = [p["ops_per_sec"] for p in results.get("sections", {}).get("sessions", {}).get("points", [])
                if p.get("sessions") == 32 and p.get("workload") == w and p.get("ops_per_sec")]
        peaks[w] = min(vals) if vals else None
    return peaks


# ---------------------------------------------------------------- bookkeeping


@contextmanager
def machine_lock():
    with open(LOCK, "a") as f:
        t = time.time()
        fcntl.flock(f, fcntl.LOCK_EX)
        log(f"holding {LOCK} (waited {time.time() - t:.0f} s)")
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def machine():
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
    ver = lambda cmd: (run(cmd, check=False).stdout or run(cmd, check=False).stderr).strip().splitlines()[:1]
    git = run(["git", "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(int(mem) / 1024 / 1024, 1),
        "kernel": platform.release(), "loadavg_at_start": os.getloadavg(),
        "paddock": " ".join(ver([str(BIN / "paddock"), "--version"])) + f" (git {git})",
        "zookeeper": zk_version(),
        "java": " ".join(run(["java", "-version"], check=False).stderr.strip().splitlines()[:1]),
        "rustc": " ".join(ver(["rustc", "--version"])),
    }


def zk_version():
    r = run(["dpkg-query", "-W", "-f", "${Version}", "zookeeper"], check=False)
    return f"Apache ZooKeeper (Debian package {r.stdout.strip()})" if r.returncode == 0 else "?"


def load_results():
    if RESULTS.exists():
        return json.loads(RESULTS.read_text())
    return {"sections": {}}


def save_results(res):
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(res, indent=1) + "\n")
    tmp.replace(RESULTS)


def measure(args):
    quick = args.quick or os.environ.get("BENCH_REPORT_QUICK") == "1"
    m = matrix(quick)
    systems = [s for s in args.systems.split(",") if s]
    only = args.only or list(SECTIONS)
    for s in only:
        if s not in SECTIONS:
            sys.exit(f"bench-report: unknown section {s!r} (one of {', '.join(SECTIONS)})")
    for exe in ("paddock", "paddock-bench", "paddock-cli", "paddock-bench-zk"):
        if not (BIN / exe).exists():
            sys.exit(f"bench-report: {BIN / exe} is missing (make bench-report builds it)")
    res = load_results()
    res.setdefault("sections", {})
    funcs = {"sessions": sec_sessions, "value-size": sec_value_size, "tree-size": sec_tree_size,
             "catch-up": sec_catch_up, "watches": sec_watches}
    for section in SECTIONS:
        if section not in only:
            continue
        entry = {"quick": quick, "matrix": m, "points": [], "notes": []}
        # Measuring some of the systems (--systems) keeps the others' points and machine notes.
        kept = res["sections"].get(section, {})
        others = [x for x in SYSTEMS if x not in systems]
        entry["points"] = [p for p in kept.get("points", []) if p.get("system") in others]
        for x in others:
            if x in kept.get("machine", {}):
                entry.setdefault("machine", {})[x] = kept["machine"][x]
        for system in systems:
            ens = Ensemble(system)
            log(f"{section}: {system}")
            with machine_lock():
                meta = machine()
                try:
                    if section == "rates":
                        peaks = peaks_for_rates(res)
                        if not all(peaks.values()):
                            entry["notes"].append("no 32-session peaks: run the sessions section first")
                            break
                        entry["peaks"] = peaks
                        pts = sec_rates(ens, m, peaks)
                    else:
                        pts = funcs[section](ens, m)
                except Exception as e:  # a failed part is recorded, the others still run
                    log(f"{section} {system} failed: {e}")
                    entry["notes"].append(f"{system}: {e}"[:500])
                    ens.down()
                    pts = []
            for p in pts:
                p["system"] = system
            entry["points"] += pts
            entry.setdefault("machine", {})[system] = meta
        res["sections"][section] = entry
        save_results(res)
        log(f"{section}: saved to {RESULTS.relative_to(ROOT)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    mp = sub.add_parser("measure")
    mp.add_argument("--quick", action="store_true")
    mp.add_argument("--only", nargs="*", metavar="SECTION")
    mp.add_argument("--systems", default=",".join(SYSTEMS))
    sub.add_parser("render")
    args = ap.parse_args()
    if args.cmd == "measure":
        measure(args)
    else:
        sys.path.insert(0, str(ROOT / "scripts"))
        import bench_render

        bench_render.render(load_results(), OUT_DIR, ROOT / "docs" / "benchmarks.md")


if __name__ == "__main__":
    main()
