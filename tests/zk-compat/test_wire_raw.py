"""ZooKeeper's wire protocol byte for byte, for the requests where a client library hides what the
server answered: a minimal jute client (length-prefixed frames, ReplyHeader{xid, zxid, err}).

The expected answers were taken from Apache ZooKeeper 3.8.0 (Debian's zookeeper package,
ZooKeeperServerMain) with the same requests.
"""
import socket
import struct
import time
import uuid

import pytest

from conftest import MODE, WAIT, first_host, gap

OPEN_ACL = struct.pack(">ii", 1, 31) + b"".join(struct.pack(">i", len(x)) + x for x in (b"world", b"anyone"))


def s(x):
    x = x.encode()
    return struct.pack(">i", len(x)) + x


def buf(x):
    return struct.pack(">i", len(x)) + x


def i32(x):
    return struct.pack(">i", x)


class Conn:
    def __init__(self):
        host, port = first_host().split(":")
        self.sock = socket.create_connection((host, int(port)), WAIT)
        self.sock.settimeout(WAIT)
        self.send(struct.pack(">iqiqi", 0, 0, 10000, 0, 16) + b"\0" * 16 + b"\0")
        resp = self.recv()
        assert resp is not None and len(resp) >= 36
        self.xid = 0

    def send(self, payload):
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def recv(self):
        def exact(n):
            out = b""
            while len(out) < n:
                chunk = self.sock.recv(n - len(out))
                if not chunk:
                    return None
                out += chunk
            return out

        head = exact(4)
        if head is None:
            return None
        return exact(struct.unpack(">i", head)[0])

    def call(self, op, body, xid=None):
        """(err, body) of the reply to this request (notifications skipped); None if closed."""
        if xid is None:
            self.xid += 1
            xid = self.xid
        self.send(struct.pack(">ii", xid, op) + body)
        while True:
            r = self.recv()
            if r is None:
                return None
            rxid, _zxid, err = struct.unpack(">iqi", r[:16])
            if rxid == xid:
                return err, r[16:]

    def close(self):
        self.sock.close()


@pytest.fixture
def conn():
    c = Conn()
    yield c
    c.close()


@pytest.fixture
def path(conn):
    p = "/raw-" + uuid.uuid4().hex[:10]
    assert conn.call(1, s(p) + buf(b"d") + OPEN_ACL + i32(0))[0] == 0
    return p


def test_create_and_get_data(conn, path):
    err, body = conn.call(4, s(path) + b"\0")
    assert err == 0 and body[:5] == buf(b"d")[:4] + b"d" and len(body) == 5 + 68


def test_add_watch_answers_an_error_response_record(conn, path):
    # ZooKeeper answers addWatch (106) with an ErrorResponse record {int err} after the header:
    # body 00000000. The Java client reads that record; without it, it drops the connection.
    err, body = conn.call(106, s(path) + i32(1))
    assert err == 0
    assert body == b"\0\0\0\0"


@gap("checkWatches(Children)/removeWatches(Data) answer NOWATCHER (-121) for a path with a "
     "persistent recursive watch; ZooKeeper answers OK")
def test_check_and_remove_watches_see_persistent_watches(conn, path):
    # A persistent recursive watch counts as both a data and a child watch in ZooKeeper's
    # watch managers: checkWatches(Children=1) and removeWatches(Data=2) find it.
    assert conn.call(106, s(path) + i32(1))[0] == 0
    assert conn.call(17, s(path) + i32(1)) == (0, b"")
    assert conn.call(18, s(path) + i32(2)) == (0, b"")


def test_check_watches_without_a_watch_is_nowatcher(conn, path):
    assert conn.call(17, s(path) + i32(3)) == (-121, b"")
    assert conn.call(18, s(path) + i32(3)) == (-121, b"")


def test_auth_failure_closes_the_connection(conn):
    # An auth packet (xid -4) with an unknown scheme: AUTHFAILED (-115), then ZooKeeper closes
    # the connection; nothing more is answered on it.
    assert conn.call(100, i32(0) + s("nosuchscheme") + buf(b"x"), xid=-4) == (-115, b"")
    assert conn.call(3, s("/") + b"\0") is None


@gap("a failed authentication ends the session at once (its ephemerals are deleted; "
     "crates/processor/src/submit.rs submits CloseSession); ZooKeeper 3.8 only closes the "
     "connection, the session lives until it times out")
def test_auth_failure_does_not_end_the_session(conn):
    p = "/raw-auth-" + uuid.uuid4().hex[:8]
    assert conn.call(1, s(p) + buf(b"") + OPEN_ACL + i32(1)) == (0, s(p))  # ephemeral
    assert conn.call(100, i32(0) + s("nosuchscheme") + buf(b"x"), xid=-4) == (-115, b"")
    other = Conn()
    try:
        time.sleep(0.5)
        err, _ = other.call(3, s(p) + b"\0")
        assert err == 0, "the ephemeral of the session went with the failed auth"
    finally:
        other.close()


@gap("/zookeeper/config is world:anyone:cdrwa with aclVersion 0 and setData on it answers "
     "BADARGUMENTS; ZooKeeper's is world:anyone:r (read only) with aclVersion -1, so setData is NOAUTH")
def test_config_node_acl(conn):
    err, body = conn.call(6, s("/zookeeper/config"))
    assert err == 0
    assert body[:4 + 4 + 4 + 5 + 4 + 6] == i32(1) + i32(1) + s("world") + s("anyone")  # one ACL, READ
    stat = body[4 + 4 + 4 + 5 + 4 + 6:]
    _, _, _, _, version, cversion, aversion = struct.unpack(">qqqqiii", stat[:44])
    assert aversion == -1
    assert conn.call(5, s("/zookeeper/config") + buf(b"x") + i32(-1)) == (-102, b"")


def test_who_am_i_after_digest_auth(conn):
    assert conn.call(100, i32(0) + s("digest") + buf(b"alice:secret"), xid=-4) == (0, b"")
    err, body = conn.call(107, b"")
    assert err == 0
    # A ClientInfo{authScheme, user} vector, in no particular order.
    n, rest, ids = struct.unpack(">i", body[:4])[0], body[4:], set()
    for _ in range(n):
        pair = []
        for _ in range(2):
            ln = struct.unpack(">i", rest[:4])[0]
            pair.append(rest[4:4 + ln].decode())
            rest = rest[4 + ln:]
        ids.add(tuple(pair))
    assert ids == {("ip", "127.0.0.1"), ("digest", "alice")}


def test_frame_over_jute_maxbuffer_closes_the_connection(conn, path):
    # setData with 1048555 bytes of data: a frame of 1048587 bytes.
    assert conn.call(5, s(path) + buf(b"x" * (1048575 - 20)) + i32(-1)) is None


def test_data_just_under_jute_maxbuffer(conn, path):
    err, body = conn.call(5, s(path) + buf(b"x" * (1048575 - 60)) + i32(-1))
    assert err == 0 and len(body) == 68


def test_container_flags_on_plain_create(conn, path):
    err, body = conn.call(15, s(path + "/c") + buf(b"") + OPEN_ACL + i32(4))
    assert err == 0 and body[:4 + len(path) + 2] == s(path + "/c")


def test_unknown_watch_mode_is_marshalling_error(conn, path):
    assert conn.call(106, s(path) + i32(7)) == (-5, b"")
    assert conn.call(18, s(path) + i32(9)) == (-5, b"")


@gap("creating under /zookeeper is refused with BADARGUMENTS; ZooKeeper 3.8 allows it (only "
     "/zookeeper itself and its quota/config nodes are special)")
def test_create_under_zookeeper_node(conn):
    p = "/zookeeper/raw-" + uuid.uuid4().hex[:8]
    err, body = conn.call(1, s(p) + buf(b"") + OPEN_ACL + i32(0))
    assert (err, body) == (0, s(p))
    assert conn.call(2, s(p) + i32(-1)) == (0, b"")


@gap("digest auth data without ':' is AUTHFAILED; ZooKeeper accepts it (the whole string is the "
     "user name, the digest of an empty password)")
def test_digest_auth_without_colon(conn):
    assert conn.call(100, i32(0) + s("digest") + buf(b"nocolon"), xid=-4) == (0, b"")


@gap("an ACL with perms outside cdrwa (e.g. 99) is INVALIDACL; ZooKeeper stores it as given")
def test_acl_with_unknown_perm_bits(conn, path):
    err, body = conn.call(1, s(path + "/p") + buf(b"") + i32(1) + i32(99) + s("world") + s("anyone") + i32(0))
    assert (err, body) == (0, s(path + "/p"))


def test_multi_failure_results(conn, path):
    # multi: create (ok, rolled back) + check with a wrong version: per-op ErrorResults
    # 0 (rolled back) then BADVERSION.
    ops = (i32(1) + b"\0" + i32(-1) + s(path + "/m") + buf(b"") + OPEN_ACL + i32(0)
           + i32(13) + b"\0" + i32(-1) + s(path) + i32(9)
           + i32(-1) + b"\1" + i32(-1))
    err, body = conn.call(14, ops)
    assert err == 0  # ZooKeeper puts the failure in the results, not in the header
    assert body == (i32(-1) + b"\0" + i32(0) + i32(0)
                    + i32(-1) + b"\0" + i32(-103) + i32(-103)
                    + i32(-1) + b"\1" + i32(-1))


@pytest.mark.parametrize("asked", [1, 10 ** 7])
def test_session_timeout_is_clamped(asked):
    # minSessionTimeout = 2 ticks, maxSessionTimeout = 20 ticks unless set: standalone runs with
    # the default tickTime=2000, the ensemble with tickTime=100 and maxSessionTimeout=30000.
    want = {"standalone": {1: 4000, 10 ** 7: 40000}, "ensemble": {1: 200, 10 ** 7: 30000}}[MODE][asked]
    host, port = first_host().split(":")
    sock = socket.create_connection((host, int(port)), WAIT)
    try:
        payload = struct.pack(">iqiqi", 0, 0, asked, 0, 16) + b"\0" * 16 + b"\0"
        sock.sendall(struct.pack(">i", len(payload)) + payload)
        sock.settimeout(WAIT)
        data = b""
        while len(data) < 4 + 36:
            chunk = sock.recv(4096)
            assert chunk, "connection closed during the handshake"
            data += chunk
        assert struct.unpack(">ii", data[4:12]) == (0, want)
    finally:
        sock.close()
