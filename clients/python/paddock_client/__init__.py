"""A small Paddock client, written from proto/paddock/v1/client.proto alone.

    from paddock_client import connect, NoNodeError
    with connect("127.0.0.1:7181") as s:
        s.create("/app", b"hello")
        data, stat = s.get_data("/app", watch=True)
"""

from .errors import (BadArgumentsError, BadVersionError, ConnectionLossError, MarshallingError,
                     NoChildrenForEphemeralsError, NodeExistsError, NoNodeError, NotEmptyError,
                     OperationTimeoutError, PaddockError, SessionExpiredError, SessionMovedError,
                     ThrottledError, code_name)
from .session import Op, Session, Stat, WatchEvent, connect, pb

__all__ = ["connect", "Session", "Op", "Stat", "WatchEvent", "PaddockError", "code_name", "pb",
           "BadArgumentsError", "BadVersionError", "ConnectionLossError", "MarshallingError",
           "NoChildrenForEphemeralsError", "NodeExistsError", "NoNodeError", "NotEmptyError",
           "OperationTimeoutError", "SessionExpiredError", "SessionMovedError", "ThrottledError"]
