"""Session.reconfig (kazoo's KazooClient.reconfig) against the live standalone server
($PADDOCK_TARGET, as .ci/python-client starts it): the arguments become the ReconfigRequest as
kazoo's comma-separated strings or lists, and a standalone server with the default settings
refuses it (ReconfigDisabledError, as ZooKeeper's; the session goes on). The success path needs an ensemble with
reconfigEnabled=true and is tested on the Rust side.
"""

import pytest

import paddock_client as pc
from paddock_client import connect
from paddock_client.session import reconfig_request

SUPER = ("digest", "super:test")


def test_arguments_as_kazoo_takes_them():
    r = reconfig_request(joining="server.4=h4:2888:3888;2181, 5=h5:2888:3888:observer;2181",
                         leaving="2,3", from_config=0x100000003)
    assert list(r.joining_servers) == ["server.4=h4:2888:3888;2181", "5=h5:2888:3888:observer;2181"]
    assert list(r.leaving_servers) == [2, 3]
    assert list(r.new_members) == []
    assert r.from_config_version == 0x100000003
    # Lists work too; leaving ids may be ints.
    r = reconfig_request(joining=["4=h4:1:2;3"], leaving=[2])
    assert (list(r.joining_servers), list(r.leaving_servers), r.from_config_version) == (["4=h4:1:2;3"], [2], -1)
    # A new membership: commas or a dynamic file's lines, its version= line and comments dropped.
    text = "# dynamic\nserver.1=a:1:2;3\nserver.2=b:1:2;3\nversion=100000000\n"
    assert list(reconfig_request(new_members=text).new_members) == ["server.1=a:1:2;3", "server.2=b:1:2;3"]
    assert list(reconfig_request(new_members="server.1=a:1:2;3,server.2=b:1:2;3").new_members) == [
        "server.1=a:1:2;3", "server.2=b:1:2;3"]
    with pytest.raises(ValueError):
        reconfig_request(leaving="2,x")


def test_reconfig_errors_are_typed():
    for code, cls in [(-13, pc.NewConfigNoQuorumError), (-14, pc.ReconfigInProgressError),
                      (-123, pc.ReconfigDisabledError)]:
        e = pc.PaddockError.of(code)
        assert isinstance(e, cls) and e.code == code


def test_a_standalone_server_has_no_ensemble_to_reconfigure(target):
    with connect(target, auth_data=[SUPER]) as s:
        with pytest.raises(pc.ReconfigDisabledError):
            s.reconfig(leaving="2")
        with pytest.raises(pc.ReconfigDisabledError):
            s.reconfig(joining="server.2=127.0.0.1:2888:3888;2181")
        data, stat = s.get_config()
        assert data == b"" and stat.data_length == 0
