"""Shared fixtures for the ZooKeeper-client compatibility tests (run by .ci/zk-clients).

The script starts Paddock servers and hands them over in the environment:

  ZK_HOSTS    connect string of every server, e.g. "127.0.0.1:41001,127.0.0.1:41002"
  ZK_MODE     "standalone" or "ensemble"
  ZK_SERVERS  "port:pid,port:pid,..." for the ensemble (the failover test SIGKILLs one)

Every test works under its own fresh root path (``root`` fixture), so the same server can be
reused by all tests and by both runs without clean-up between them.
"""
import os
import uuid

import pytest
from kazoo.client import KazooClient

HOSTS = os.environ.get("ZK_HOSTS", "127.0.0.1:2181")
MODE = os.environ.get("ZK_MODE", "standalone")
# Every single wait in these tests is bounded by this many seconds.
WAIT = 10.0
# "paddock" (default) or "zookeeper": the known gaps below are expected only of Paddock, so the
# same tests can be pointed at a real ZooKeeper 3.8 (ZK_SERVER=zookeeper) to check the tests.
PADDOCK = os.environ.get("ZK_SERVER", "paddock") == "paddock"


def gap(reason):
    """Marks a test that asserts ZooKeeper's behaviour where Paddock differs (strict: it must
    fail on Paddock, so the mark has to go when Paddock is fixed)."""
    return pytest.mark.xfail(PADDOCK, reason="Paddock differs from ZooKeeper: " + reason, strict=True)


def servers():
    """[(port, pid)] of the ensemble's members, in server-id order."""
    out = []
    for item in filter(None, os.environ.get("ZK_SERVERS", "").split(",")):
        port, pid = item.split(":")
        out.append((int(port), int(pid)))
    return out


def first_host():
    return HOSTS.split(",")[0]


def new_client(hosts=None, **kw):
    """A started KazooClient (bounded connect)."""
    kw.setdefault("timeout", 10.0)
    c = KazooClient(hosts=hosts or HOSTS, **kw)
    c.start(timeout=WAIT)
    return c


@pytest.fixture
def zk():
    c = new_client()
    yield c
    c.stop()
    c.close()


@pytest.fixture
def zk2():
    c = new_client()
    yield c
    c.stop()
    c.close()


@pytest.fixture
def root(zk):
    path = "/compat-" + uuid.uuid4().hex[:12]
    zk.create(path)
    yield path
    try:
        zk.delete(path, recursive=True)
    except Exception:
        pass
