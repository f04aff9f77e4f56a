"""PaddockError: ZooKeeper's numeric error codes as Python exceptions."""

from ._proto import load

pb, _ = load()

_PREFIX = "ERROR_CODE_"


def code_name(code: int) -> str:
    """NO_NODE for -101, ...; UNKNOWN(-999) for a code this client's proto does not know."""
    try:
        return pb.ErrorCode.Name(code)[len(_PREFIX):]
    except ValueError:
        return f"UNKNOWN({code})"


class PaddockError(Exception):
    """An error with ZooKeeper's numeric `code` (e.g. -101), its `name` (NO_NODE) and a `message`."""

    code = None  # set on the subclasses below; an instance always has its own
    results = None  # for a failed multi: every op's code, in op order

    def __init__(self, code: int, message: str = ""):
        self.code, self.name, self.message = code, code_name(code), message
        super().__init__(f"{self.name} ({code}){': ' + message if message else ''}")

    @staticmethod
    def of(code: int, message: str = "") -> "PaddockError":
        """The most specific exception for `code`."""
        return _BY_CODE.get(code, PaddockError)(code, message)


def _sub(name: str, code: int):
    cls = type(name, (PaddockError,), {"code": code, "__doc__": f"{code_name(code)} ({code})"})
    _BY_CODE[code] = cls
    return cls


_BY_CODE = {}
ConnectionLossError = _sub("ConnectionLossError", -4)
MarshallingError = _sub("MarshallingError", -5)
UnimplementedError = _sub("UnimplementedError", -6)
OperationTimeoutError = _sub("OperationTimeoutError", -7)
BadArgumentsError = _sub("BadArgumentsError", -8)
NewConfigNoQuorumError = _sub("NewConfigNoQuorumError", -13)
ReconfigInProgressError = _sub("ReconfigInProgressError", -14)
NoNodeError = _sub("NoNodeError", -101)
NoAuthError = _sub("NoAuthError", -102)
BadVersionError = _sub("BadVersionError", -103)
NoChildrenForEphemeralsError = _sub("NoChildrenForEphemeralsError", -108)
NodeExistsError = _sub("NodeExistsError", -110)
NotEmptyError = _sub("NotEmptyError", -111)
SessionExpiredError = _sub("SessionExpiredError", -112)
InvalidACLError = _sub("InvalidACLError", -114)
AuthFailedError = _sub("AuthFailedError", -115)
SessionMovedError = _sub("SessionMovedError", -118)
NoWatcherError = _sub("NoWatcherError", -121)
ReconfigDisabledError = _sub("ReconfigDisabledError", -123)
ThrottledError = _sub("ThrottledError", -127)
