import os
import uuid

import pytest


@pytest.fixture(scope="session")
def target():
    t = os.environ.get("PADDOCK_TARGET")
    if not t:
        pytest.fail("set PADDOCK_TARGET=host:port of a running paddock server (.ci/python-client does)")
    return t


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
