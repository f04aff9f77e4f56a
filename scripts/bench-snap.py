#!/usr/bin/env python3
"""A new follower catching up by SNAP, timed again and again on one filled ensemble.

    scripts/bench-snap.py [--system paddock|zookeeper] [--znodes N] [--starts K]

Starts a fresh local 3-server ensemble (as `scripts/bench-report.py` does: same scripts, ports,
binaries and lock), fills it with N znodes of 100 B (`--keep`), then K times: stops a follower,
deletes its data (a new server in its seat) and times its start until it serves at the leader's
zxid. The report's catch-up section is the first start only; later starts show the cost without
the fill's aftermath (on a VM, the first touch of memory it had not used yet is slow). Paddock's
servers log the phases: `sending a snapshot ... serialise_ms` (leader) and `installed the
leader's snapshot ... restore_ms total_ms` (follower, data/cluster/N/paddock.log).
"""
import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--system", default="paddock", choices=["paddock", "zookeeper"])
    ap.add_argument("--znodes", type=int, default=1_000_000)
    ap.add_argument("--starts", type=int, default=3)
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("bench_report", HERE / "bench-report.py")
    br = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(br)
    os.chdir(br.ROOT)
    ens = br.Ensemble(args.system)
    with br.machine_lock():
        with br.fresh(ens):
            t = time.time()
            br.bench_point(ens, ["--sessions", 32, "--ops", 32, "--workload", "get", "--keys", args.znodes,
                                 "--keep"], timeout=1800)
            print(f"{args.system}: {args.znodes} znodes filled in {time.time() - t:.1f} s", flush=True)
            for i in range(1, args.starts + 1):
                leader, f = ens.leader(), ens.follower()
                ens.stop_one(f)
                ens.wipe_one(f)
                s = br.catch_up(ens, f, leader)
                print(f"{args.system}: start {i}: follower {f} served the leader's state after {s} s", flush=True)
                time.sleep(2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
