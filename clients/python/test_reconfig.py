"""Session.reconfig (kazoo's KazooClient.reconfig) against the live standalone server
($PADDOCK_TARGET, as .ci/python-client starts it): the arguments become the ReconfigRequest as
kazoo's comma-separated strings or lists, and a standalone server with the default settings
refuses it (ReconfigDisabledError, as ZooKeeper's; the session goes on). On a 3-server ensemble
with reconfigEnabled (the `ensemble` fixture): a reconfiguration from Python, and a session with
follow_config=True that takes its server list from /zookeeper/config and leaves a removed server.
"""

import queue
import time

import pytest

import paddock_client as pc
from paddock_client import connect
from paddock_client import client_addresses
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


def test_client_addresses_of_a_configuration():
    config = (b"server.1=10.0.0.1:2888:3888:participant;0.0.0.0:7181\n"
              b"server.2=10.0.0.2:2888:3888:participant;10.9.9.9:7182\n"
              b"server.3=10.0.0.3:2888:3888:observer\n"
              b"server.4=10.0.0.4:2888:3888:participant;7184\n"
              b"server.5=10.0.0.5:2888:3888:participant;host:notaport\n"
              b"server.6=[fe80::1]:2888:3888:participant;[::]:7186\n"
              b"version=100000004")
    assert client_addresses(config) == ["10.0.0.1:7181", "10.9.9.9:7182", "10.0.0.4:7184", "[fe80::1]:7186"]
    assert client_addresses("") == [] and client_addresses("version=0\n") == []


def test_follow_config_leaves_a_removed_server(ensemble):
    a1, a2, a3 = ensemble.addrs
    with connect(a3, follow_config=True, seed=3) as s, connect(a1, auth_data=[SUPER]) as su:
        # The list comes from /zookeeper/config: every member, though only a3 was given.
        deadline = time.monotonic() + 10
        while sorted(s.servers) != sorted(ensemble.addrs):
            assert time.monotonic() < deadline, f"the list stayed {s.servers}"
            time.sleep(0.05)
        assert s.server == a3
        sid = s.session_id
        e = s.create("/e", ephemeral=True)
        data, _ = su.reconfig(leaving="3")
        assert client_addresses(data) == [a1, a2]
        # The new list; a3 is no longer in it, so the session moves to a listed server.
        deadline = time.monotonic() + 10
        while sorted(s.servers) != sorted([a1, a2]) or s.server == a3 or s.state != pc.pb.KEEPER_STATE_SYNC_CONNECTED:
            assert time.monotonic() < deadline, f"on {s.server} with {s.servers}"
            time.sleep(0.05)
        assert s.session_id == sid and s.exists(e).ephemeral_owner == sid
        # The follower's watch is its own: the caller saw no event of /zookeeper/config.
        with pytest.raises(queue.Empty):
            s.events.get(timeout=0.2)
        # One the caller sets itself is delivered as usual (and the list follows again).
        assert s.get_config(watch=True)[0] == su.get_config()[0]
        su.reconfig(joining=ensemble.line(3))
        ev = s.events.get(timeout=10)
        assert (ev.type_name, ev.path) == ("NODE_DATA_CHANGED", "/zookeeper/config")
        deadline = time.monotonic() + 10
        while sorted(s.servers) != sorted(ensemble.addrs):
            assert time.monotonic() < deadline, f"the list stayed {s.servers}"
            time.sleep(0.05)
