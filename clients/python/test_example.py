"""Runs example.py against the server at $PADDOCK_TARGET (see .ci/python-client)."""

import os
import subprocess
import sys
from pathlib import Path


def test_example(target):
    here = Path(__file__).resolve().parent
    run = subprocess.run([sys.executable, str(here / "example.py"), target], cwd=here,
                         capture_output=True, text=True, timeout=120)
    print(run.stdout, run.stderr, sep="\n")
    assert run.returncode == 0, f"example.py exited {run.returncode}"
    assert "example: all checks passed" in run.stdout
    assert "FAIL" not in run.stdout
