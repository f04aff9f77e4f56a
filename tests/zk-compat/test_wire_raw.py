"""ZooKeeper's wire protocol byte for byte, for the requests where a client library hides what the
server answered: a minimal jute client (length-prefixed frames, ReplyHeader{xid, zxid, err}).

The expected answers were taken from Apache ZooKeeper 3.8.0 (Debian's zookeeper package,
ZooKeeperServerMain) with the same requests.
"""
import socket
import struct
import uuid

import pytest

from conftest import WAIT, first_host, gap

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


@gap("addWatch (op 106) is answered with an empty body; ZooKeeper sends ErrorResponse{err=0} "
     "(crates/wire/src/records.rs answer(): Response::AddWatch writes nothing)")
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


@gap("after AUTHFAILED the connection stays open and every later request is answered "
     "AUTHFAILED; ZooKeeper closes the connection")
def test_auth_failure_closes_the_connection(conn):
    # An auth packet (xid -4) with an unknown scheme: AUTHFAILED (-115), then ZooKeeper closes
    # the connection; nothing more is answered on it.
    assert conn.call(100, i32(0) + s("nosuchscheme") + buf(b"x"), xid=-4) == (-115, b"")
    assert conn.call(3, s("/") + b"\0") is None


@gap("/zookeeper/config has aclVersion 0; ZooKeeper's has -1")
def test_config_node_stat(conn):
    # /zookeeper/config is made with aclVersion -1 (cli_mt prints aversion=ffffffff).
    err, body = conn.call(4, s("/zookeeper/config") + b"\0")
    assert err == 0
    n = struct.unpack(">i", body[:4])[0]
    stat = body[4 + max(n, 0):]
    czxid, mzxid, ctime, mtime, version, cversion, aversion = struct.unpack(">qqqqiii", stat[:44])
    assert aversion == -1


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
