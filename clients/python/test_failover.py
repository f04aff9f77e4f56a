"""A session on a list of servers: it moves to another server when its own goes away, keeping
its id, its ephemerals and its watches, and update_server_list() moves it off a server no longer
listed. Against a fresh 3-server ensemble per test (the `ensemble` fixture, $PADDOCK_BIN)."""

import queue
import time

import pytest

import paddock_client as pc
from paddock_client import connect, parse_servers, pb


def until(what, check, limit=20.0):
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def retry(fn, *args, limit=20.0):
    """fn(*args), retried while it fails with CONNECTIONLOSS (the session is moving)."""
    deadline = time.monotonic() + limit
    while True:
        try:
            return fn(*args)
        except pc.ConnectionLossError:
            assert time.monotonic() < deadline, "the session did not move"
            time.sleep(0.05)


def test_parse_servers():
    assert parse_servers("a:1, b:2") == ["a:1", "b:2"]
    assert parse_servers(["[::1]:7181"]) == ["[::1]:7181"]
    for bad in ["", "a", "a:", ":1", "a:0", "a:99999", "a:1,,b:2", "a:x", "a b:1", "http://a:1", []]:
        with pytest.raises(ValueError):
            parse_servers(bad)


def test_the_session_moves_when_its_server_dies(ensemble):
    with connect(",".join(ensemble.addrs), timeout_ms=10000, seed=7) as s, \
            connect(",".join(ensemble.addrs), seed=8) as b:
        assert sorted(s.servers) == sorted(ensemble.addrs)
        first, sid = s.server, s.session_id
        e = s.create("/e", ephemeral=True)
        b.create("/w", b"0")
        s.get_data("/w", watch=True)
        s.get_children("/", watch=True)
        ensemble.kill(ensemble.myid(first))
        # Calls made while it moves wait for the new stream (or fail with CONNECTIONLOSS if they
        # were in flight when the stream broke).
        assert retry(s.exists, e).ephemeral_owner == sid
        assert s.server != first and s.server in ensemble.addrs
        assert s.session_id == sid and s.state == pb.KEEPER_STATE_SYNC_CONNECTED
        # The watches moved with it: the new server fires them.
        retry(b.set_data, "/w", b"1")
        ev = s.events.get(timeout=10)
        assert (ev.type_name, ev.path) == ("NODE_DATA_CHANGED", "/w")
        retry(b.create, "/x")
        ev = s.events.get(timeout=10)
        assert (ev.type_name, ev.path) == ("NODE_CHILDREN_CHANGED", "/")
        with pytest.raises(queue.Empty):
            s.events.get(timeout=0.2)  # each once
        # The old server comes back: nothing changes for the session.
        ensemble.start(ensemble.myid(first))
        ensemble.wait_serving()
        assert s.exists(e) is not None and s.session_id == sid
    with connect(ensemble.addr(1)) as c:
        assert retry(c.exists, e) is None  # closed: its ephemeral went with it


def test_a_session_whose_servers_are_all_gone_expires(ensemble):
    s = connect(ensemble.addr(1), timeout_ms=2000)
    ensemble.kill(1)
    until("the stream to break", lambda: s.state == pb.KEEPER_STATE_DISCONNECTED, 5)
    t0 = time.monotonic()
    with pytest.raises(pc.SessionExpiredError):
        s.exists("/")  # waits for the move, which gives up once the session timeout has passed
    assert time.monotonic() - t0 < 5
    assert s.state == pb.KEEPER_STATE_EXPIRED and s.closed_reason is None  # the client's own verdict
    with pytest.raises(pc.SessionExpiredError):
        s.exists("/")
    s.close()


def test_update_server_list(ensemble):
    a1, a2, a3 = ensemble.addrs
    with connect(a1) as s:
        sid = s.session_id
        e = s.create("/e", ephemeral=True)
        s.update_server_list(f"{a1}, {a2}")  # still listed: stays
        assert s.server == a1 and sorted(s.servers) == sorted([a1, a2])
        s.update_server_list(a2)  # not listed any more: moves at once
        until("the move to server 2", lambda: s.server == a2 and s.state == pb.KEEPER_STATE_SYNC_CONNECTED)
        assert retry(s.exists, e).ephemeral_owner == sid and s.session_id == sid
        s.update_server_list([a3, a2])
        assert s.server == a2
        with pytest.raises(ValueError):
            s.update_server_list("nohost")
        assert sorted(s.servers) == sorted([a2, a3])
