"""Session: one Paddock session over the `paddock.v1.Paddock/Session` gRPC stream.

Written from proto/paddock/v1/client.proto alone. One stream carries everything in one order:
the handshake, then pipelined requests answered in request order (paired by xid), watch events
(always before any response that reflects their change) and, last, SessionClosed.

Threads: gRPC consumes a request iterator backed by a queue.Queue; a reader thread walks the
response iterator and completes one Future per request; a pinger sends PingRequest when the
session has been idle for timeout/3; an optional event thread calls the watcher callback.

Servers: a session is given a list of servers and lives on one of them at a time. When its
stream breaks it moves: a reconnect thread resumes it on the next servers (session id and
password, last zxid seen, outstanding watches; client.proto "Session resume"), as the Rust
client does; `update_server_list` and `follow_config` change the list.

Authentication: credentials added with add_auth() (or given as `auth_data`) are remembered and
sent again, before anything else, when the session is resumed on a new stream
(`connect(target, **old.detach())`), as ZooKeeper clients do after a reconnect.

TLS: `tls_ca` / `tls_cert` / `tls_key` / `tls_server_name` (see tls.py) make the channel a
grpc.secure_channel; a connection that fails in a way TLS explains raises TlsError.
"""

import collections
import queue
import random
import threading
import time
from concurrent.futures import Future, TimeoutError as FutureTimeout
from dataclasses import dataclass, fields

import grpc

from ._proto import load
from .acl import ACL, Id, acl_list_proto, acls_proto
from .errors import (AuthFailedError, BadArgumentsError, ConnectionLossError, NoWatcherError,
                     OperationTimeoutError, PaddockError, SessionExpiredError)
from .tls import TlsConfig, TlsError, hint as tls_hint

pb, pb_grpc = load()

ERROR_CODE_METADATA = "paddock-error-code"

# Which outstanding watches an event fires (and so clears), by EventType number: created / data
# changed fire data and exist watches, children changed fires child watches, deleted fires all.
# Persistent watches ("persistent", "persistent_recursive") are never cleared by events.
_FIRES = {1: ("data", "exist"), 3: ("data", "exist"), 4: ("child",), 2: ("data", "exist", "child")}

# Which tracked watch kinds removeWatches of a WatcherType number removes, and the event each
# removed kind is told (ZooKeeper's client rules): 1 CHILDREN, 2 DATA, 3 ANY, 4 PERSISTENT,
# 5 PERSISTENT_RECURSIVE.
_REMOVES = {1: ("child",), 2: ("data", "exist"), 3: ("data", "exist", "child", "persistent", "persistent_recursive"),
            4: ("persistent",), 5: ("persistent_recursive",)}
_REMOVED_EVENT = {"data": 5, "exist": 5, "child": 6, "persistent": 7, "persistent_recursive": 7}

# The KeeperState a SessionClosed error code leaves the session in (see Session.state). A session
# moved to another stream lives on: for this stream it is just a disconnect.
_CLOSED_STATE = {0: pb.KEEPER_STATE_CLOSED, -112: pb.KEEPER_STATE_EXPIRED, -115: pb.KEEPER_STATE_AUTH_FAILED,
                 -118: pb.KEEPER_STATE_DISCONNECTED}


@dataclass(frozen=True)
class Stat:
    """ZooKeeper's Stat, field for field (see the Stat message)."""

    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeral_owner: int
    data_length: int
    num_children: int
    pzxid: int

    @classmethod
    def of(cls, msg) -> "Stat":
        return cls(**{f.name: getattr(msg, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class WatchEvent:
    """A fired watch. `type` is ZooKeeper's EventType number (3 = NodeDataChanged, ...)."""

    type: int
    state: int
    path: str
    zxid: int

    @property
    def type_name(self) -> str:  # "NODE_DATA_CHANGED"
        return pb.EventType.Name(self.type).removeprefix("EVENT_TYPE_")


def _mode(ephemeral: bool, sequential: bool, container: bool, ttl) -> int:
    """CreateMode as zkCli's `create [-s] [-e] [-c] [-t ttl]` picks it. A ttl given with
    `ephemeral` is still sent (the server answers BADARGUMENTS, as ZooKeeper)."""
    if container:
        if ephemeral or sequential:
            raise ValueError("containers cannot be ephemeral or sequential")
        return pb.CREATE_MODE_CONTAINER
    if ttl is not None and not ephemeral:
        return pb.CREATE_MODE_PERSISTENT_SEQUENTIAL_WITH_TTL if sequential else pb.CREATE_MODE_PERSISTENT_WITH_TTL
    return (pb.CREATE_MODE_EPHEMERAL if ephemeral else 0) | (pb.CREATE_MODE_PERSISTENT_SEQUENTIAL if sequential else 0)


def _bytes(data) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


def _data(data) -> dict:
    """The `data` field of a create or set_data: None leaves it unset, which is ZooKeeper's null
    data (get_data then answers None), as opposed to b"" (empty data)."""
    return {} if data is None else {"data": _bytes(data)}


def _get_data(g):
    """A GetDataResponse's data: None when the node's data is null, else bytes."""
    return g.data if g.HasField("data") else None


def _create(path, data, ephemeral, sequential, acl, container=False, ttl=None):
    """A CreateRequest; `acl` None leaves the field unset (world:anyone:cdrwa); `ttl` (ms) makes
    a TTL node, `container` a container."""
    mode = _mode(ephemeral, sequential, container, ttl)
    return pb.CreateRequest(path=path, mode=mode, acl=acl_list_proto(acl), ttl=ttl or 0, **_data(data))


class Op:
    """Builders for the ops of Session.multi() (create, delete, set_data, check) and of
    Session.multi_read() (get_data, get_children); the two kinds do not mix."""

    @staticmethod
    def create(path, data=b"", ephemeral=False, sequential=False, acl=None, container=False, ttl=None):
        return pb.MultiOp(create=_create(path, data, ephemeral, sequential, acl, container, ttl))

    @staticmethod
    def delete(path, version=-1):
        return pb.MultiOp(delete=pb.DeleteRequest(path=path, version=version))

    @staticmethod
    def set_data(path, data, version=-1):
        return pb.MultiOp(set_data=pb.SetDataRequest(path=path, version=version, **_data(data)))

    @staticmethod
    def check(path, version=-1):
        return pb.MultiOp(check=pb.CheckVersionRequest(path=path, version=version))

    @staticmethod
    def get_data(path):
        """A multi_read op (no watch: a multi_read leaves none)."""
        return pb.MultiOp(get_data=pb.GetDataRequest(path=path))

    @staticmethod
    def get_children(path):
        """A multi_read op (no watch)."""
        return pb.MultiOp(get_children=pb.GetChildrenRequest(path=path))


def _op_result(r):
    """One OpResult of a successful multi: the path for a create, a Stat for a set_data, else None."""
    kind = r.WhichOneof("result")
    return r.create.path if kind == "create" else Stat.of(r.set_data.stat) if kind == "set_data" else None


def _read_result(r):
    """One ReadResult of a multi_read: (data, Stat) for get_data, the child names for get_children,
    or the op's own PaddockError (returned, not raised)."""
    kind = r.WhichOneof("result")
    if kind == "get_data":
        return _get_data(r.get_data), Stat.of(r.get_data.stat)
    if kind == "get_children":
        return list(r.get_children.children)
    if kind == "error":
        return PaddockError.of(r.error.error, "multi_read op failed")
    return PaddockError.of(-5, "multi_read: a ReadResult without a result")  # MARSHALLINGERROR


def _status_error(e: grpc.RpcError) -> PaddockError:
    """A stream that ended with a gRPC status -> the code of its `paddock-error-code` trailer, or
    CONNECTIONLOSS when there is none (a transport error)."""
    detail = f"gRPC {e.code().name}: {e.details()}"
    for key, value in e.trailing_metadata() or ():
        if key == ERROR_CODE_METADATA:
            return PaddockError.of(int(value), detail)
    return ConnectionLossError(-4, detail)


def _handshake_error(e: PaddockError, target: str, tls: TlsConfig | None) -> PaddockError:
    """The error of a stream that ended before the ConnectResponse: a TlsError when a transport
    failure looks like a TLS mismatch (gRPC reports those as a bare UNAVAILABLE)."""
    if type(e) is not ConnectionLossError or not e.message.startswith("gRPC "):
        return e
    why = tls_hint(e.message, tls)
    if why is None:
        return e
    side = "TLS" if tls else "plaintext"
    return TlsError(-4, f"likely a TLS problem: {side} connection to {target} failed: {why} [{e.message}]")


def connect(target: str = "127.0.0.1:7181", timeout_ms: int = 10000, **kwargs) -> "Session":
    """Opens a session on one of the servers of `target` ("host:port[,host:port...]" or a list)
    and does the handshake; see Session for the options."""
    return Session(target, timeout_ms, **kwargs)


def parse_servers(value) -> list[str]:
    """A connect string "host:port[,host:port...]" (blanks around entries allowed) or a list of
    "host:port" strings, as a list; ValueError for an empty list, an empty entry, or an entry
    that is not host:port with a port in 1..65535 (the Rust client's parse_connect_string)."""
    entries = value.split(",") if isinstance(value, str) else list(value)
    if not entries:
        raise ValueError("no server given")
    out = []
    for raw in entries:
        entry = str(raw).strip()
        host, sep, port = entry.rpartition(":")
        if not entry:
            raise ValueError(f"empty server in connect string {value!r}")
        if not sep or not host:
            raise ValueError(f"server {entry!r} is not host:port")
        if "/" in host or any(c.isspace() for c in host) or host.startswith("[") != host.endswith("]"):
            raise ValueError(f"bad host in {entry!r}")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"bad port in {entry!r}")
        out.append(entry)
    return out


def client_addresses(config) -> list[str]:
    """The client addresses of a /zookeeper/config text (bytes or str), in its line order: each
    `server.N` line's ";[clientHost:]clientPort" suffix, a wildcard host (0.0.0.0, ::, [::] or
    none) replaced by the line's own host. Lines without a client address, or with a port that
    is not a number, and lines that are not server lines (version=...) are skipped. The Rust
    client's follow_config reads the configuration the same way."""
    text = config.decode(errors="replace") if isinstance(config, bytes) else config
    out = []
    for line in text.splitlines():
        key, eq, value = line.strip().partition("=")
        if not eq or not key.startswith("server."):
            continue
        quorum, semi, client = value.partition(";")
        if not semi:
            continue
        # The line's host: a bracketed IPv6 address whole, else up to the first ':'.
        host = quorum[:quorum.find("]") + 1] if quorum.startswith("[") else quorum.split(":", 1)[0]
        client = client.strip()
        chost, colon, port = client.rpartition(":")
        if not colon:
            chost, port = "0.0.0.0", client
        if not port.isdigit() or int(port) > 65535:
            continue
        if chost in ("0.0.0.0", "::", "[::]", ""):
            chost = host
        if chost:
            out.append(f"{chost}:{port}")
    return out


CONFIG_NODE = "/zookeeper/config"


class _Stream:
    """One gRPC stream to one server, the ConnectRequest `hello` queued first: its channel, its
    outgoing queue (None half-closes) and the reader thread that hands what arrives to the
    session. Messages after the ConnectResponse wait until the session installs the stream (or
    abandons it), so nothing is handled before the session knows the stream is its own."""

    def __init__(self, session, addr, hello):
        self.addr = addr
        self.out: queue.Queue = queue.Queue()
        self.handshake = Future()
        self.installed = threading.Event()  # set when installed or abandoned
        self.current = False  # installed as the session's stream
        self.channel = session._channel_to(addr)
        self.out.put(pb.ClientMessage(connect=hello))
        self.call = pb_grpc.PaddockStub(self.channel).Session(self._requests())
        self.reader = threading.Thread(target=session._read, args=(self,), name="paddock-reader", daemon=True)
        self.reader.start()

    def _requests(self):
        while (msg := self.out.get()) is not None:
            yield msg

    def close(self):
        """Half-closes, then cancels if the server does not end the stream at once."""
        self.installed.set()
        self.out.put(None)
        if self.reader is not threading.current_thread():
            self.reader.join(timeout=0.5)
            if self.reader.is_alive():
                self.call.cancel()
                self.reader.join(timeout=5)
        self.channel.close()


def _split(value, separators=","):
    """A kazoo-style comma-separated string (or a list of strings) as a list, blanks dropped."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        text = value.decode() if isinstance(value, bytes) else value
        for sep in separators[1:]:
            text = text.replace(sep, separators[0])
        value = text.split(separators[0])
    return [str(v).strip() for v in value if str(v).strip()]


def reconfig_request(joining=None, leaving=None, new_members=None, from_config=-1):
    """The ReconfigRequest of Session.reconfig's arguments (see there)."""
    leaving_ids = []
    for s in _split(leaving):
        if not s.isdigit():
            raise ValueError(f"leaving: {s!r} is not a server id")
        leaving_ids.append(int(s))
    members = [m for m in _split(new_members, ",\n")
               if not (m.startswith("#") or m.split("=", 1)[0].strip() == "version")]
    return pb.ReconfigRequest(joining_servers=_split(joining), leaving_servers=leaving_ids,
                              new_members=members, from_config_version=int(from_config))


class Session:
    """A Paddock session. Every op has a blocking form (`create`) and a pipelining form
    (`create_async`) returning a concurrent.futures.Future; errors are PaddockError subclasses.

    Servers: `target` is one "host:port", a connect string "host:port,host:port,..." or a list;
    the servers are tried in a shuffled order (`seed` makes it repeatable) until one takes the
    session. `server` is the one the session is on now, `servers` the list. When the stream to
    it breaks (the server stopped, crashed, lost its quorum, or said nothing for 2/3 of the
    session timeout) the session moves by itself: `state` is DISCONNECTED, calls in flight fail
    with ConnectionLossError (their outcome is unknown), calls made meanwhile wait, and the
    client resumes the session (its id and password, `last_zxid`, the outstanding watches, then
    the credentials added) on the next servers of the list in turn until one takes it or the
    session timeout has passed since the last word from a server (then SessionExpiredError, as
    the ensemble will have expired it). `update_server_list()` replaces the list (a session on
    a server no longer listed moves at once); `follow_config=True` does that whenever
    /zookeeper/config changes, with the servers' client addresses (see client_addresses()).

    Watch events go to `watcher(event)` (called on a dedicated thread) if given, else to the
    queue `self.events`, in stream order; None is queued when the session ends (closed, expired,
    auth failed, detached or moved away).
    To resume the session on a new stream by hand: `connect(target, **old.detach())`. That also
    passes the watches still outstanding (`data_watches`, `exist_watches`, `child_watches`,
    `persistent_watches`, `persistent_recursive_watches`), so they survive a move to another
    server (client.proto, ConnectRequest; the server replays what persistent watches missed), and
    the credentials added
    so far (`auth_data`, a list of (scheme, credential)), sent again by AddAuth right after the
    handshake. `auth_data` given for a new session authenticates it before connect() returns
    (kazoo's `auth_data`). A session resumed on another stream while this one is open
    (SessionClosed SESSIONMOVED, -118) has left this object for good: it does not take it back.

    `can_be_read_only=True` (ZooKeeper's canBeReadOnly) lets a server in read-only mode (cut off
    from its quorum, `readonlymode.enabled`) take the session; `read_only` then says so, `state`
    is CONNECTED_READ_ONLY, reads work and writes raise NOTREADONLY (-119). Without it such a
    server refuses the connect (ConnectionLossError). The client does not probe for a read-write
    server while read-only: when the server rejoins its quorum it ends the stream and the
    client reconnects as above (a session created read-only, `read_only_created`, is known to
    its server only: on a read-write server it becomes a new session, `session_id` changes).

    `state` is ZooKeeper's KeeperState number: SYNC_CONNECTED while a stream is open, then
    CLOSED, EXPIRED or AUTH_FAILED when the server ended the session (`closed_reason` holds its
    SessionClosed; later calls raise the matching error), or DISCONNECTED while it moves (and
    after detach(), when the session may be resumed by hand).

    TLS: `tls_ca` (the CA certificate(s) the server's must chain to), `tls_cert` and `tls_key` (a
    client certificate and its key; one PEM holding both may be given as `tls_cert` alone) and
    `tls_server_name` (the name the server certificate must hold, when it is not the target's
    host) make the channel TLS; each is a path or the PEM itself (bytes). `tls=True` alone uses
    gRPC's default root CAs. `self.tls` keeps them (a TlsConfig, None for plaintext) and
    detach() passes them on. Unreadable or unusable PEM raises ValueError; a connection that
    fails the way a TLS mismatch or a refused certificate does raises TlsError
    (a ConnectionLossError whose message names the likely cause).
    """

    def __init__(self, target, timeout_ms=10000, *, session_id=0, password=b"", last_zxid_seen=0,
                 data_watches=(), exist_watches=(), child_watches=(), persistent_watches=(),
                 persistent_recursive_watches=(), auth_data=(),
                 watcher=None, connect_timeout=10.0, request_timeout=30.0,
                 tls=False, tls_ca=None, tls_cert=None, tls_key=None, tls_server_name=None,
                 can_be_read_only=False, seed=None, follow_config=False):
        self._rng = random.Random(seed)
        self.servers = self._shuffled(parse_servers(target))
        self._next = 0  # index into servers of the next server a reconnect tries
        self.connect_timeout, self.request_timeout = connect_timeout, request_timeout
        self.tls = TlsConfig.of(tls, tls_ca, tls_cert, tls_key, tls_server_name)  # None: plaintext
        # Read the PEM files once, now: ValueError before anything is sent.
        self._credentials = self.tls.credentials() if self.tls else None
        self.events: "queue.Queue[WatchEvent | None]" = queue.Queue()
        self.session_id, self.password, self.timeout_ms = session_id, password, timeout_ms
        self.last_zxid = last_zxid_seen  # highest zxid seen: for resumes
        self.closed_reason = None  # the SessionClosed message, once received
        self.can_be_read_only, self.read_only, self.read_only_created = can_be_read_only, False, False
        self._seen_rw = session_id != 0  # a session known to the ensemble (resumed by id)
        self._lock = threading.Lock()  # orders xids, _pending, _backlog and the stream together
        self._stream: _Stream | None = None  # the installed stream; None while moving
        self._last_stream_addr = self.servers[0]
        self._pending = collections.deque()  # (xid, Future, convert) in request order
        self._backlog = collections.deque()  # (field, msg, convert, Future) made while moving
        self._xid = 0
        self._dead = None  # once the session is over for this object: the error later calls raise
        self._end_state = None  # the KeeperState when the client ended it without a SessionClosed
        self._leaving = False  # close() or detach() began: a lost stream is not resumed
        self._stopped = threading.Event()  # the session is over for this object
        self._wake = threading.Event()  # interrupts a reconnect's backoff
        self._last_send = self._last_heard = time.monotonic()
        # Outstanding watches by kind ("data", "exist", "child"): set when a watching request is
        # answered OK, cleared by the event that fires them; updated on the reader thread only.
        self._watches = {"data": set(data_watches), "exist": set(exist_watches), "child": set(child_watches),
                         "persistent": set(persistent_watches),
                         "persistent_recursive": set(persistent_recursive_watches)}
        # Credentials (scheme, credential) the server accepted, in order: re-sent on a resume.
        self._auth: list[tuple[str, str | bytes]] = []
        self.follow_config = follow_config
        self._user_config_watch = False  # the caller (not the follower) watches /zookeeper/config
        self._config_changed = threading.Event()

        self._connect_first()
        threading.Thread(target=self._ping_loop, name="paddock-pinger", daemon=True).start()
        try:  # before any request of the caller's: FIFO makes them run authenticated
            for fut in [self.add_auth_async(scheme, cred) for scheme, cred in auth_data]:
                self._wait(fut)
        except PaddockError:
            self._teardown()
            raise
        if watcher is not None:
            threading.Thread(target=self._event_loop, args=(watcher,), name="paddock-events", daemon=True).start()
        if follow_config:
            threading.Thread(target=self._follow_loop, name="paddock-config", daemon=True).start()

    # -- servers and streams -----------------------------------------------------------------------

    @property
    def server(self) -> str:
        """The server ("host:port") the session is on (the last one while it moves)."""
        return self._last_stream_addr

    target = server  # the name of earlier versions, which had one server

    def _shuffled(self, servers):
        servers = list(servers)
        self._rng.shuffle(servers)
        return servers

    def _channel_to(self, addr):
        options = [("grpc.max_receive_message_length", -1)]
        if self._credentials is None:
            return grpc.insecure_channel(addr, options=options)
        return grpc.secure_channel(addr, self._credentials, options + self.tls.options())

    def _hello(self):
        """The ConnectRequest: a new session, or the resume of this one with every outstanding
        watch listed. A session never attached to a read-write server asks for a new one (id 0):
        the ensemble does not know it."""
        w = self.outstanding_watches()
        sid, password = (self.session_id, self.password) if self._seen_rw else (0, b"")
        return pb.ConnectRequest(
            session_id=sid, password=password, timeout_ms=self.timeout_ms, last_zxid_seen=self.last_zxid,
            data_watches=w["data"], exist_watches=w["exist"], child_watches=w["child"],
            persistent_watches=w["persistent"], persistent_recursive_watches=w["persistent_recursive"],
            read_only=self.can_be_read_only)

    def _open(self, addr, limit):
        """A stream to `addr` whose handshake is done: (stream, ConnectResponse); raises the
        handshake's PaddockError (a TlsError when TLS explains it) or OperationTimeoutError."""
        stream = _Stream(self, addr, self._hello())
        try:
            return stream, stream.handshake.result(timeout=max(limit, 0.01))
        except FutureTimeout:
            stream.close()
            raise OperationTimeoutError(-7, f"no ConnectResponse from {addr} in {limit:.1f} s") from None
        except PaddockError as e:
            stream.close()
            err = _handshake_error(e, addr, self.tls)
            if err is e:
                raise
            raise err from None

    def _connect_first(self):
        """Opens the session on the first server of the list that takes it. A refusal that no
        other server would change (an expired session, bad arguments) is raised at once; else
        the last server's error, a TlsError first (the user must fix that)."""
        errors = []
        for addr in self.servers:
            try:
                stream, hello = self._open(addr, self.connect_timeout)
            except (SessionExpiredError, BadArgumentsError):
                raise
            except PaddockError as e:
                errors.append(e)
                continue
            self._install(stream, hello)
            return
        raise next((e for e in errors if isinstance(e, TlsError)), errors[-1])

    def _install(self, stream, hello) -> bool:
        """Makes `stream` the session's: replays the accepted credentials, then sends the calls
        made while moving. False (and the stream closed) if the session ended meanwhile."""
        with self._lock:
            if self._dead is not None or self._leaving:
                stream.close()
                return False
            self.read_only = hello.read_only
            if not hello.read_only:
                self._seen_rw = True
            # Never on a read-write server: known to its read-only server only.
            self.read_only_created = not self._seen_rw
            self.session_id, self.password, self.timeout_ms = hello.session_id, hello.password, hello.timeout_ms
            self.last_zxid = max(self.last_zxid, hello.zxid)
            self._last_heard = time.monotonic()
            self._stream, self._last_stream_addr = stream, stream.addr
            stream.current = True
            for scheme, cred in self._auth:  # a refusal ends the session: SessionClosed{-115}
                self._write(stream, "add_auth", pb.AddAuthRequest(scheme=scheme, auth=_bytes(cred)),
                            lambda r: None, Future())
            while self._backlog:
                field, msg, convert, fut = self._backlog.popleft()
                if not fut.done():  # not given up by a timed-out caller
                    self._write(stream, field, msg, convert, fut)
        stream.installed.set()
        self._config_changed.set()  # the follower reads the configuration again
        return True

    def _read(self, stream):
        """The reader thread of `stream`."""
        err = ConnectionLossError(-4, "stream ended without SessionClosed: the session is still alive, resume it")
        closed = None
        try:
            for msg in stream.call:
                kind = msg.WhichOneof("message")
                if kind == "connect":
                    stream.handshake.set_result(msg.connect)
                    stream.installed.wait()
                    if not stream.current:
                        break
                    continue
                self._last_heard = time.monotonic()
                if kind == "response":
                    self._on_response(msg.response)
                elif kind == "watch_event":
                    self._on_event(msg.watch_event)
                elif kind == "session_closed":
                    closed = sc = msg.session_closed
                    err = (PaddockError.of(sc.error, sc.message) if sc.error
                           else SessionExpiredError(-112, f"session closed: {sc.message}"))
        except grpc.RpcError as e:
            err = _status_error(e)
        except Exception as e:  # a protocol violation (e.g. xid mismatch): give up on the stream
            err = e if isinstance(e, PaddockError) else PaddockError(-1, repr(e))
            stream.call.cancel()
        if not stream.handshake.done():
            stream.handshake.set_exception(err)
        if stream.current:
            self._lost(stream, err, closed)

    def _lost(self, stream, err, closed):
        """The installed `stream` ended with `err` (and `closed`, its SessionClosed if any): the
        session is over, or it moves to another server."""
        over = closed is not None or self._leaving or isinstance(err, (SessionExpiredError, AuthFailedError))
        with self._lock:
            if self._stream is not stream:
                return
            self._stream = None
            stream.current = False
            pending, self._pending = list(self._pending), collections.deque()
            if over:
                self.closed_reason = closed
                self._dead = err
                backlog, self._backlog = list(self._backlog), collections.deque()
            else:
                backlog = []
        for _, fut, _ in pending:
            fut.set_exception(PaddockError.of(err.code, err.message))
        for _, _, _, fut in backlog:
            if not fut.done():
                fut.set_exception(PaddockError.of(err.code, err.message))
        if over:
            self._finish()
        else:
            threading.Thread(target=self._reconnect, args=(stream.addr, err), name="paddock-reconnect",
                             daemon=True).start()
        threading.Thread(target=stream.close, daemon=True).start()

    def _finish(self, err=None, state=None):
        """The session is over for this object (with `err` and the KeeperState `state` if none
        was recorded)."""
        with self._lock:
            if self._dead is None:
                self._dead = err or ConnectionLossError(-4, "the session left this client")
                self._end_state = state
            backlog, self._backlog = list(self._backlog), collections.deque()
            stream, self._stream = self._stream, None
        for _, _, _, fut in backlog:
            if not fut.done():
                fut.set_exception(PaddockError.of(self._dead.code, self._dead.message))
        if stream is not None:
            stream.current = False
            stream.close()
        if not self._stopped.is_set():
            self._stopped.set()
            self._wake.set()
            self._config_changed.set()
            self.events.put(None)

    def _reconnect(self, lost_addr, why):
        """Resumes the session on the next servers in turn (backing off 10 ms .. 1 s between
        rounds) until one takes it or the session timeout has passed since the last word from
        a server (SessionExpiredError: the ensemble has expired it by then)."""
        deadline = self._last_heard + self.timeout_ms / 1000
        backoff = 0.01
        while True:
            with self._lock:
                servers = list(self.servers)
            for _ in range(len(servers)):
                if self._dead is not None or self._leaving:
                    return
                now = time.monotonic()
                if now >= deadline:
                    self._finish(SessionExpiredError(
                        -112, f"session 0x{self.session_id:x} not resumed within its timeout (lost {lost_addr}: {why})"),
                        pb.KEEPER_STATE_EXPIRED)
                    return
                with self._lock:
                    addr = self.servers[self._next % len(self.servers)]
                    self._next += 1
                try:
                    stream, hello = self._open(addr, min(self.connect_timeout, deadline - now))
                except SessionExpiredError as e:
                    self._finish(e, pb.KEEPER_STATE_EXPIRED)
                    return
                except PaddockError:
                    continue
                if self._install(stream, hello):
                    return
            self._wake.wait(max(0.0, min(backoff, deadline - time.monotonic())))
            self._wake.clear()
            backoff = min(backoff * 2, 1.0)

    def update_server_list(self, target) -> None:
        """Replaces the servers this session moves to (ZooKeeper's updateServerList): `target`
        as for connect(), shuffled the same way. The session stays on its server if the new list
        has it, else moves to one of the new servers at once (calls in flight fail with
        ConnectionLossError). Unlike ZooKeeper's client it does not move sessions to spread
        load. ValueError for a malformed list."""
        self._set_servers(self._shuffled(parse_servers(target)))

    def _set_servers(self, servers):
        with self._lock:
            if servers == self.servers:
                return
            self.servers, self._next = servers, 0
            stream = self._stream
        self._wake.set()
        if stream is not None and stream.addr not in servers:
            stream.call.cancel()  # the reader sees CANCELLED: the session moves

    def _follow_loop(self):
        """follow_config: reads /zookeeper/config with a watch and makes its client addresses
        the server list, again at every change, until the session ends."""
        applied = None
        while self._dead is None:
            self._config_changed.clear()
            try:
                data, _ = self._wait(self.get_config_async(watch=True, _internal=True))
            except PaddockError:
                self._config_changed.wait(1.0)  # moving, or the server is busy: try again
                continue
            if data != applied:
                servers = client_addresses(data)
                if servers:
                    self._set_servers(self._shuffled(servers))
                applied = data
            self._config_changed.wait()

    # -- the stream ------------------------------------------------------------------------------

    def _on_event(self, e):
        self.last_zxid = max(self.last_zxid, e.zxid)
        tell = True
        with self._lock:
            for kind in _FIRES.get(e.type, ()):
                self._watches[kind].discard(e.path)
            if self.follow_config and e.path == CONFIG_NODE:
                # The follower's watch; the caller hears it only if it set one too.
                self._config_changed.set()
                tell, self._user_config_watch = self._user_config_watch, False
        if tell:
            self.events.put(WatchEvent(e.type, e.state, e.path, e.zxid))

    def _on_response(self, r):
        self.last_zxid = max(self.last_zxid, r.zxid)
        with self._lock:
            xid, fut, convert = self._pending.popleft() if self._pending else (None, None, None)
        if xid != r.xid:
            if fut:
                fut.set_exception(PaddockError(-1, f"response xid {r.xid}, expected {xid}"))
            raise PaddockError(-1, f"protocol error: response xid {r.xid}, oldest pending request is {xid}")
        if r.error == 0:
            try:
                fut.set_result(convert(r))
            except Exception as e:  # a response that does not match its request
                fut.set_exception(e)
        else:
            err = PaddockError.of(r.error, r.error_message)
            if r.WhichOneof("result") == "multi":  # a failed multi: every op's code
                err.results = [x.error.error for x in r.multi.results]
            fut.set_exception(err)

    def _send(self, field, msg, convert) -> Future:
        """Sends a request on the session's stream, or keeps it for the next one while moving."""
        fut = Future()
        with self._lock:
            if self._dead is not None:
                raise PaddockError.of(self._dead.code, self._dead.message)
            if self._stream is None:
                self._backlog.append((field, msg, convert, fut))
            else:
                self._write(self._stream, field, msg, convert, fut)
        return fut

    def _write(self, stream, field, msg, convert, fut):
        """Puts a request on `stream` (the lock held): the next xid, answered in order."""
        self._xid += 1
        self._pending.append((self._xid, fut, convert))
        stream.out.put(pb.ClientMessage(request=pb.Request(xid=self._xid, **{field: msg})))
        self._last_send = time.monotonic()

    def _wait(self, fut: Future):
        try:
            return fut.result(timeout=self.request_timeout)
        except FutureTimeout:
            raise OperationTimeoutError(-7, f"no response in {self.request_timeout} s") from None

    def _ping_loop(self):
        """Pings when idle for timeout/3; a server silent for 2/3 of the timeout is given up
        (its stream cancelled, so the session moves), as the Rust client does."""
        while not self._stopped.wait(self.timeout_ms / 12000):
            stream, now = self._stream, time.monotonic()
            if stream is None:
                continue
            if now - self._last_heard >= self.timeout_ms * 2 / 3000:
                stream.call.cancel()
            elif now - self._last_send >= self.timeout_ms / 3000:
                try:
                    self.ping_async()
                except PaddockError:
                    return

    def _event_loop(self, watcher):
        while (event := self.events.get()) is not None:
            try:
                watcher(event)
            except Exception as e:  # a broken callback must not stop event delivery
                print(f"paddock: watcher raised {e!r}")

    def _teardown(self, err=None, state=None):
        """Ends the session for this object without a word to the server."""
        self._leaving = True
        self._finish(err, state)

    # -- the operations ----------------------------------------------------------------------------

    def create_async(self, path, data=b"", ephemeral=False, sequential=False, acl=None, container=False,
                     ttl=None) -> Future:
        req = _create(path, data, ephemeral, sequential, acl, container, ttl)
        return self._send("create", req, lambda r: r.create.path)

    def create(self, path: str, data=b"", ephemeral=False, sequential=False, acl=None, container=False,
               ttl=None) -> str:
        """Creates a node; returns its actual path (with the sequence number if sequential).
        `acl`: a list of ACL entries; None (the default) gives world:anyone:cdrwa.
        `container=True`: a container, deleted by the server once its last child is gone.
        `ttl=ms`: a TTL node (persistent, sequential or not), deleted by the server once unchanged
        for longer than `ttl` and childless; needs extendedTypesEnabled=true on the server
        (else UnimplementedError); a ttl outside 1..0xFFFFFFFFFF is BadArgumentsError."""
        return self._wait(self.create_async(path, data, ephemeral, sequential, acl, container, ttl))

    def delete_async(self, path, version=-1) -> Future:
        return self._send("delete", pb.DeleteRequest(path=path, version=version), lambda r: None)

    def delete(self, path: str, version: int = -1) -> None:
        self._wait(self.delete_async(path, version))

    def set_data_async(self, path, data, version=-1) -> Future:
        req = pb.SetDataRequest(path=path, version=version, **_data(data))
        return self._send("set_data", req, lambda r: Stat.of(r.set_data.stat))

    def set_data(self, path: str, data, version: int = -1) -> Stat:
        return self._wait(self.set_data_async(path, data, version))

    def _watching(self, kind, path, convert, internal=False):
        """`convert`, first recording a `kind` watch on `path` (called only for OK answers, on the
        reader thread, in stream order: an event after the answer clears it again). `internal`:
        the config follower's watch, whose events the caller does not see unless it set one."""
        def register(r):
            k = kind(r) if callable(kind) else kind
            with self._lock:
                self._watches[k].add(path)
                if path == CONFIG_NODE and not internal:
                    self._user_config_watch = True
            return convert(r)
        return register

    def exists_async(self, path, watch=False) -> Future:
        convert = lambda r: Stat.of(r.exists.stat) if r.exists.exists else None  # noqa: E731
        if watch:  # on a missing node exists leaves an exist watch, else a data watch
            convert = self._watching(lambda r: "data" if r.exists.exists else "exist", path, convert)
        return self._send("exists", pb.ExistsRequest(path=path, watch=watch), convert)

    def exists(self, path: str, watch: bool = False) -> Stat | None:
        return self._wait(self.exists_async(path, watch))

    def get_data_async(self, path, watch=False) -> Future:
        convert = lambda r: (_get_data(r.get_data), Stat.of(r.get_data.stat))  # noqa: E731
        if watch:
            convert = self._watching("data", path, convert)
        return self._send("get_data", pb.GetDataRequest(path=path, watch=watch), convert)

    def get_data(self, path: str, watch: bool = False) -> tuple[bytes | None, Stat]:
        return self._wait(self.get_data_async(path, watch))

    def get_config_async(self, watch=False, _internal=False) -> Future:
        convert = lambda r: (r.get_config.data, Stat.of(r.get_config.stat))  # noqa: E731
        if watch:  # a data watch on /zookeeper/config
            convert = self._watching("data", CONFIG_NODE, convert, _internal)
        return self._send("get_config", pb.GetConfigRequest(watch=watch), convert)

    def get_config(self, watch: bool = False) -> tuple[bytes, Stat]:
        """The ensemble's configuration (ZooKeeper's getConfig): /zookeeper/config's data and Stat,
        "server.N=host:quorumPort:electionPort:role[;clientHost:clientPort]" lines then
        "version=<hex>"; empty on a standalone server."""
        return self._wait(self.get_config_async(watch))

    def reconfig_async(self, joining=None, leaving=None, new_members=None, from_config=-1) -> Future:
        return self._send("reconfig", reconfig_request(joining, leaving, new_members, from_config),
                          lambda r: (r.reconfig.data, Stat.of(r.reconfig.stat)))

    def reconfig(self, joining=None, leaving=None, new_members=None, from_config: int = -1) -> tuple[bytes, Stat]:
        """Changes the ensemble's membership, as kazoo's KazooClient.reconfig (ZooKeeper's
        reconfig); returns the new configuration: /zookeeper/config's data and Stat.

        Incremental: `joining` servers to add (or change) and `leaving` server ids to remove; or a
        whole new membership in `new_members` (then neither of the others). Servers are
        "server.N=host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]"
        lines ("server." may be left out); each argument is a comma-separated string as kazoo
        takes it ("2,3"; `new_members` may also be separated by newlines, the text of a dynamic
        config file whose version= line is ignored) or a list. `from_config` is -1 (any) or the
        version in force the change is meant for (the hex "version=" of get_config, as an int).

        Needs the super user. Raises ReconfigDisabledError (reconfigEnabled=false),
        UnimplementedError (standalone server), NoAuthError, BadArgumentsError,
        BadVersionError, NewConfigNoQuorumError, ReconfigInProgressError; a leaving id that is
        not a number raises ValueError before anything is sent."""
        return self._wait(self.reconfig_async(joining, leaving, new_members, from_config))

    def get_children_async(self, path, watch=False) -> Future:
        convert = lambda r: list(r.get_children.children)  # noqa: E731
        if watch:
            convert = self._watching("child", path, convert)
        return self._send("get_children", pb.GetChildrenRequest(path=path, watch=watch), convert)

    def get_children(self, path: str, watch: bool = False) -> list[str]:
        return self._wait(self.get_children_async(path, watch))

    def sync_async(self, path="/") -> Future:
        return self._send("sync", pb.SyncRequest(path=path), lambda r: r.sync.path)

    def sync(self, path: str = "/") -> str:
        return self._wait(self.sync_async(path))

    def multi_async(self, ops) -> Future:
        return self._send("multi", pb.MultiRequest(ops=list(ops)),
                          lambda r: [_op_result(x) for x in r.multi.results])

    def multi(self, ops) -> list:
        """Applies Op.create/delete/set_data/check atomically. Returns one result per op (path,
        Stat or None). On failure raises the failing op's PaddockError with `.results`, every op's code."""
        return self._wait(self.multi_async(ops))

    def multi_read_async(self, ops) -> Future:
        return self._send("multi_read", pb.MultiReadRequest(ops=list(ops)),
                          lambda r: [_read_result(x) for x in r.multi_read.results])

    def multi_read(self, ops) -> list:
        """Runs Op.get_data / Op.get_children reads together against one state of the server's
        tree (one zxid), as ZooKeeper 3.9's multiRead. Returns one item per op, in order: (data,
        Stat), a list of child names, or, for an op that failed on its own, its PaddockError
        instance (NoNodeError, NoAuthError, BadArgumentsError), RETURNED rather than raised: the
        other ops are still answered. Leaves no watches. A write op among `ops` raises
        BadArgumentsError for the whole call."""
        return self._wait(self.multi_read_async(ops))

    def get_acls_async(self, path) -> Future:
        return self._send("get_acl", pb.GetAclRequest(path=path),
                          lambda r: ([ACL.of(a) for a in r.get_acl.acl], Stat.of(r.get_acl.stat)))

    def get_acls(self, path: str) -> tuple[list[ACL], Stat]:
        """The node's ACL and Stat (needs READ or ADMIN; without ADMIN digest ids read `user:x`)."""
        return self._wait(self.get_acls_async(path))

    def set_acls_async(self, path, acls, version=-1) -> Future:
        req = pb.SetAclRequest(path=path, acl=acls_proto(acls), version=version)
        return self._send("set_acl", req, lambda r: Stat.of(r.set_acl.stat))

    def set_acls(self, path: str, acls, version: int = -1) -> Stat:
        """Replaces the node's ACL (needs ADMIN). `version` is checked against Stat.aversion."""
        return self._wait(self.set_acls_async(path, acls, version))

    def add_auth_async(self, scheme, credential) -> Future:
        def remember(r):
            with self._lock:
                if (scheme, credential) not in self._auth:
                    self._auth.append((scheme, credential))
        return self._send("add_auth", pb.AddAuthRequest(scheme=scheme, auth=_bytes(credential)), remember)

    def add_auth(self, scheme: str, credential: str | bytes) -> None:
        """Authenticates the session, e.g. add_auth("digest", "alice:secret"). If the server refuses
        the credentials (unknown scheme, malformed credentials) it raises AuthFailedError and the
        session is over: the server ends it, and by then `state` is AUTH_FAILED."""
        try:
            self._wait(self.add_auth_async(scheme, credential))
        except AuthFailedError:
            self._stopped.wait(self.request_timeout)  # SessionClosed{-115} follows: report it
            raise

    def who_am_i_async(self) -> Future:
        return self._send("who_am_i", pb.WhoAmIRequest(), lambda r: [Id.of(i) for i in r.who_am_i.ids])

    def who_am_i(self) -> list[Id]:
        """Every id the session is authenticated as: the stream's (ip:...) and those added."""
        return self._wait(self.who_am_i_async())

    def get_ephemerals_async(self, prefix="/") -> Future:
        return self._send("get_ephemerals", pb.GetEphemeralsRequest(prefix_path=prefix),
                          lambda r: list(r.get_ephemerals.paths))

    def get_ephemerals(self, prefix: str = "/") -> list[str]:
        """This session's own ephemeral nodes whose path starts with `prefix` (a plain string
        prefix: "/a" also matches "/ab"), as full paths, sorted (ZooKeeper 3.9's getEphemerals).
        Needs no permission; an invalid path raises BadArgumentsError."""
        return self._wait(self.get_ephemerals_async(prefix))

    def get_all_children_number_async(self, path) -> Future:
        return self._send("get_all_children_number", pb.GetAllChildrenNumberRequest(path=path),
                          lambda r: r.get_all_children_number.number)

    def get_all_children_number(self, path: str) -> int:
        """How many nodes lie below `path` at any depth, `path` not counted (ZooKeeper 3.9's
        getAllChildrenNumber). Needs READ on `path`; NoNodeError if it does not exist."""
        return self._wait(self.get_all_children_number_async(path))

    def add_watch_async(self, path, mode) -> Future:
        kind = "persistent" if mode == pb.ADD_WATCH_MODE_PERSISTENT else "persistent_recursive"
        return self._send("add_watch", pb.AddWatchRequest(path=path, mode=mode),
                          self._watching(kind, path, lambda r: None))

    def add_watch(self, path: str, mode: int = pb.ADD_WATCH_MODE_PERSISTENT_RECURSIVE) -> None:
        """Sets a watch that stays until removed (ZooKeeper 3.6's addWatch): mode
        pb.ADD_WATCH_MODE_PERSISTENT (every event of `path`) or ..._PERSISTENT_RECURSIVE (created /
        deleted / data-changed of `path` and every node below it). Its events come like any
        other (`events` / `watcher`), every time. The node need not exist."""
        self._wait(self.add_watch_async(path, mode))

    def remove_watches(self, path: str, watcher_type: int = pb.WATCHER_TYPE_ANY, local: bool = False) -> None:
        """Removes this session's watches of `watcher_type` (pb.WATCHER_TYPE_CHILDREN, _DATA, _ANY,
        _PERSISTENT, _PERSISTENT_RECURSIVE) on `path` (ZooKeeper's removeAllWatches): on the
        server (unless `local`, which removes them here even without a connection, asking the
        server only if the stream is up), then here, queuing one DATA_WATCH_REMOVED /
        CHILD_WATCH_REMOVED / PERSISTENT_WATCH_REMOVED event per kind removed, as ZooKeeper's
        client does. NoWatcherError if there is no such watch."""
        kinds = _REMOVES.get(watcher_type)
        if kinds is None:
            raise PaddockError.of(-8, f"watcher type {watcher_type} is not 1..5")
        with self._lock:
            held = [k for k in kinds if path in self._watches[k]]
        if not held:
            raise NoWatcherError(-121, f"{path} (type: {watcher_type})")
        req = pb.RemoveWatchesRequest(path=path, type=watcher_type)
        if local:
            if self._dead is None:
                try:
                    self._send("remove_watches", req, lambda r: None)
                except PaddockError:
                    pass
        else:
            self._wait(self._send("remove_watches", req, lambda r: None))
        told = set()
        with self._lock:
            for k in held:
                self._watches[k].discard(path)
        for k in held:
            t = _REMOVED_EVENT[k]
            if t not in told:
                told.add(t)
                self.events.put(WatchEvent(t, pb.KEEPER_STATE_SYNC_CONNECTED, path, self.last_zxid))

    def check_watches(self, path: str, watcher_type: int = pb.WATCHER_TYPE_ANY) -> None:
        """Returns if the server holds a watch of `watcher_type` on `path` for this session
        (ZooKeeper's checkWatches), else raises NoWatcherError. Changes nothing."""
        self._wait(self._send("check_watches", pb.CheckWatchesRequest(path=path, type=watcher_type),
                              lambda r: None))

    @property
    def auth_data(self) -> list[tuple[str, str | bytes]]:
        """The credentials the server accepted so far, in order (re-sent on a resume)."""
        with self._lock:
            return list(self._auth)

    @property
    def state(self) -> int:
        """ZooKeeper's KeeperState number (pb.KEEPER_STATE_...); see the class doc."""
        if not self._stopped.is_set():
            if self._stream is None:
                return pb.KEEPER_STATE_DISCONNECTED  # moving to another server
            return pb.KEEPER_STATE_CONNECTED_READ_ONLY if self.read_only else pb.KEEPER_STATE_SYNC_CONNECTED
        if self.closed_reason is None:
            return self._end_state or pb.KEEPER_STATE_DISCONNECTED
        return _CLOSED_STATE.get(self.closed_reason.error, pb.KEEPER_STATE_EXPIRED)

    def ping_async(self) -> Future:
        return self._send("ping", pb.PingRequest(), lambda r: None)

    def ping(self) -> None:
        self._wait(self.ping_async())

    def close(self) -> None:
        """Ends the session: its ephemeral nodes are deleted. Idempotent. While the session is
        moving there is no server to tell: it then expires after its timeout."""
        with self._lock:
            self._leaving = True
            stream = self._stream if self._dead is None else None
        try:
            if stream is not None:
                self._wait(self._send("close_session", pb.CloseSessionRequest(), lambda r: None))
                stream.reader.join(timeout=self.request_timeout)  # SessionClosed, then end of stream
        finally:
            self._teardown(SessionExpiredError(-112, "the session was closed by this client"), pb.KEEPER_STATE_CLOSED)

    def detach(self) -> dict:
        """Ends this stream WITHOUT closing the session; returns the keyword arguments of
        connect() that resume it (before it expires) on a new stream. The session does not
        move by itself after this."""
        with self._lock:
            self._leaving = True
            stream = self._stream
        if stream is not None:
            stream.out.put(None)  # half-close: the server still answers what was sent, then ends
            stream.reader.join(timeout=self.request_timeout)
        self._teardown()
        w = self.outstanding_watches()
        return dict(session_id=self.session_id, password=self.password,
                    timeout_ms=self.timeout_ms, last_zxid_seen=self.last_zxid,
                    data_watches=w["data"], exist_watches=w["exist"], child_watches=w["child"],
                    persistent_watches=w["persistent"], persistent_recursive_watches=w["persistent_recursive"],
                    auth_data=self.auth_data, can_be_read_only=self.can_be_read_only,
                    **(self.tls.kwargs() if self.tls else {}))

    def outstanding_watches(self) -> dict:
        """The watches set and not fired (or removed) yet: {"data": [paths], "exist": [...],
        "child": [...], "persistent": [...], "persistent_recursive": [...]}."""
        with self._lock:
            return {k: sorted(v) for k, v in self._watches.items()}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
