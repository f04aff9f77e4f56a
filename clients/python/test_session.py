"""The client, and the protocol documented in client.proto, against a live server ($PADDOCK_TARGET)."""

import queue
import time

import grpc
import pytest

import paddock_client as pc
from paddock_client import Op, connect, pb
from paddock_client.session import pb_grpc


class Raw:
    """A bare session stream, for what the Session wrapper never sends."""

    def __init__(self, target, deadline=30):
        self.channel = grpc.insecure_channel(target)
        self.out = queue.Queue()
        self.call = pb_grpc.PaddockStub(self.channel).Session(iter(self.out.get, None), timeout=deadline)

    def send(self, **kw):
        self.out.put(pb.ClientMessage(**kw))

    def connect(self, **kw):
        self.send(connect=pb.ConnectRequest(**kw))
        return self

    def request(self, xid, **op):
        self.send(request=pb.Request(xid=xid, **op))

    def recv(self):
        return next(self.call)

    def finish(self, half_close=True):
        """Reads to the end: (messages, grpc status code, paddock-error-code or None)."""
        if half_close:
            self.out.put(None)
        msgs = []
        try:
            for m in self.call:
                msgs.append(m)
        except grpc.RpcError:
            pass
        trailers = dict(self.call.trailing_metadata() or ())
        code = trailers.get("paddock-error-code")
        self.channel.close()
        return msgs, self.call.code(), (int(code) if code is not None else None)


def raises(cls, fn, *args, **kw):
    with pytest.raises(cls) as e:
        fn(*args, **kw)
    assert e.value.code == cls.code
    return e.value


# -- operations ----------------------------------------------------------------------------------


def test_crud_versions_and_stat(target, root):
    with connect(target) as s:
        p = f"{root}/n"
        assert s.create(p, b"v0") == p
        data, st = s.get_data(p)
        assert data == b"v0" and st.version == 0 and st.data_length == 2 and st.czxid == st.mzxid
        assert s.exists(p) == st
        st1 = s.set_data(p, b"v1", version=0)
        assert st1.version == 1 and st1.mzxid > st.mzxid and st1.czxid == st.czxid
        raises(pc.BadVersionError, s.set_data, p, b"x", version=0)
        raises(pc.BadVersionError, s.delete, p, version=0)  # 0 means version 0, not "any"
        parent = s.exists(root)
        assert parent.num_children == 1 and parent.cversion == 1 and parent.pzxid == st.czxid
        s.delete(p, version=1)
        assert s.exists(p) is None
        assert s.sync(root) == root


def test_null_data_is_not_empty_data(target, root):
    with connect(target) as s:
        s.create(f"{root}/null", None)
        s.create(f"{root}/empty", b"")
        data, st = s.get_data(f"{root}/null")
        assert data is None and st.data_length == 0
        assert s.get_data(f"{root}/empty")[0] == b""
        s.set_data(f"{root}/empty", None)
        assert s.get_data(f"{root}/empty")[0] is None
        s.set_data(f"{root}/null", b"x")
        assert s.get_data(f"{root}/null")[0] == b"x"


def test_error_codes(target, root):
    with connect(target) as s:
        raises(pc.NoNodeError, s.get_data, f"{root}/missing")
        raises(pc.NoNodeError, s.create, f"{root}/missing/child")
        raises(pc.NoNodeError, s.delete, f"{root}/missing")
        raises(pc.NoNodeError, s.get_children, f"{root}/missing")
        s.create(f"{root}/e", ephemeral=True)
        raises(pc.NoChildrenForEphemeralsError, s.create, f"{root}/e/child")
        raises(pc.NodeExistsError, s.create, f"{root}/e")
        s.create(f"{root}/p")
        s.create(f"{root}/p/c")
        raises(pc.NotEmptyError, s.delete, f"{root}/p")
        s.delete(f"{root}/p/c")
        for bad in ["relative", f"{root}/", f"{root}//x", f"{root}/./x", f"{root}/../x", f"{root}/a\0b", ""]:
            e = raises(pc.BadArgumentsError, s.create, bad)
            assert e.message, "BADARGUMENTS carries an error_message"
        assert s.get_children(root) is not None  # the stream survives per-request errors


def test_data_size_limit(target, root):
    with connect(target) as s:
        s.create(f"{root}/big", b"x" * (1 << 20))  # "at most 1 MiB"
        assert s.get_data(f"{root}/big")[1].data_length == 1 << 20
        raises(pc.BadArgumentsError, s.create, f"{root}/too-big", b"x" * ((1 << 20) + 1))
        raises(pc.BadArgumentsError, s.set_data, f"{root}/big", b"x" * ((1 << 20) + 1))


def test_sequential_and_ephemeral(target, root):
    with connect(target) as a, connect(target) as b:
        assert a.create(f"{root}/s-", sequential=True) == f"{root}/s-0000000000"
        assert a.create(f"{root}/x") == f"{root}/x"
        assert a.create(f"{root}/", sequential=True) == f"{root}/0000000002"  # may end in '/'
        e = a.create(f"{root}/e-", ephemeral=True, sequential=True)
        assert e == f"{root}/e-0000000003"
        assert b.exists(e).ephemeral_owner == a.session_id
        assert b.exists(f"{root}/x").ephemeral_owner == 0
        a.close()
        assert b.exists(e) is None
        assert sorted(b.get_children(root)) == ["0000000002", "s-0000000000", "x"]


def test_containers_and_ttl_nodes(target, root):
    """The server deletes an emptied container and an expired TTL node (.ci/python-client starts it
    with extendedTypesEnabled=true and znode.container.checkIntervalMs=100)."""
    def gone(s, path, limit=10.0):
        deadline = time.monotonic() + limit
        while s.exists(path) is not None:
            assert time.monotonic() < deadline, f"{path} is still there"
            time.sleep(0.05)

    with connect(target) as s:
        c = f"{root}/c"
        assert s.create(c, container=True) == c
        assert s.exists(c).ephemeral_owner == -(1 << 63)  # ZooKeeper's container marker
        s.create(f"{c}/x")
        s.delete(f"{c}/x")
        gone(s, c)
        t = s.create(f"{root}/t-", sequential=True, ttl=200)
        assert s.exists(t).ephemeral_owner == (0xFF << 56 | 200) - (1 << 64)  # 0xFF000000000000C8
        s.multi([Op.create(f"{root}/m", ttl=200)])
        gone(s, t)
        gone(s, f"{root}/m")
        for bad in (0, -1, 0x100_0000_0000):
            raises(pc.BadArgumentsError, s.create, f"{root}/bad", ttl=bad)
        raises(pc.BadArgumentsError, s.create, f"{root}/bad", ephemeral=True, ttl=100)
        with pytest.raises(ValueError):
            s.create(f"{root}/bad", container=True, sequential=True)


def test_get_ephemerals_and_all_children_number(target, root):
    """ZooKeeper 3.9's getEphemerals (own nodes only, string prefix, sorted; no ACL needed) and
    getAllChildrenNumber (every level below; READ on the node; NONODE)."""
    with connect(target) as a, connect(target) as b:
        a.create(f"{root}/d")
        a.create(f"{root}/d/z", ephemeral=True)
        a.create(f"{root}/d/a", ephemeral=True)
        a.create(f"{root}/dx", ephemeral=True, acl=[pc.ACL(pc.Permissions.WRITE, pc.Id("world", "anyone"))])
        b.create(f"{root}/d/b", ephemeral=True)
        assert a.get_ephemerals(root) == [f"{root}/d/a", f"{root}/d/z", f"{root}/dx"]
        assert a.get_ephemerals(f"{root}/d") == [f"{root}/d/a", f"{root}/d/z", f"{root}/dx"]  # "/d" matches "/dx"
        assert a.get_ephemerals(f"{root}/d/a") == [f"{root}/d/a"]
        assert set(a.get_ephemerals()) >= {f"{root}/d/a", f"{root}/d/z", f"{root}/dx"}
        assert b.get_ephemerals(root) == [f"{root}/d/b"]
        assert a.get_ephemerals(f"{root}/none") == []
        raises(pc.BadArgumentsError, a.get_ephemerals, f"{root}/d/")
        raises(pc.BadArgumentsError, a.get_ephemerals, "relative")

        assert a.get_all_children_number(root) == 5  # d, d/z, d/a, d/b, dx
        assert a.get_all_children_number(f"{root}/d") == 3
        assert a.get_all_children_number(f"{root}/d/a") == 0
        assert a.get_all_children_number("/") >= 5 + 3  # the root counts /zookeeper and its children
        raises(pc.NoNodeError, a.get_all_children_number, f"{root}/missing")
        raises(pc.BadArgumentsError, a.get_all_children_number, f"{root}/")
        raises(pc.NoAuthError, a.get_all_children_number, f"{root}/dx")  # WRITE only: no READ
        b.close()
        assert a.get_all_children_number(root) == 4
    with connect(target) as s:
        assert s.get_all_children_number(root) == 1  # a's ephemerals went with its session
        assert s.get_ephemerals(root) == []


def test_get_config_on_a_standalone_server_is_empty(target):
    """ZooKeeper's getConfig: /zookeeper/config's data and Stat, empty on a standalone server (as
    ZooKeeper 3.9 standalone); the same as get_data there; the node stays read-only."""
    with connect(target) as s:
        data, stat = s.get_config()
        assert data == b"" and stat.data_length == 0
        assert s.get_data("/zookeeper/config") == (data, stat)
        s.get_config(watch=True)
        with pytest.raises(pc.BadArgumentsError):
            s.set_data("/zookeeper/config", b"x")


def test_multi_read_answers_each_op_at_one_zxid(target, root):
    """ZooKeeper 3.9's multiRead: one result per op, a failed op (NONODE, NOAUTH, BADARGUMENTS)
    returned in its place without failing the others; all ops at one state; no watches; a write op
    makes the whole call BADARGUMENTS."""
    with connect(target) as a, connect(target) as b:
        a.create(f"{root}/m", b"0")
        # Children are ephemeral, so the root fixture (one level deep) can clean up.
        a.create(f"{root}/m/k", b"K", ephemeral=True)
        a.create(f"{root}/m/dark", b"", ephemeral=True, acl=[pc.ACL(pc.Permissions.WRITE, pc.Id("world", "anyone"))])
        got = a.multi_read([Op.get_data(f"{root}/m/k"), Op.get_data(f"{root}/m/none"), Op.get_children(f"{root}/m"),
                            Op.get_children(f"{root}/m/dark"), Op.get_data(f"{root}/m/")])
        assert len(got) == 5
        data, stat = got[0]
        assert data == b"K" and stat.data_length == 1
        assert isinstance(got[1], pc.NoNodeError) and got[1].code == -101
        assert sorted(got[2]) == ["dark", "k"]
        assert isinstance(got[3], pc.NoAuthError)
        assert isinstance(got[4], pc.BadArgumentsError)
        assert a.multi_read([]) == []

        # One state: b's multi moves /m's data and its child count together.
        b.multi([Op.create(f"{root}/m/n", ephemeral=True), Op.set_data(f"{root}/m", b"3")])
        a.sync()
        (data, stat), names = a.multi_read([Op.get_data(f"{root}/m"), Op.get_children(f"{root}/m")])
        assert data == b"3" and len(names) == 3 and stat.num_children == 3

        # No watch is left: b's change reaches a as no event.
        b.set_data(f"{root}/m", b"4")
        b.create(f"{root}/m/o", ephemeral=True)
        a.sync()
        with pytest.raises(queue.Empty):
            a.events.get(timeout=0.3)

        # Reads and writes do not mix, either way round.
        raises(pc.BadArgumentsError, a.multi_read, [Op.get_data(f"{root}/m"), Op.delete(f"{root}/m/k")])
        raises(pc.BadArgumentsError, a.multi, [Op.check(f"{root}/m"), Op.get_data(f"{root}/m")])
        assert a.exists(f"{root}/m/k") is not None


def test_watches_are_one_shot_and_precede_responses(target, root):
    with connect(target) as a, connect(target) as b:
        p = f"{root}/w"
        assert a.exists(p, watch=True) is None
        assert a.get_children(root, watch=True) == []
        b.create(p, b"1")
        # The events reach A before any response that shows the change.
        assert a.exists(p) is not None
        got = {(e.type_name, e.path) for e in (a.events.get_nowait(), a.events.get_nowait())}
        assert got == {("NODE_CREATED", p), ("NODE_CHILDREN_CHANGED", root)}
        a.get_data(p, watch=True)
        b.set_data(p, b"2")
        b.set_data(p, b"3")
        assert a.get_data(p)[0] == b"3"
        ev = a.events.get_nowait()
        assert (ev.type, ev.state, ev.path) == (pb.EVENT_TYPE_NODE_DATA_CHANGED, pb.KEEPER_STATE_SYNC_CONNECTED, p)
        assert a.events.empty(), "a watch fires once"
        a.get_data(p, watch=True)
        b.delete(p)
        assert a.exists(p) is None
        assert a.events.get_nowait().type_name == "NODE_DELETED"
        raises(pc.NoNodeError, a.get_data, p, watch=True)  # leaves no watch
        b.create(p)
        b.set_data(p, b"4")
        a.sync(p)
        assert a.get_data(p)[0] == b"4" and a.events.empty()


def test_watcher_callback(target, root):
    got = queue.Queue()
    with connect(target, watcher=got.put) as a, connect(target) as b:
        a.get_children(root, watch=True)
        b.create(f"{root}/c")
        ev = got.get(timeout=10)
        assert (ev.type_name, ev.path) == ("NODE_CHILDREN_CHANGED", root)


def test_pipelining_answers_in_order(target, root):
    with connect(target) as s:
        futs = []
        for i in range(300):
            futs.append(s.create_async(f"{root}/n{i}", str(i)))
            futs.append(s.get_data_async(f"{root}/n{i}"))  # sees the create sent just before it
        futs.append(s.get_children_async(root))
        for i in range(300):
            assert futs[2 * i].result(timeout=30) == f"{root}/n{i}"
            assert futs[2 * i + 1].result(timeout=30)[0] == str(i).encode()
        assert len(futs[-1].result(timeout=30)) == 300


def test_multi(target, root):
    with connect(target) as s:
        s.create(f"{root}/a", b"a")
        res = s.multi([Op.check(f"{root}/a", 0), Op.create(f"{root}/b", sequential=True),
                       Op.set_data(f"{root}/a", b"A", version=0), Op.delete(f"{root}/a", version=1)])
        assert res[0] is None and res[1] == f"{root}/b0000000001" and res[2].version == 1 and res[3] is None
        e = raises(pc.BadVersionError, s.multi, [Op.create(f"{root}/c"), Op.create(f"{root}/d"),
                                                Op.check(f"{root}/b0000000001", 5), Op.delete(f"{root}/b0000000001")])
        assert e.results == [0, 0, -103, -2]
        e = raises(pc.NoNodeError, s.multi, [Op.check(f"{root}/nope")])
        assert e.results == [-101]
        assert s.get_children(root) == ["b0000000001"]
        assert s.multi([]) == []


def test_pings_keep_an_idle_session_alive(target, root):
    with connect(target, timeout_ms=1) as a, connect(target) as b:
        assert a.timeout_ms == 4000  # clamped up to minSessionTimeout (2 x tickTime)
        e = a.create(f"{root}/alive", ephemeral=True)
        time.sleep(7)  # the pinger sends a PingRequest every timeout/3 while idle
        assert b.exists(e) is not None
        a.ping()
    with connect(target, timeout_ms=10**7) as c:
        assert c.timeout_ms == 40000  # clamped down to maxSessionTimeout (20 x tickTime)


def test_close(target, root):
    a = connect(target)
    a.create(f"{root}/e", ephemeral=True)
    a.close()
    assert a.closed_reason is not None and a.closed_reason.error == 0
    raises(pc.SessionExpiredError, a.exists, root)
    a.close()  # idempotent
    with connect(target) as b:
        assert b.exists(f"{root}/e") is None


# -- resume ----------------------------------------------------------------------------------------


def test_resume_after_detach(target, root):
    a = connect(target)
    e = a.create(f"{root}/e", ephemeral=True)
    sid = a.session_id
    resume = a.detach()
    raises(pc.ConnectionLossError, a.exists, root)  # the stream is gone, the session is not
    with connect(target, **resume) as a2:
        assert a2.session_id == sid and a2.password == resume["password"]
        assert a2.exists(e).ephemeral_owner == sid
    with connect(target) as b:
        assert b.exists(e) is None


def test_resume_on_the_same_server_keeps_watches(target, root):
    with connect(target) as b:
        a = connect(target)
        b.create(f"{root}/w", b"0")
        a.get_data(f"{root}/w", watch=True)
        a.get_children(root, watch=True)
        resume = a.detach()
        b.set_data(f"{root}/w", b"1")  # fires while no stream is open
        with connect(target, **resume) as a2:
            a2.sync(root)
            ev = a2.events.get_nowait()  # the event that fired in between comes first on the new stream
            assert (ev.type_name, ev.path) == ("NODE_DATA_CHANGED", f"{root}/w") and a2.events.empty()
            b.create(f"{root}/x")  # the child watch is still set: it fires now
            a2.sync(root)
            ev = a2.events.get_nowait()
            assert (ev.type_name, ev.path) == ("NODE_CHILDREN_CHANGED", root) and a2.events.empty()


def test_outstanding_watches_follow_answers_and_events(target, root):
    w, m = f"{root}/w", f"{root}/m"
    with connect(target) as b, connect(target) as a:
        b.create(w, b"0")
        a.get_data(w, watch=True)
        assert a.exists(m, watch=True) is None  # a missing node: an exist watch
        a.get_children(root, watch=True)
        raises(pc.NoNodeError, a.get_data, f"{root}/none", watch=True)  # an error leaves no watch
        assert a.outstanding_watches() == {"data": [w], "exist": [m], "child": [root], "persistent": [], "persistent_recursive": []}
        b.set_data(w, b"1")
        a.sync(root)
        assert a.outstanding_watches() == {"data": [], "exist": [m], "child": [root], "persistent": [], "persistent_recursive": []}
        b.create(m)  # fires the exist watch on m and the child watch on root
        a.sync(root)
        assert a.outstanding_watches() == {"data": [], "exist": [], "child": [], "persistent": [], "persistent_recursive": []}
        types = sorted(a.events.get_nowait().type_name for _ in range(3))
        assert types == ["NODE_CHILDREN_CHANGED", "NODE_CREATED", "NODE_DATA_CHANGED"]


def test_resume_carries_the_watch_lists(target, root):
    """detach() returns the outstanding watches; connect() sends them in its ConnectRequest, so a
    server that never saw them (another server of an ensemble) sets them again."""
    w = f"{root}/w"
    with connect(target) as b:
        b.create(w, b"0")
        a = connect(target)
        a.get_children(root, watch=True)
        resume = a.detach()
        assert (resume["data_watches"], resume["exist_watches"], resume["child_watches"]) == ([], [], [root])
        # A data watch on w that this server never had for the session: set from the list alone.
        with connect(target, **{**resume, "data_watches": [w]}) as a2:
            assert a2.outstanding_watches()["data"] == [w]
            b.set_data(w, b"1")
            a2.sync(root)
            ev = a2.events.get_nowait()
            assert (ev.type_name, ev.path) == ("NODE_DATA_CHANGED", w) and a2.events.empty()
            assert a2.outstanding_watches() == {"data": [], "exist": [], "child": [root], "persistent": [], "persistent_recursive": []}


def test_persistent_and_recursive_watches_fire_every_time(target, root):
    t = f"{root}/t"
    with connect(target) as b, connect(target) as a:
        a.add_watch(t, pb.ADD_WATCH_MODE_PERSISTENT)
        a.add_watch(t, pb.ADD_WATCH_MODE_PERSISTENT_RECURSIVE)
        b.create(t)
        b.set_data(t, b"1")
        b.create(f"{t}/k")
        b.set_data(f"{t}/k", b"x")
        a.sync(root)
        got = [(e.type_name, e.path) for e in (a.events.get_nowait() for _ in range(5))]
        assert a.events.empty(), "one event per change however many watches match"
        assert got == [("NODE_CREATED", t), ("NODE_DATA_CHANGED", t), ("NODE_CREATED", f"{t}/k"),
                       ("NODE_CHILDREN_CHANGED", t), ("NODE_DATA_CHANGED", f"{t}/k")]
        assert a.outstanding_watches()["persistent"] == [t] and a.outstanding_watches()["persistent_recursive"] == [t]
        a.check_watches(t, pb.WATCHER_TYPE_PERSISTENT)
        raises(pc.NoWatcherError, a.check_watches, t, pb.WATCHER_TYPE_CHILDREN)
        a.remove_watches(t, pb.WATCHER_TYPE_ANY)
        ev = a.events.get_nowait()
        assert (ev.type_name, ev.path) == ("PERSISTENT_WATCH_REMOVED", t) and a.events.empty()
        raises(pc.NoWatcherError, a.remove_watches, t)
        raises(pc.NoWatcherError, a.check_watches, t, pb.WATCHER_TYPE_ANY)
        b.set_data(t, b"2")
        a.sync(root)
        assert a.events.empty()
        raises(pc.BadArgumentsError, a.add_watch, "no-slash")
        b.delete(f"{t}/k")  # the fixture removes one level below root


def test_persistent_watches_are_replayed_on_resume(target, root):
    t = f"{root}/r"
    with connect(target) as b:
        b.create(t)
        a = connect(target)
        a.add_watch(t, pb.ADD_WATCH_MODE_PERSISTENT_RECURSIVE)
        resume = a.detach()
        assert resume["persistent_recursive_watches"] == [t]
        b.create(f"{t}/a")
        b.set_data(f"{t}/a", b"1")
        b.delete(f"{t}/a")
        with connect(target, **resume) as a2:
            a2.sync(root)
            got = [(e.type_name, e.path) for e in (a2.events.get_nowait() for _ in range(3))]
            assert got == [("NODE_CREATED", f"{t}/a"), ("NODE_DATA_CHANGED", f"{t}/a"), ("NODE_DELETED", f"{t}/a")]
            assert a2.events.empty(), "each missed change exactly once"
            b.set_data(t, b"live")
            a2.sync(root)
            assert a2.events.get_nowait().type_name == "NODE_DATA_CHANGED"


def test_resume_moves_the_session_away_from_an_open_stream(target, root):
    a = connect(target)
    a.create(f"{root}/e", ephemeral=True)
    with connect(target, session_id=a.session_id, password=a.password, last_zxid_seen=a.last_zxid) as a2:
        deadline = time.time() + 10
        while a.closed_reason is None and time.time() < deadline:
            time.sleep(0.05)
        assert a.closed_reason is not None and a.closed_reason.error == -118
        raises(pc.SessionMovedError, a.exists, root)
        assert a2.exists(f"{root}/e") is not None
    a.close()


def test_resume_refused(target):
    a = connect(target)
    resume = a.detach()
    raises(pc.SessionExpiredError, connect, target, **{**resume, "password": bytes(16)})
    raises(pc.SessionExpiredError, connect, target, **{**resume, "session_id": 12345})
    raises(pc.ConnectionLossError, connect, target, **{**resume, "last_zxid_seen": 1 << 60})
    connect(target, **resume).close()


def test_expiry_reported_with_session_closed(target, root):
    raw = Raw(target).connect(timeout_ms=4000)
    hello = raw.recv().connect
    assert hello.timeout_ms == 4000 and len(hello.password) == 16
    raw.request(1, create=pb.CreateRequest(path=f"{root}/e", mode=pb.CREATE_MODE_EPHEMERAL))
    assert raw.recv().response.error == 0
    t0 = time.time()
    msg = raw.recv()  # no pings: the session expires
    assert msg.WhichOneof("message") == "session_closed" and msg.session_closed.error == -112
    assert 3 < time.time() - t0 < 15
    msgs, status, code = raw.finish(half_close=False)
    assert (msgs, status, code) == ([], grpc.StatusCode.OK, None)
    with connect(target) as b:
        assert b.exists(f"{root}/e") is None
    raises(pc.SessionExpiredError, connect, target, session_id=hello.session_id, password=hello.password)


# -- the raw stream: handshake and stream-level errors -------------------------------------------


def test_half_close_delivers_pending_responses(target):
    raw = Raw(target).connect(timeout_ms=10000)
    assert raw.recv().WhichOneof("message") == "connect"
    for xid in range(1, 51):
        raw.request(xid, exists=pb.ExistsRequest(path="/"))
    msgs, status, code = raw.finish()
    assert [m.response.xid for m in msgs] == list(range(1, 51))
    assert all(m.response.exists.exists for m in msgs)
    assert status == grpc.StatusCode.OK and code is None  # no SessionClosed: the session lives on


def test_per_request_bad_arguments(target):
    raw = Raw(target).connect(password=bytes(16))  # 16 zero bytes: accepted for a new session
    assert raw.recv().WhichOneof("message") == "connect"
    raw.request(7)  # no op
    raw.request(8, create=pb.CreateRequest(path="/ttl", mode=0, ttl=5))  # a ttl with a non-TTL mode
    raw.request(9, delete=pb.DeleteRequest(path="bad"))
    raw.request(10, ping=pb.PingRequest())
    r = [raw.recv().response for _ in range(4)]
    assert [(x.xid, x.error) for x in r] == [(7, -8), (8, -8), (9, -8), (10, 0)]
    assert r[0].WhichOneof("result") is None and r[3].WhichOneof("result") == "ping"
    raw.request(11, close_session=pb.CloseSessionRequest())
    msgs, status, code = raw.finish(half_close=False)
    assert [m.WhichOneof("message") for m in msgs] == ["response", "session_closed"]
    assert msgs[0].response.WhichOneof("result") == "close_session" and msgs[1].session_closed.error == 0
    assert status == grpc.StatusCode.OK


@pytest.mark.parametrize("first", [
    dict(request=pb.Request(xid=1, ping=pb.PingRequest())),  # not a ConnectRequest
    dict(),  # empty ClientMessage
    dict(connect=pb.ConnectRequest(password=b"not 16 zeros")),
    dict(connect=pb.ConnectRequest(timeout_ms=-1)),
    dict(connect=pb.ConnectRequest(last_zxid_seen=-1)),
], ids=["request-first", "empty", "bad-new-password", "negative-timeout", "negative-zxid"])
def test_bad_handshake(target, first):
    raw = Raw(target)
    raw.send(**first)
    msgs, status, code = raw.finish(half_close=False)
    assert (msgs, status, code) == ([], grpc.StatusCode.INVALID_ARGUMENT, -8)


@pytest.mark.parametrize("second", [dict(connect=pb.ConnectRequest()), dict()], ids=["second-connect", "empty"])
def test_bad_message_after_handshake(target, second):
    raw = Raw(target).connect()
    assert raw.recv().WhichOneof("message") == "connect"
    raw.send(**second)
    msgs, status, code = raw.finish(half_close=False)
    assert (msgs, status, code) == ([], grpc.StatusCode.INVALID_ARGUMENT, -8)


def test_message_too_large(target):
    raw = Raw(target).connect()
    assert raw.recv().WhichOneof("message") == "connect"
    raw.request(1, create=pb.CreateRequest(path="/huge", data=b"x" * (5 << 20)))
    msgs, status, code = raw.finish(half_close=False)
    assert (msgs, status, code) == ([], grpc.StatusCode.OUT_OF_RANGE, -5)


def test_handshake_timeout(target):
    raw = Raw(target)  # sends nothing
    t0 = time.time()
    msgs, status, code = raw.finish(half_close=False)
    assert (msgs, status, code) == ([], grpc.StatusCode.DEADLINE_EXCEEDED, -7)
    assert 5 < time.time() - t0 < 25
