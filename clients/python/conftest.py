import os
import socket
import subprocess
import time
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


# -- a small ensemble of real servers, for failover and reconfiguration ---------------------------

# superDigest of super:test (make_digest_acl_credential("super", "test")).
SUPER_DIGEST = "super:D/InIHSb7yEEbrWz8b9l71RjZJU="


_LOWEST_PORT = 10_000
_port_cursor = None


def _free_ports(n):
    """`n` distinct free TCP ports on 127.0.0.1 for servers that must be told their ports before
    they start (members name each other's ports in zoo.cfg).

    The ports come from below the kernel's ephemeral range, never from bind(0): a port bind(0)
    handed out and that was released is an ephemeral port, which the kernel may give to any
    outgoing connection (this run's clients, other members dialling each other) before the server
    binds it, and the server then exits with "Address already in use". Below the range only
    explicit binds take ports. A cursor shared by the whole run never hands out a port twice; it
    starts at a place derived from the process id, and ports something is bound to are skipped
    (as crates/node/tests/support free_ports does)."""
    global _port_cursor
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32_768
    span = ephemeral_low - _LOWEST_PORT
    if span < 1_000:  # an unusual range: bind(0), all bound at once, then released
        socks = [socket.socket() for _ in range(n)]
        try:
            for s in socks:
                s.bind(("127.0.0.1", 0))
            return [s.getsockname()[1] for s in socks]
        finally:
            for s in socks:
                s.close()
    if _port_cursor is None:
        _port_cursor = (os.getpid() * 7_919) % span
    ports = []
    for _ in range(span):
        if len(ports) == n:
            break
        port = _LOWEST_PORT + _port_cursor % span
        _port_cursor += 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
    assert len(ports) == n, f"no {n} free ports below the ephemeral range"
    return ports


class Ensemble:
    """`n` paddock servers ($PADDOCK_BIN) on 127.0.0.1 in `tmp`, each server.N line with its gRPC
    port as client address, reconfigEnabled and the super user super:test. Stopped (SIGKILL)
    by stop_all()."""

    def __init__(self, binary, tmp, n=3):
        self.binary, self.tmp = binary, Path(tmp)
        free = _free_ports(3 * n)
        self.ports = [free[i:i + 3] for i in range(0, 3 * n, 3)]  # (grpc, quorum, election) per member
        self.procs = {}
        self.config = self.tmp / "zoo.cfg"
        lines = ["tickTime=100", "initLimit=10", "syncLimit=5", "reconfigEnabled=true",
                 f"superDigest={SUPER_DIGEST}"]
        lines += [self.line(i + 1) for i in range(n)]
        self.config.write_text("\n".join(lines) + "\n")

    def line(self, myid):
        grpc_port, quorum, election = self.ports[myid - 1]
        return f"server.{myid}=127.0.0.1:{quorum}:{election}:participant;127.0.0.1:{grpc_port}"

    def addr(self, myid):
        return f"127.0.0.1:{self.ports[myid - 1][0]}"

    @property
    def addrs(self):
        return [self.addr(i + 1) for i in range(len(self.ports))]

    def myid(self, addr):
        return self.addrs.index(addr) + 1

    def start(self, myid):
        data = self.tmp / f"data-{myid}"
        data.mkdir(exist_ok=True)
        log = open(self.tmp / f"server-{myid}.log", "ab")
        self.procs[myid] = subprocess.Popen(
            [self.binary, "--config", str(self.config), "--myid", str(myid), "--data-dir", str(data),
             "--grpc-port", str(self.ports[myid - 1][0]), "--grpc-address", "127.0.0.1",
             "--client-port", "0", "--admin-port", "0"], stdout=log, stderr=log)
        log.close()

    def kill(self, myid):
        p = self.procs.pop(myid)
        p.kill()
        p.wait(timeout=10)

    def wait_serving(self, myids=None, limit=30.0):
        """Waits until each server (all by default) opens a session."""
        from paddock_client import PaddockError, connect

        deadline = time.monotonic() + limit
        for myid in myids or range(1, len(self.ports) + 1):
            while True:
                assert self.procs[myid].poll() is None, f"server {myid} exited: {self.log(myid)}"
                try:
                    connect(self.addr(myid), connect_timeout=1.0).close()
                    break
                except PaddockError:
                    assert time.monotonic() < deadline, f"server {myid} does not serve: {self.log(myid)}"
                    time.sleep(0.1)

    def log(self, myid):
        return (self.tmp / f"server-{myid}.log").read_text(errors="replace")[-3000:]

    def stop_all(self):
        for myid in list(self.procs):
            self.kill(myid)


@pytest.fixture
def ensemble(tmp_path):
    """A fresh 3-server ensemble for one test (the `paddock` binary is $PADDOCK_BIN, as
    .ci/python-client sets it), killed afterwards."""
    binary = os.environ.get("PADDOCK_BIN")
    if not binary or not os.access(binary, os.X_OK):
        pytest.fail("set PADDOCK_BIN=the paddock binary (.ci/python-client does)")
    e = Ensemble(binary, tmp_path)
    try:
        for myid in (1, 2, 3):
            e.start(myid)
        e.wait_serving()
        yield e
    finally:
        e.stop_all()
