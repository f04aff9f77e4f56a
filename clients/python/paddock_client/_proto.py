"""Generates the gRPC stubs from proto/paddock/v1/client.proto and imports them.

Nothing generated is committed: the stubs are written with grpcio-tools into
clients/python/build/gen (git-ignored), regenerated whenever the .proto is newer.
Override the locations with PADDOCK_PROTO_DIR / PADDOCK_GEN_DIR.
Run `python paddock_client/_proto.py` to (re)generate explicitly (needs only grpcio-tools).
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

_HERE = Path(__file__).resolve().parent.parent  # clients/python
PROTO_DIR = Path(os.environ.get("PADDOCK_PROTO_DIR", _HERE.parent.parent / "proto"))
GEN_DIR = Path(os.environ.get("PADDOCK_GEN_DIR", _HERE / "build" / "gen"))
PROTO = "paddock/v1/client.proto"
_OUTPUTS = ("client_pb2.py", "client_pb2_grpc.py", "client_pb2.pyi")


def generate(force: bool = False) -> Path:
    """Runs protoc (from grpcio-tools) unless the stubs are already newer than the .proto."""
    src = PROTO_DIR / PROTO
    if not src.is_file():
        raise FileNotFoundError(f"{src} not found (set PADDOCK_PROTO_DIR)")
    out = GEN_DIR / "paddock" / "v1"
    first = out / _OUTPUTS[0]
    if not force and first.exists() and first.stat().st_mtime >= src.stat().st_mtime:
        return GEN_DIR
    from grpc_tools import protoc  # only needed to generate

    GEN_DIR.mkdir(parents=True, exist_ok=True)
    # Generate into a scratch dir, then move the files in: concurrent importers never see half a file.
    with tempfile.TemporaryDirectory(dir=GEN_DIR) as tmp:
        rc = protoc.main(["grpc_tools.protoc", f"-I{PROTO_DIR}", f"--python_out={tmp}",
                          f"--pyi_out={tmp}", f"--grpc_python_out={tmp}", str(src)])
        if rc != 0:
            raise RuntimeError(f"protoc failed on {src} (exit {rc})")
        out.mkdir(parents=True, exist_ok=True)
        for name in _OUTPUTS:
            shutil.move(os.path.join(tmp, "paddock", "v1", name), out / (name + ".tmp"))
            os.replace(out / (name + ".tmp"), out / name)
    return GEN_DIR


def load():
    """Returns the generated modules (client_pb2, client_pb2_grpc), generating them if needed."""
    gen = str(generate())
    if gen not in sys.path:
        sys.path.insert(0, gen)
    from paddock.v1 import client_pb2, client_pb2_grpc  # noqa: E402  (generated)

    return client_pb2, client_pb2_grpc


if __name__ == "__main__":
    print(f"stubs for {PROTO_DIR / PROTO} in {generate(force=True)}")
