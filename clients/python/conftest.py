import os
import uuid
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def target():
    t = os.environ.get("PADDOCK_TARGET")
    if not t:
        pytest.fail("set PADDOCK_TARGET=host:port of a running paddock server (.ci/python-client does)")
    return t


@pytest.fixture(scope="session")
def tls_target():
    """host:port of a paddock serving TLS that needs client certificates signed by tls_certs/ca.pem."""
    t = os.environ.get("PADDOCK_TLS_TARGET")
    if not t:
        pytest.fail("set PADDOCK_TLS_TARGET=host:port of a paddock server with TLS (.ci/python-client does)")
    return t


@pytest.fixture(scope="session")
def tls_certs():
    """The directory of `paddock-certs --server server --client alice --client bob` (ca.pem,
    alice.pem, alice.crt, alice.key, ...), with other/ holding another CA's ca.pem and mallory.pem."""
    d = os.environ.get("PADDOCK_TLS_CERTS")
    if not d or not os.path.isfile(os.path.join(d, "ca.pem")):
        pytest.fail("set PADDOCK_TLS_CERTS=the paddock-certs output dir (.ci/python-client does)")
    return Path(d)


@pytest.fixture
def root(target):
    """A fresh persistent node for one test, deleted afterwards (with its children)."""
    from paddock_client import connect, NoNodeError

    path = f"/t-{uuid.uuid4().hex[:12]}"
    with connect(target) as s:
        s.create(path)
    yield path
    with connect(target) as s:
        for child in s.get_children(path):
            try:
                s.delete(f"{path}/{child}")
            except NoNodeError:
                pass
        s.delete(path)
