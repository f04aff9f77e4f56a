"""ACLs and authentication (client.proto, "Access control") against a live server ($PADDOCK_TARGET).

The server must have the super user super:test configured, as .ci/python-client starts it:
`paddock --set superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=`. The super user also cleans up
after each test, whatever ACLs the test left behind.
"""

import time
import uuid

import grpc
import pytest

import paddock_client as pc
from paddock_client import (ACL, CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, Id, Op, Permissions,
                            connect, make_acl, make_digest_acl, make_digest_acl_credential, pb)
from test_session import Raw

SUPER = ("digest", "super:test")
ALICE, BOB = "alice:alice-pw", "bob:bob-pw"
ALICE_ID = Id("digest", make_digest_acl_credential("alice", "alice-pw"))
BOB_ID = Id("digest", make_digest_acl_credential("bob", "bob-pw"))
NOBODY = [make_acl("ip", "10.0.0.0/8", all=True)]  # the tests connect from 127.0.0.1


def raises(cls, fn, *args, **kw):
    with pytest.raises(cls) as e:
        fn(*args, **kw)
    assert e.value.code == cls.code
    return e.value


def digests(s):
    """The session's digest ids, sorted (who_am_i lists ids in no particular order)."""
    return sorted(i for i in s.who_am_i() if i.scheme == "digest")


def _delete_tree(s, path):
    for child in s.get_children(path):
        _delete_tree(s, f"{path}/{child}")
    s.delete(path)


@pytest.fixture
def aroot(target):
    """A fresh open node for one test, deleted afterwards with everything under it by the super
    user (who passes every ACL check the test may have set up)."""
    path = f"/acl-{uuid.uuid4().hex[:12]}"
    with connect(target) as s:
        s.create(path)
    yield path
    with connect(target, auth_data=[SUPER]) as s:
        if s.exists(path):
            _delete_tree(s, path)


# -- the helpers ----------------------------------------------------------------------------------


def test_digest_helpers_match_zookeeper():
    # ZooKeeper's administrator's guide (superDigest) and CLI guide (addauth digest user1:12345).
    assert make_digest_acl_credential("super", "test") == "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
    assert make_digest_acl_credential("user1", "12345") == "user1:+owfoSBn/am19roBPzR1/MfCblE="
    acl = make_digest_acl("user1", "12345", read=True, admin=True)
    assert acl == ACL(Permissions.READ | Permissions.ADMIN, Id("digest", "user1:+owfoSBn/am19roBPzR1/MfCblE="))
    assert str(acl) == "digest:user1:+owfoSBn/am19roBPzR1/MfCblE=:ra" and acl.acl_list == ["READ", "ADMIN"]
    assert make_acl("ip", "10.0.0.0/8", all=True, read=False).perms == Permissions.ALL == 31
    assert [Permissions.READ, Permissions.WRITE, Permissions.CREATE, Permissions.DELETE, Permissions.ADMIN] == \
        [pb.PERMISSION_READ, pb.PERMISSION_WRITE, pb.PERMISSION_CREATE, pb.PERMISSION_DELETE, pb.PERMISSION_ADMIN]
    assert OPEN_ACL_UNSAFE == [ACL(31, Id("world", "anyone"))] and READ_ACL_UNSAFE == [ACL(1, Id("world", "anyone"))]
    assert CREATOR_ALL_ACL == [ACL(31, Id("auth", ""))]
    assert str(OPEN_ACL_UNSAFE[0]) == "world:anyone:cdrwa"


# -- digest ---------------------------------------------------------------------------------------


def test_digest_node_refused_to_others_until_add_auth(target, aroot):
    p = f"{aroot}/secret"
    with connect(target) as a, connect(target) as b:
        a.add_auth("digest", ALICE)
        a.create(p, b"v0", acl=[make_digest_acl("alice", "alice-pw", all=True)])
        a.create(f"{p}/child")
        assert a.get_data(p)[0] == b"v0"
        raises(pc.NoAuthError, b.get_data, p)
        raises(pc.NoAuthError, b.get_data, p, watch=True)  # leaves no watch
        raises(pc.NoAuthError, b.get_children, p)
        raises(pc.NoAuthError, b.set_data, p, b"x")
        raises(pc.NoAuthError, b.create, f"{p}/other")  # CREATE on the parent
        raises(pc.NoAuthError, b.delete, f"{p}/child")  # DELETE on the parent
        raises(pc.NoAuthError, b.get_acls, p)
        raises(pc.NoAuthError, b.set_acls, p, OPEN_ACL_UNSAFE)
        assert b.outstanding_watches()["data"] == []
        assert b.exists(p).version == 0  # exists needs nothing
        b.sync(p)
        b.add_auth("digest", "alice:wrong")  # a wrong password is just another id
        raises(pc.NoAuthError, b.get_data, p)
        b.add_auth("digest", ALICE)
        assert b.get_data(p)[0] == b"v0"
        assert b.set_data(p, b"v1").version == 1
        b.create(f"{p}/other")
        b.delete(f"{p}/child")
        assert b.get_children(p) == ["other"]
        assert b.get_acls(p)[0] == [ACL(31, ALICE_ID)]


def test_create_and_delete_need_permission_on_the_parent(target, aroot):
    p = f"{aroot}/p"
    with connect(target) as a, connect(target) as b:
        a.add_auth("digest", ALICE)
        a.create(p, acl=[make_acl("world", "anyone", read=True, create=True), make_digest_acl("alice", "alice-pw", all=True)])
        c = b.create(f"{p}/c", acl=NOBODY)  # CREATE on p is enough; the child's own ACL does not matter
        raises(pc.NoAuthError, b.delete, c)  # no DELETE on p
        raises(pc.NoAuthError, b.get_data, c)
        a.delete(c)  # alice has DELETE on p, none on c: an ACL is not inherited, and delete checks the parent
        # Children are not protected by their parent's ACL.
        a.create(f"{p}/open")
        a.set_acls(p, NOBODY)
        assert b.get_data(f"{p}/open")[0] == b""
        b.set_data(f"{p}/open", b"still open")


# -- the auth scheme and invalid ACLs -------------------------------------------------------------


def test_auth_scheme_needs_an_authenticated_id(target, aroot):
    with connect(target) as a:
        assert a.who_am_i() == [Id("ip", "127.0.0.1")]  # an ip id is not one `auth` expands to
        raises(pc.InvalidACLError, a.create, f"{aroot}/c", acl=CREATOR_ALL_ACL)
        raises(pc.InvalidACLError, a.set_acls, aroot, CREATOR_ALL_ACL)
        assert a.exists(f"{aroot}/c") is None
        a.add_auth("digest", ALICE)
        a.add_auth("digest", BOB)
        a.create(f"{aroot}/c", acl=CREATOR_ALL_ACL)
        acls, _ = a.get_acls(f"{aroot}/c")
        assert sorted(acls) == sorted([ACL(31, ALICE_ID), ACL(31, BOB_ID)])  # one entry per id added
    with connect(target, auth_data=[("digest", BOB)]) as b, connect(target) as c:
        assert b.get_data(f"{aroot}/c")[0] == b""
        raises(pc.NoAuthError, c.get_data, f"{aroot}/c")


@pytest.mark.parametrize("acl", [
    [],
    [ACL(31, Id("nosuchscheme", "x"))],
    [ACL(31, Id("world", "someone"))],
    [ACL(31, Id("digest", "alice"))],  # not user:hash
    [ACL(31, Id("ip", "300.1.2.3"))],
    [ACL(31, Id("ip", "10.0.0.0/33"))],
    [ACL(32, Id("world", "anyone"))],  # a bit outside ALL
], ids=["empty", "unknown-scheme", "world-not-anyone", "digest-malformed", "ip-malformed", "cidr-malformed",
        "perms-outside-all"])
def test_invalid_acl(target, aroot, acl):
    with connect(target) as s:
        raises(pc.InvalidACLError, s.create, f"{aroot}/c", acl=acl)
        raises(pc.InvalidACLError, s.multi, [Op.create(f"{aroot}/c", acl=acl)])
        raises(pc.InvalidACLError, s.set_acls, aroot, acl)
        assert s.exists(f"{aroot}/c") is None
        assert s.get_acls(aroot) == ([ACL(31, Id("world", "anyone"))], s.exists(aroot))  # unchanged


def test_create_without_acl_is_open_to_everybody(target, aroot):
    with connect(target, auth_data=[("digest", ALICE)]) as a:
        a.create(f"{aroot}/n")  # the field left unset, not an empty list
        a.multi([Op.create(f"{aroot}/m")])
        assert a.get_acls(f"{aroot}/n")[0] == a.get_acls(f"{aroot}/m")[0] == OPEN_ACL_UNSAFE


# -- get_acls / set_acls ----------------------------------------------------------------------------


def test_get_acls_hides_digests_without_admin(target, aroot):
    p = f"{aroot}/n"
    with connect(target, auth_data=[("digest", ALICE)]) as a, connect(target) as anon, \
            connect(target, auth_data=[("digest", BOB)]) as bob:
        acl = [make_digest_acl("alice", "alice-pw", all=True), make_digest_acl("bob", "bob-pw", admin=True),
               *READ_ACL_UNSAFE]
        a.create(p, acl=acl)
        redacted = [ACL(31, Id("digest", "alice:x")), ACL(16, Id("digest", "bob:x")), ACL(1, Id("world", "anyone"))]
        assert a.get_acls(p)[0] == acl  # ADMIN: shown as stored, in order
        assert anon.get_acls(p)[0] == redacted  # READ only: `user:x`
        assert bob.get_acls(p)[0] == acl  # ADMIN without READ is enough, and shows the hashes
        a.set_acls(p, [make_digest_acl("alice", "alice-pw", all=True)])
        raises(pc.NoAuthError, anon.get_acls, p)  # neither READ nor ADMIN


def test_set_acls_versions(target, aroot):
    p = f"{aroot}/n"
    with connect(target) as s, connect(target) as w:
        s.create(p, b"d")
        _, st = s.get_acls(p)
        assert st.aversion == 0
        w.get_data(p, watch=True)
        raises(pc.BadVersionError, s.set_acls, p, READ_ACL_UNSAFE, version=1)
        st1 = s.set_acls(p, [make_acl("world", "anyone", all=True)], version=0)
        assert (st1.aversion, st1.version, st1.mzxid) == (1, 0, st.mzxid)  # data untouched
        raises(pc.BadVersionError, s.set_acls, p, READ_ACL_UNSAFE, version=0)  # 0 means version 0
        st2 = s.set_acls(p, [make_acl("world", "anyone", read=True, write=True, create=True, delete=True)])
        assert st2.aversion == 2 and s.get_acls(p) == ([ACL(15, Id("world", "anyone"))], st2)
        raises(pc.NoAuthError, s.set_acls, p, OPEN_ACL_UNSAFE)  # no ADMIN any more
        raises(pc.NoNodeError, s.set_acls, f"{aroot}/missing", OPEN_ACL_UNSAFE)
        raises(pc.NoNodeError, s.get_acls, f"{aroot}/missing")
        w.sync(p)
        assert w.events.empty(), "set_acl fires no watch"
        with pytest.raises(TypeError):
            s.set_acls(p, OPEN_ACL_UNSAFE[0])  # a bare entry, not a list


# -- ip -------------------------------------------------------------------------------------------


def test_ip_acls(target, aroot):
    with connect(target) as s:
        s.create(f"{aroot}/local", b"ok", acl=[make_acl("ip", "127.0.0.1", all=True)])
        s.create(f"{aroot}/loopback", b"ok", acl=[make_acl("ip", "127.0.0.0/8", read=True)])
        s.create(f"{aroot}/remote", b"no", acl=NOBODY)
        assert s.get_data(f"{aroot}/local")[0] == b"ok"
        s.set_data(f"{aroot}/local", b"ok2")
        assert s.get_data(f"{aroot}/loopback")[0] == b"ok"
        raises(pc.NoAuthError, s.set_data, f"{aroot}/loopback", b"x")  # READ only
        raises(pc.NoAuthError, s.get_data, f"{aroot}/remote")
        raises(pc.NoAuthError, s.set_acls, f"{aroot}/remote", OPEN_ACL_UNSAFE)


# -- multi ----------------------------------------------------------------------------------------


def test_multi_checks_every_op(target, aroot):
    with connect(target, auth_data=[("digest", ALICE)]) as a, connect(target) as b:
        res = a.multi([Op.create(f"{aroot}/p", acl=[make_digest_acl("alice", "alice-pw", all=True)]),
                       Op.create(f"{aroot}/p/c", b"c", acl=READ_ACL_UNSAFE)])
        assert res == [f"{aroot}/p", f"{aroot}/p/c"]
        assert a.get_acls(f"{aroot}/p/c")[0] == READ_ACL_UNSAFE
        e = raises(pc.NoAuthError, b.multi, [Op.create(f"{aroot}/x"), Op.check(f"{aroot}/p/c"),
                                            Op.set_data(f"{aroot}/p/c", b"w")])  # READ only: no WRITE
        assert e.results == [0, 0, -102]
        e = raises(pc.NoAuthError, b.multi, [Op.check(f"{aroot}/p")])  # a check needs READ
        assert e.results == [-102]
        assert b.exists(f"{aroot}/x") is None


# -- authentication ---------------------------------------------------------------------------------


def test_who_am_i(target):
    with connect(target) as s:
        assert s.who_am_i() == [Id("ip", "127.0.0.1")]  # the stream's own id
        s.add_auth("digest", ALICE)
        s.add_auth("digest", BOB)
        s.add_auth("digest", ALICE)  # adding an id the session has changes nothing
        s.add_auth("digest", "carol:pa:ss")  # only the first ':' separates the user
        carol = Id("digest", make_digest_acl_credential("carol", "pa:ss"))
        assert sorted(s.who_am_i()) == sorted([Id("ip", "127.0.0.1"), ALICE_ID, BOB_ID, carol])
        s.add_auth("ip", b"")  # ip (like x509) only confirms what the stream proves: adds nothing
        assert sorted(s.who_am_i()) == sorted([Id("ip", "127.0.0.1"), ALICE_ID, BOB_ID, carol])
        assert s.auth_data == [("digest", ALICE), ("digest", BOB), ("digest", "carol:pa:ss"), ("ip", b"")]


@pytest.mark.parametrize("scheme,credential", [
    ("digest", "no-colon"), ("digest", b"bad-utf8:\xff"), ("nosuchscheme", "x:y"), ("x509", b""),
], ids=["digest-without-colon", "digest-not-utf8", "unknown-scheme", "x509-without-certificate"])
def test_failed_add_auth_ends_the_session(target, aroot, scheme, credential):
    s = connect(target)
    e = s.create(f"{aroot}/e", ephemeral=True)
    assert s.state == pb.KEEPER_STATE_SYNC_CONNECTED
    raises(pc.AuthFailedError, s.add_auth, scheme, credential)
    assert s.state == pb.KEEPER_STATE_AUTH_FAILED
    assert s.closed_reason.error == -115
    raises(pc.AuthFailedError, s.exists, aroot)  # later calls report it, as expiry is reported
    assert s.auth_data == []
    s.close()  # harmless
    with connect(target) as b:
        assert b.exists(e) is None  # the session is closed: its ephemerals are gone
    raises(pc.SessionExpiredError, connect, target, session_id=s.session_id, password=s.password)


def test_requests_after_a_failed_add_auth_are_not_executed(target, aroot):
    s = connect(target)
    futs = [s.add_auth_async("digest", "no-colon"), s.create_async(f"{aroot}/after")]
    raises(pc.AuthFailedError, futs[0].result, timeout=10)
    with pytest.raises(pc.PaddockError) as e:
        futs[1].result(timeout=10)
    assert e.value.code in (-115, -112)  # AUTHFAILED or SESSIONEXPIRED
    deadline = time.time() + 10
    while s.state == pb.KEEPER_STATE_SYNC_CONNECTED and time.time() < deadline:
        time.sleep(0.05)
    assert s.state == pb.KEEPER_STATE_AUTH_FAILED and s.closed_reason.error == -115
    with connect(target) as b:
        assert b.exists(f"{aroot}/after") is None


def test_failed_add_auth_on_the_wire(target):
    """AUTHFAILED, then SessionClosed{-115}, then the stream ends with status OK."""
    raw = Raw(target).connect()
    assert raw.recv().WhichOneof("message") == "connect"
    raw.request(1, add_auth=pb.AddAuthRequest(scheme="digest", auth=b"no-colon"))
    raw.request(2, exists=pb.ExistsRequest(path="/"))
    msgs, status, code = raw.finish(half_close=False)
    assert (status, code) == (grpc.StatusCode.OK, None)
    first, *rest, last = msgs
    assert (first.response.xid, first.response.error) == (1, -115)
    assert last.WhichOneof("message") == "session_closed" and last.session_closed.error == -115
    assert all(m.response.xid == 2 and m.response.error in (-115, -112) for m in rest)  # answered, not run


def test_auth_is_sent_again_on_resume(target, aroot):
    p = f"{aroot}/n"
    with connect(target) as other:
        a = connect(target, auth_data=[("digest", ALICE)])  # authenticated before connect returns
        assert a.auth_data == [("digest", ALICE)]
        a.create(p, acl=[make_digest_acl("alice", "alice-pw", all=True), make_digest_acl("bob", "bob-pw", all=True)])
        resume = a.detach()
        assert resume["auth_data"] == [("digest", ALICE)]
        with connect(target, **resume) as a2:  # re-sent: harmless, the session still has the id
            assert a2.get_data(p)[0] == b""
            assert digests(a2) == [ALICE_ID]
            resume = a2.detach()
        # What the client sends again is what the session ends up with (here one more id).
        with connect(target, **{**resume, "auth_data": resume["auth_data"] + [("digest", BOB)]}) as a3:
            assert digests(a3) == sorted([ALICE_ID, BOB_ID])
            resume = a3.detach()
        # Credentials the server refuses end the resumed session too.
        raises(pc.AuthFailedError, connect, target, **{**resume, "auth_data": [("digest", "no-colon")]})
        raises(pc.SessionExpiredError, connect, target, **{**resume, "auth_data": []})
        raises(pc.NoAuthError, other.get_data, p)


# -- the super user ---------------------------------------------------------------------------------


def test_super_user_passes_every_check(target, aroot):
    p = f"{aroot}/locked"
    with connect(target) as s:
        s.create(p, b"d", acl=NOBODY)
        raises(pc.NoAuthError, s.get_data, p)
    with connect(target) as su:
        su.add_auth(*SUPER)
        assert Id("digest", "super:D/InIHSb7yEEbrWz8b9l71RjZJU=") in su.who_am_i()
        assert su.get_data(p)[0] == b"d"
        su.set_data(p, b"e")
        su.create(f"{p}/c", acl=NOBODY)
        assert su.get_children(p) == ["c"]
        assert su.get_acls(f"{p}/c")[0] == NOBODY
        su.delete(f"{p}/c")
        su.multi([Op.check(p), Op.create(f"{p}/m"), Op.delete(f"{p}/m")])
        st = su.set_acls(p, [make_digest_acl("alice", "alice-pw", all=True)], version=0)
        assert st.aversion == 1
        assert su.get_acls(p)[0] == [ACL(31, ALICE_ID)]  # hashes shown: the super user has ADMIN
        with connect(target, auth_data=[("digest", "super:wrong")]) as not_super:  # the password counts
            raises(pc.NoAuthError, not_super.get_data, p)
            raises(pc.NoAuthError, not_super.set_acls, p, OPEN_ACL_UNSAFE)
        su.delete(p)
        assert su.exists(p) is None
