#!/usr/bin/env python3
"""A tour of the Paddock Python client; it checks every result, so it is also a test.

    python example.py [HOST:PORT]      (default: $PADDOCK_TARGET or 127.0.0.1:7181)

Exits 0 if everything behaved as documented in proto/paddock/v1/client.proto, 1 otherwise.
"""

import os
import queue
import sys
import time

from paddock_client import NodeExistsError, NoNodeError, Op, PaddockError, connect


def check(cond, what):
    print(f"  {'ok ' if cond else 'FAIL'} {what}")
    if not cond:
        raise SystemExit(f"unexpected result: {what}")


def main(target):
    root = f"/example-{os.getpid()}-{time.time_ns()}"  # fresh names on every run
    events = queue.Queue()

    print(f"session A: connecting to {target}")
    a = connect(target, timeout_ms=10000, watcher=events.put)  # watch events -> callback
    print(f"  session 0x{a.session_id:x}, timeout {a.timeout_ms} ms")
    check(a.session_id != 0 and len(a.password) == 16, "handshake gave a session id and a 16-byte password")

    print("create: persistent, ephemeral, sequential")
    check(a.create(root, b"config v1") == root, f"created {root}")
    check(a.create(f"{root}/owner", b"A", ephemeral=True) == f"{root}/owner", "created an ephemeral node")
    seqs = [a.create(f"{root}/job-", b"", sequential=True) for _ in range(3)]
    print(f"  sequential: {seqs}")
    check(seqs == [f"{root}/job-{n:010d}" for n in (1, 2, 3)], "sequence numbers count the creates under the parent")
    check(sorted(a.get_children(root)) == ["job-0000000001", "job-0000000002", "job-0000000003", "owner"],
          "get_children lists them")
    stat = a.exists(f"{root}/owner")
    check(stat is not None and stat.ephemeral_owner == a.session_id, "the ephemeral node is owned by A")
    try:
        a.create(root)
        check(False, "creating an existing node fails")
    except NodeExistsError as e:
        check(e.code == -110, f"NodeExists: {e}")

    print("watch: A reads with watch=True, B changes the node")
    data, stat = a.get_data(root, watch=True)
    check((data, stat.version) == (b"config v1", 0), "A read 'config v1' at version 0")
    with connect(target) as b:
        print(f"session B: 0x{b.session_id:x}")
        stat = b.set_data(root, b"config v2", version=0)
        check(stat.version == 1, "B set 'config v2' (version 0 -> 1)")
        event = events.get(timeout=10)
        print(f"  A got {event}")
        check((event.type_name, event.path) == ("NODE_DATA_CHANGED", root), "A received NodeDataChanged")
        check(event.zxid == stat.mzxid, "the event carries the change's zxid")
        check(a.get_data(root)[0] == b"config v2", "A reads the new data")
        try:
            b.set_data(root, b"stale", version=0)
            check(False, "a set_data with a stale version fails")
        except PaddockError as e:
            check(e.code == -103, f"BadVersion: {e}")

        print("multi")
        results = a.multi([Op.check(root, 1), Op.create(f"{root}/m", b"1"), Op.set_data(root, b"config v3"),
                           Op.delete(seqs[0])])
        print(f"  results: {results}")
        check(results[1] == f"{root}/m" and results[2].version == 2, "multi applied all four ops")
        try:
            b.multi([Op.create(f"{root}/n"), Op.delete(f"{root}/missing"), Op.set_data(root, b"x")])
            check(False, "a multi with a failing op fails")
        except NoNodeError as e:
            print(f"  failed: {e}; per-op codes {e.results}")
            check(e.results == [0, -101, -2], "per-op codes: OK, NoNode, RuntimeInconsistency")
        check(b.exists(f"{root}/n") is None, "nothing of the failed multi was applied")

        print("errors")
        try:
            b.get_data(f"{root}/missing")
            check(False, "reading a missing node fails")
        except NoNodeError as e:
            check((e.code, e.name) == (-101, "NO_NODE"), f"NoNode: {e}")

        print("close A: its ephemeral node goes")
        b.exists(f"{root}/owner", watch=True)
        a.close()
        b.sync(root)
        check(b.exists(f"{root}/owner") is None, "B no longer sees A's ephemeral node")
        event = b.events.get(timeout=10)
        check((event.type_name, event.path) == ("NODE_DELETED", f"{root}/owner"), f"B received {event}")

        print("clean up")
        for child in b.get_children(root):
            b.delete(f"{root}/{child}")
        b.delete(root, version=2)
        check(b.exists(root) is None, f"{root} deleted")
    print("example: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PADDOCK_TARGET", "127.0.0.1:7181"))
