"""The C client: cli_mt from Debian's zookeeper-bin (libzookeeper-mt, ZooKeeper 3.8), commands on
stdin, output checked against what it prints with ZooKeeper 3.8's own server."""
import os
import re
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import HOSTS

CLI_MT = os.environ.get("CLI_MT") or shutil.which("cli_mt") or "/usr/lib/zookeeper/bin/cli_mt"
pytestmark = pytest.mark.skipif(not os.access(CLI_MT, os.X_OK), reason="no cli_mt (zookeeper-bin package)")


def cli_mt(commands, settle=1.5):
    """Runs cli_mt with `commands` (one per line), waits `settle` s for the async answers, quits."""
    p = subprocess.Popen([CLI_MT, HOSTS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        p.stdin.write("".join(c + "\n" for c in commands))
        p.stdin.flush()
        time.sleep(settle)
        out, _ = p.communicate("quit\n", timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    # Drop the C client's own log lines (timestamped).
    return "\n".join(l for l in out.splitlines() if not re.match(r"^\d{4}-\d\d-\d\d ", l))


def test_create_get_ls_delete():
    p = "/cmt-" + uuid.uuid4().hex[:8]
    out = cli_mt([
        "create " + p, "get " + p, "set %s world" % p, "get " + p, "create2 +e %s/e" % p,
        "ls " + p, "exists " + p, "create +s %s/s-" % p, "delete %s/e" % p,
    ])
    assert "Got a new session id: 0x" in out, out
    assert "[%s]: rc = 0\n\tname = %s\n" % (p, p) in out, out
    # get: the C CLI creates nodes with data "new".
    assert "%s: rc = 0\n value_len = 3\nnew\nStat:" % p in out, out
    assert "%s: rc = 0\n value_len = 5\nworld\nStat:" % p in out, out
    assert re.search(r"\tversion=1\taversion=0\n\tephemeralOwner = 0\n", out), out
    assert "[%s/e]: rc = 0\n\tname = %s/e\n" % (p, p) in out, out
    sid = re.search(r"Got a new session id: 0x([0-9a-f]+)", out).group(1)
    assert "\tephemeralOwner = %s\n" % sid in out, out
    assert "%s: rc = 0\n\te\n" % p in out, out
    assert "\tname = %s/s-0000000001\n" % p in out, out
    cleanup = cli_mt(["delete %s/s-0000000001" % p, "delete " + p, "exists " + p])
    assert "%s: rc = -101" % p in cleanup or "Error -101 for %s" % p in cleanup, cleanup


def test_errors_and_watch():
    p = "/cmt-" + uuid.uuid4().hex[:8]
    out = cli_mt(["get " + p, "wexists %s/w" % p, "create " + p, "create %s/w" % p, "create %s/w" % p,
                  "delete " + p])
    assert "%s: rc = -101" % p in out, out                      # get of a missing node: NONODE
    assert "Error -101 for %s/w" % p in out, out                # wexists: not there yet
    assert "Watcher CREATED_EVENT state = CONNECTED_STATE for path %s/w" % p in out, out
    assert "[%s/w]: rc = -110" % p in out, out                  # NODEEXISTS
    assert "%s: rc = -111" % p in out, out                      # NOTEMPTY
    cli_mt(["delete %s/w" % p, "delete " + p], settle=0.5)


def test_config_node():
    out = cli_mt(["config"])
    assert "/zookeeper/config: rc = 0" in out, out
