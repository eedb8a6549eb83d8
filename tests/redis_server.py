"""A real ``redis-server`` for the fleet tests: started on 127.0.0.1, stopped by its PID.

Without ``redis-server`` on the machine the tests that need it skip with an install hint;
under ``CI=true`` that skip is a failure instead, because CI installs Redis itself
(``.ci/run``) and a silently skipped fleet suite would prove nothing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator

import pytest

INSTALL_HINT = (
    "redis-server is not installed: on Debian or Ubuntu run "
    "'apt-get install -y redis-server' (CI installs it in .ci/run)"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One throwaway ``redis-server`` process in a temporary directory: no RDB snapshots,
    the append-only file on (as claims need in production), so that a restart keeps what
    was written."""

    def __init__(self, executable: str, *, fsync: str = "everysec") -> None:
        self.executable = executable
        self.fsync = fsync
        self.directory = tempfile.mkdtemp(prefix="smsgate-redis-")
        self.process: subprocess.Popen[bytes] | None = None
        for _ in range(5):  # a port found free can be taken before redis binds it
            self.port = _free_port()
            if self._launch():
                return
            self.stop_process()
        shutil.rmtree(self.directory, ignore_errors=True)
        raise RuntimeError("redis-server did not start on 127.0.0.1")

    def _launch(self) -> bool:
        self.process = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "yes", "--appendfsync", self.fsync,
             "--dir", self.directory, "--protected-mode", "yes", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        return self._wait_ready()

    def restart(self) -> None:
        """Stop the server (SIGTERM: it writes its AOF) and start it again on the same
        port and directory: what was written is read back."""
        self.stop_process()
        if not self._launch():
            raise RuntimeError("redis-server did not restart")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop_process(self) -> None:
        """Stop the server by its PID (never by name: other Redis servers are not ours)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the server and delete its directory."""
        self.stop_process()
        shutil.rmtree(self.directory, ignore_errors=True)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def redis_executable() -> str:
    """``redis-server``'s path; skips (fails under ``CI=true``) when it is missing."""
    found = shutil.which("redis-server")
    if found is None:
        _unavailable(INSTALL_HINT)
    assert found is not None
    return found


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    try:
        import redis  # noqa: F401
    except ImportError:
        _unavailable('the redis client is not installed: pip install -e ".[redis]"')
    server = RedisServer(redis_executable())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A server of this test's own, which it may stop and restart."""
    try:
        import redis  # noqa: F401
    except ImportError:
        _unavailable('the redis client is not installed: pip install -e ".[redis]"')
    server = RedisServer(redis_executable())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of this test's own: tests share one server, never each other's keys."""
    return f"test:{uuid.uuid4().hex}:"
