"""Start the mock upstream and the gateway as real processes for benchmarks."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up in {timeout} s")


@contextmanager
def process(args: list[str], ready_url: str, env: dict[str, str] | None = None) -> Iterator[None]:
    # stderr goes to a file, never a pipe: nobody reads a pipe during the run, and a process
    # that logs enough (an ASGI error per cut connection) blocks on a full one, which stalled
    # whole soak runs after ~21,000 requests.
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            args, cwd=ROOT, env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
        try:
            try:
                wait_http(ready_url)
            except RuntimeError as e:
                err.seek(0)
                tail = err.read()[-2000:].decode("utf-8", "replace")
                raise RuntimeError(f"{e}; {args[2]} said:\n{tail}") from None
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextmanager
def mock_upstream(token_delay_ms: float = 0.0, chunk_chars: int = 4) -> Iterator[str]:
    port = free_port()
    args = [sys.executable, "-m", "loadtest.mock_upstream", "--port", str(port),
            "--token-delay-ms", str(token_delay_ms), "--chunk-chars", str(chunk_chars)]  # fmt: skip
    with process(args, f"http://127.0.0.1:{port}/_mock/stats"):
        yield f"http://127.0.0.1:{port}/v1"


@contextmanager
def gateway(upstream: str, policy: Path | None = None, **env: str) -> Iterator[str]:
    port = free_port()
    args = [sys.executable, "-m", "gateway", "serve", "--port", str(port),
            "--upstream-url", upstream, "--log-level", "warning"]  # fmt: skip
    if policy is not None:
        args += ["--policy", str(policy)]
    # Benchmarks name a classifier when they use one; a throwaway key for this run only.
    key = os.environ.get("GATEWAY_PSEUDONYM_KEY") or secrets.token_hex(32)
    env = {"GATEWAY_CLASSIFIER": "none", "GATEWAY_PSEUDONYM_KEY": key, **env}
    with process(args, f"http://127.0.0.1:{port}/healthz", env):
        yield f"http://127.0.0.1:{port}/v1"
