"""TLS (paddock_client/tls.py) against live servers, as .ci/python-client starts them:
$PADDOCK_TLS_TARGET serves TLS and needs a client certificate signed by $PADDOCK_TLS_CERTS/ca.pem
(`--tls-key-store server.pem --tls-trust-store ca.pem`); $PADDOCK_TARGET is the plaintext server.

A verified client certificate gives the session the id x509:<subject> (docs/security.md); the
certificates of paddock-certs have the subject CN=<name>,O=Paddock.
"""

import socket
import time
import uuid

import pytest

import paddock_client as pc
from paddock_client import CREATOR_ALL_ACL, Id, connect, make_acl

ALICE_ID = Id("x509", "CN=alice,O=Paddock")
BOB_ID = Id("x509", "CN=bob,O=Paddock")
FAST_S = 5  # a TLS mismatch must fail at once, not after a timeout


@pytest.fixture
def as_alice(tls_target, tls_certs):
    """connect() keyword arguments for alice: the CA and her key + certificate in one PEM."""
    return dict(tls_ca=tls_certs / "ca.pem", tls_cert=tls_certs / "alice.pem")


@pytest.fixture
def troot(tls_target, as_alice):
    """A fresh node on the TLS server, deleted afterwards with its children (by alice: the tests
    give her every permission on what they make)."""
    path = f"/tls-{uuid.uuid4().hex[:12]}"
    with connect(tls_target, **as_alice) as s:
        s.create(path)
    yield path
    with connect(tls_target, **as_alice) as s:
        for child in s.get_children(path):
            s.delete(f"{path}/{child}")
        s.delete(path)


def refused(fn, *args, **kw) -> pc.TlsError:
    """The TlsError `fn` raises, quickly, with TLS named in its message."""
    start = time.monotonic()
    with pytest.raises(pc.TlsError) as e:
        fn(*args, **kw)
    assert time.monotonic() - start < FAST_S
    assert isinstance(e.value, pc.ConnectionLossError) and e.value.code == -4
    assert "TLS" in str(e.value)
    return e.value


# -- sessions with client certificates -------------------------------------------------------------


def test_session_over_tls_has_the_certificates_x509_id(tls_target, as_alice, troot):
    with connect(tls_target, **as_alice) as s:
        assert ALICE_ID in s.who_am_i()
        assert s.create(f"{troot}/n", b"over TLS") == f"{troot}/n"
        assert s.get_data(f"{troot}/n")[0] == b"over TLS"
        s.add_auth("x509", "")  # confirms the certificate's id; adds nothing
        assert s.auth_data == [("x509", "")]
        assert sorted(i for i in s.who_am_i() if i.scheme == "x509") == [ALICE_ID]
        s.create(f"{troot}/mine", acl=CREATOR_ALL_ACL)  # "auth" expands to the x509 id
        assert [a.id for a in s.get_acls(f"{troot}/mine")[0]] == [ALICE_ID]


def test_certificate_and_key_as_separate_files_or_bytes(tls_target, tls_certs):
    ca = (tls_certs / "ca.pem").read_bytes()
    crt, key = tls_certs / "bob.crt", tls_certs / "bob.key"
    for cert_opts in (dict(tls_cert=crt, tls_key=key), dict(tls_cert=crt.read_bytes(), tls_key=key.read_bytes()),
                      dict(tls_cert=str(crt), tls_key=key.read_text())):  # PEM given as text
        with connect(tls_target, tls_ca=ca, **cert_opts) as s:
            assert BOB_ID in s.who_am_i()


def test_x509_acl_lets_alice_in_and_refuses_bob(tls_target, tls_certs, as_alice, troot):
    p = f"{troot}/alice-only"
    with connect(tls_target, **as_alice) as alice:
        alice.create(p, b"secret", acl=[make_acl("x509", "CN=alice,O=Paddock", all=True)])
        with connect(tls_target, tls_ca=tls_certs / "ca.pem", tls_cert=tls_certs / "bob.pem") as bob:
            assert BOB_ID in bob.who_am_i() and ALICE_ID not in bob.who_am_i()
            with pytest.raises(pc.NoAuthError):
                bob.get_data(p)
            with pytest.raises(pc.NoAuthError):
                bob.set_data(p, b"bob was here")
            assert bob.exists(p) is not None  # exists needs no permission
        assert alice.get_data(p)[0] == b"secret"
        alice.set_data(p, b"still alice's")


def test_resume_over_tls_keeps_tls_and_the_x509_id(tls_target, as_alice, troot):
    a = connect(tls_target, **as_alice)
    e = a.create(f"{troot}/e", ephemeral=True)
    resume = a.detach()
    assert resume["tls_cert"] == as_alice["tls_cert"]  # detach() hands the TLS options on
    with connect(tls_target, **resume) as a2:
        assert a2.session_id == a.session_id
        assert ALICE_ID in a2.who_am_i()
        assert a2.exists(e) is not None


def test_x509_add_auth_needs_a_client_certificate(target):
    """Over plaintext there is no certificate: the server refuses, which ends the session."""
    s = connect(target)
    with pytest.raises(pc.AuthFailedError):
        s.add_auth("x509", "")
    assert s.state == pc.pb.KEEPER_STATE_AUTH_FAILED
    s.close()


# -- clear errors ---------------------------------------------------------------------------------


def test_no_client_certificate_is_refused_with_a_clear_error(tls_target, tls_certs):
    e = refused(connect, tls_target, tls_ca=tls_certs / "ca.pem")
    assert "client certificate" in e.message and "tls_cert" in e.message


def test_client_certificate_of_another_ca_is_refused_with_a_clear_error(tls_target, tls_certs):
    e = refused(connect, tls_target, tls_ca=tls_certs / "ca.pem", tls_cert=tls_certs / "other" / "mallory.pem")
    assert "refused the client certificate" in e.message


def test_plaintext_client_to_the_tls_server(tls_target):
    e = refused(connect, tls_target)
    assert "plaintext connection" in e.message and "serves TLS" in e.message


def test_tls_client_to_the_plaintext_server(target, as_alice):
    e = refused(connect, target, **as_alice)
    assert "serves plaintext" in e.message


def test_the_server_certificate_is_checked(tls_target, tls_certs, as_alice):
    other_ca = tls_certs / "other" / "ca.pem"
    e = refused(connect, tls_target, **{**as_alice, "tls_ca": other_ca})
    assert "not signed by the CA in tls_ca" in e.message
    # paddock-certs makes server certificates for NAME, localhost and 127.0.0.1.
    with connect(tls_target, **as_alice, tls_server_name="server") as s:
        assert ALICE_ID in s.who_am_i()
    e = refused(connect, tls_target, **as_alice, tls_server_name="wrong.example")
    assert "tls_server_name" in e.message


def test_no_server_at_all_is_not_blamed_on_tls(as_alice):
    with socket.socket() as sock:  # a port nobody listens on (closed again before connecting)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for kw in ({}, as_alice):
        with pytest.raises(pc.ConnectionLossError) as e:
            connect(f"127.0.0.1:{port}", **kw)
        assert not isinstance(e.value, pc.TlsError)


def test_unusable_pem_is_refused_before_connecting(tls_target, tls_certs):
    with pytest.raises(ValueError, match="cannot read"):
        connect(tls_target, tls_ca=tls_certs / "missing.pem")
    with pytest.raises(ValueError, match="no PRIVATE KEY"):
        connect(tls_target, tls_ca=tls_certs / "ca.pem", tls_cert=tls_certs / "alice.crt")
    with pytest.raises(ValueError, match="tls_key without tls_cert"):
        connect(tls_target, tls_ca=tls_certs / "ca.pem", tls_key=tls_certs / "alice.key")
    with pytest.raises(ValueError, match="no CERTIFICATE"):
        connect(tls_target, tls_ca=tls_certs / "alice.key")
