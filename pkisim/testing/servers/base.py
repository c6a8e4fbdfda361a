"""What every test server shares: free ports on 127.0.0.1, generated
passwords, polling with a deadline, redacted log tails, the context-manager
life cycle, and every entry of a server read back for comparison.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from pkisim.ldap.directory import LdapDirectory


class ServerError(RuntimeError):
    """A test server that would not start, stop or replicate."""


def server_folder(kind: str) -> Path:
    """A new temporary folder for one test server, named after ``kind`` and the
    process that made it (``pkisim-slapd-<pid>-...``): a leak check counts only
    the servers its own process started (:func:`started_here`)."""
    return Path(tempfile.mkdtemp(prefix=f"pkisim-{kind}-{os.getpid()}-"))


def started_here() -> list[int]:
    """The server processes still running from folders this process made."""
    done = subprocess.run(["pgrep", "-f", rf"pkisim-(slapd|slapdpair|ds389)-{os.getpid()}-"],
                          capture_output=True, text=True)
    return [int(pid) for pid in done.stdout.split()]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_password() -> str:
    """A random password that never starts with "-" (command lines take it)."""
    return "p" + secrets.token_urlsafe(18)


def wait_until(check: Callable[[], bool], timeout: float, what: str,
               interval: float = 0.005) -> None:
    """Poll ``check`` until it is true; ServerError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise ServerError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.1)


def log_tail(path: Path, secret: str, lines: int = 5) -> str:
    """The last ``lines`` of a server's log on one line, ``secret`` redacted."""
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return " | ".join(text).replace(secret, "***")


class ManagedServer:
    """A server as a context manager: ``start()`` on entry, ``close()`` on exit,
    and ``close()`` too when ``start()`` fails half-way."""

    def start(self) -> Self:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()


def snapshot_entries(directory: LdapDirectory, base: str, *,
                     filterstr: str = "(objectClass=*)",
                     attrs: tuple[str, ...] = ("*", "entryCSN"),
                     fold: frozenset[str] = frozenset(),
                     ) -> dict[str, dict[str, tuple[str, ...]]]:
    """Every entry below ``base`` as ``{dn: {attribute: sorted values}}`` (names in
    lower case; values of the attributes in ``fold`` too), or ``{}`` when the
    server cannot be read."""
    import ldap  # type: ignore[import-untyped]

    try:
        directory.connect()
        got = directory._conn.search_s(base, ldap.SCOPE_SUBTREE, filterstr, list(attrs))
    except Exception:
        directory.close()
        return {}

    def text(name: str, value: bytes) -> str:
        return value.decode().lower() if name in fold else value.decode()
    return {dn.lower(): {k.lower(): tuple(sorted(text(k.lower(), v) for v in vs))
                         for k, vs in attrs_.items()} for dn, attrs_ in got}


__all__ = ["ManagedServer", "ServerError", "free_port", "log_tail", "new_password",
           "snapshot_entries", "wait_until"]
