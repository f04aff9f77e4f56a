"""Ensemble only: a kazoo session survives the SIGKILL of the server it is connected to.

It reconnects to another member with the same session (id and password), its ephemeral is still
there, and its DataWatch / ChildrenWatch recipes go on firing for changes made after the
reconnect. (kazoo itself fires its one-shot watches with a NONE event when the connection drops
and forgets them, so SetWatches across servers is tested with the Java client, which keeps them:
test_java.py's failover test.) Destructive (leaves the ensemble with two members): run last.
"""
import os
import signal
import threading
import time
import uuid

import pytest
from kazoo.client import KazooState

from conftest import MODE, WAIT, new_client, servers

pytestmark = pytest.mark.failover


@pytest.mark.skipif(MODE != "ensemble", reason="needs the 3-server ensemble")
def test_session_moves_to_another_server_after_sigkill():
    members = servers()
    assert len(members) == 3
    root = "/failover-" + uuid.uuid4().hex[:8]
    c = new_client(timeout=15.0)
    helper = None
    try:
        c.create(root + "/eph", b"mine", ephemeral=True, makepath=True)
        c.create(root + "/data", b"0")
        sid, _ = c.client_id
        connected_port = c._connection._socket.getpeername()[1]
        pid = dict(members)[connected_port]
        oneshot = []
        c.get(root + "/data", watch=oneshot.append)
        datas = []
        c.DataWatch(root + "/data")(lambda data, stat: datas.append(data))
        children = []
        c.ChildrenWatch(root)(lambda ch: children.append(sorted(ch)))
        states = []
        c.add_listener(lambda s: states.append(s))
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and not (datas and children):
            time.sleep(0.02)
        assert datas == [b"0"] and children == [["data", "eph"]]

        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if KazooState.SUSPENDED in states and c.connected:
                break
            time.sleep(0.05)
        assert KazooState.SUSPENDED in states, "kazoo never noticed the server died"
        assert c.connected, "kazoo did not reconnect to another server"
        assert KazooState.LOST not in states, "the session was lost"
        assert c.client_id[0] == sid, "a new session was made instead of resuming"
        new_port = c._connection._socket.getpeername()[1]
        assert new_port != connected_port

        other_hosts = ",".join("127.0.0.1:%d" % p for p, _ in members if p != connected_port)
        helper = new_client(hosts=other_hosts)
        st = helper.exists(root + "/eph")
        assert st is not None and st.ephemeralOwner == sid
        # kazoo's documented behaviour on a connection loss (as with ZooKeeper): one-shot
        # watches get a NONE event and are dropped.
        assert [e.type for e in oneshot] == ["NONE"]
        helper.set(root + "/data", b"1")
        helper.create(root + "/new")
        t = time.monotonic() + WAIT
        while time.monotonic() < t and (datas[-1] != b"1" or children[-1] != ["data", "eph", "new"]):
            time.sleep(0.05)
        assert datas[-1] == b"1", "DataWatch did not see a change after the session moved"
        assert children[-1] == ["data", "eph", "new"], "ChildrenWatch did not see a create after the session moved"
    finally:
        if helper:
            helper.stop()
            helper.close()
        c.stop()
        c.close()
