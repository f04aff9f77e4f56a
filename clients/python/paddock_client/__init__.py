"""A small Paddock client, written from proto/paddock/v1/client.proto alone.

    from paddock_client import connect, NoNodeError
    with connect("127.0.0.1:7181,127.0.0.1:7182") as s:   # moves to the other server if one goes
        s.create("/app", b"hello")
        data, stat = s.get_data("/app", watch=True)
    with connect("127.0.0.1:7182", tls_ca="ca.pem", tls_cert="alice.pem") as s:   # TLS, x509:CN=alice,...
        s.who_am_i()
"""

from .acl import (ACL, ANYONE_ID_UNSAFE, AUTH_IDS, CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, Id,
                  Permissions, make_acl, make_digest_acl, make_digest_acl_credential)
from .errors import (AuthFailedError, BadArgumentsError, BadVersionError, ConnectionLossError,
                     InvalidACLError, MarshallingError, NewConfigNoQuorumError, NoAuthError,
                     NoChildrenForEphemeralsError, NodeExistsError, NoNodeError, NotEmptyError, NoWatcherError,
                     OperationTimeoutError, PaddockError, ReconfigDisabledError, ReconfigInProgressError,
                     SessionExpiredError, SessionMovedError, ThrottledError, UnimplementedError,
                     code_name)
from .session import Op, Session, Stat, WatchEvent, client_addresses, connect, parse_servers, pb
from .tls import TlsConfig, TlsError

__all__ = ["connect", "parse_servers", "client_addresses", "Session", "Op", "Stat", "WatchEvent", "PaddockError", "code_name", "pb",
           "ACL", "Id", "Permissions", "ANYONE_ID_UNSAFE", "AUTH_IDS", "OPEN_ACL_UNSAFE",
           "READ_ACL_UNSAFE", "CREATOR_ALL_ACL", "make_acl", "make_digest_acl", "make_digest_acl_credential",
           "AuthFailedError", "BadArgumentsError", "BadVersionError", "ConnectionLossError",
           "InvalidACLError", "MarshallingError", "NoAuthError", "NoChildrenForEphemeralsError",
           "NodeExistsError", "NoNodeError", "NotEmptyError", "NoWatcherError", "OperationTimeoutError",
           "SessionExpiredError", "SessionMovedError", "ThrottledError", "UnimplementedError",
           "NewConfigNoQuorumError", "ReconfigInProgressError", "ReconfigDisabledError",
           "TlsConfig", "TlsError"]
