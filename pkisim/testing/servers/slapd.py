"""OpenLDAP for tests: :class:`Slapd`, one slapd (mdb) with Dogtag's schema,
and :class:`SlapdPair`, two providers replicating to each other (multi-provider,
delta-syncrepl) through pausable proxies, so that :meth:`~SlapdPair.cut` and
:meth:`~SlapdPair.restore` cut and restore replication without killing a server.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

from pkisim.ids.tree import DEFAULT_BASE
from pkisim.ldap.directory import LdapDirectory, schema_path
from pkisim.testing.servers.base import (
    ManagedServer,
    ServerError,
    free_port,
    log_tail,
    new_password,
    server_folder,
    snapshot_entries,
    wait_until,
)
from pkisim.testing.servers.proxy import TcpProxy

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
MANAGER_DN = f"cn=Manager,{DEFAULT_BASE}"

_SCHEMAS = ("core", "cosine", "inetorgperson")

_BASE_LDIF = """dn: {base}
objectClass: top
objectClass: organization
o: {o}
entryUUID: 6c1c1c1c-0000-4000-8000-000000000001
entryCSN: 20000101000000.000000Z#000000#000#000000
creatorsName: {rootdn}
createTimestamp: 20000101000000Z
modifiersName: {rootdn}
modifyTimestamp: 20000101000000Z
"""


class Slapd(ManagedServer):
    """One OpenLDAP slapd on 127.0.0.1 with mdb and Dogtag's schema.

    ``schema=False`` leaves the schema out (to test that error).  The data
    folder survives :meth:`kill` and :meth:`stop`; :meth:`start` again reuses
    it on the same port.  ``replication`` is the extra configuration a
    :class:`SlapdPair` writes.
    """

    def __init__(self, folder: Path | None = None, *, schema: bool = True,
                 base: str = DEFAULT_BASE, server_id: int | None = None,
                 password: str | None = None) -> None:
        self._own = folder is None
        self.folder = Path(folder) if folder is not None else server_folder("slapd")
        self.schema, self.base, self.server_id = schema, base, server_id
        self.port = free_port()
        self.url = f"ldap://127.0.0.1:{self.port}/"
        self.bind_dn = f"cn=Manager,{base}"
        self.password = password or new_password()
        self.process: subprocess.Popen[bytes] | None = None
        self.replication = ""  # extra config for the main database (SlapdPair)
        self.accesslog = False

    def __repr__(self) -> str:
        return f"Slapd({self.url!r}, folder={str(self.folder)!r})"

    # ------------------------------------------------------------ config
    def config(self) -> str:
        d = self.folder
        lines = [f"include /etc/ldap/schema/{s}.schema" for s in _SCHEMAS]
        if self.schema:
            lines.append(f"include {schema_path()}")
        lines += ["modulepath /usr/lib/ldap", "moduleload back_mdb"]
        if self.accesslog:
            lines += ["moduleload syncprov", "moduleload accesslog"]
        if self.server_id is not None:
            lines.append(f"serverID {self.server_id}")
        lines += [f"pidfile {d}/slapd.pid", f"argsfile {d}/slapd.args", ""]
        if self.accesslog:
            lines += ["database mdb", "maxsize 104857600", 'suffix "cn=accesslog"',
                      f"directory {d}/accesslog", 'rootdn "cn=accesslog"',
                      "index default eq",
                      "index entryCSN,objectClass,reqEnd,reqResult,reqStart,reqDN",
                      "overlay syncprov", "syncprov-nopresent TRUE",
                      "syncprov-reloadhint TRUE", ""]
        lines += ["database mdb", "maxsize 1073741824", f'suffix "{self.base}"',
                  f'rootdn "{self.bind_dn}"', f"rootpw {self.password}",
                  f"directory {d}/db", "index objectClass eq", "index cn eq",
                  "index entryCSN,entryUUID eq"]
        if self.replication:
            lines.append(self.replication)
        return "\n".join(lines) + "\n"

    def _write_config(self) -> Path:
        conf = self.folder / "slapd.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self.config())
        return conf

    def _load_base(self, conf: Path) -> None:
        """slapadd the suffix entry, identical (same entryUUID and CSN) on every
        server of a pair, so that replication starts from a common root."""
        ldif = self.folder / "base.ldif"
        rdn = self.base.split(",", 1)[0]
        ldif.write_text(_BASE_LDIF.format(base=self.base, o=rdn.split("=", 1)[1],
                                          rootdn=self.bind_dn))
        done = subprocess.run([SLAPADD, "-q", "-f", str(conf), "-b", self.base, "-l", str(ldif)],
                              capture_output=True, text=True, timeout=30)
        if done.returncode:
            raise ServerError(f"slapadd failed in {self.folder}: "
                              f"{done.stderr.strip().replace(self.password, '***')[-300:]}")

    # ------------------------------------------------------------ life cycle
    def start(self, timeout: float = 10.0) -> Slapd:
        if self.running:
            return self
        conf = self._write_config()
        fresh = not (self.folder / "db").exists()
        for sub in ("db", "accesslog") if self.accesslog else ("db",):
            (self.folder / sub).mkdir(exist_ok=True)
        if fresh:
            self._load_base(conf)
        log = open(self.folder / "slapd.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen([SLAPD, "-h", self.url, "-f", str(conf), "-d", "0"],
                                        stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        try:
            wait_until(self._ready, timeout, f"slapd on {self.url}")
        except ServerError:
            self.kill()
            raise ServerError(f"slapd on {self.url} did not start: "
                              f"{log_tail(self.folder / 'slapd.log', self.password)}") from None
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise ServerError(f"slapd on {self.url} exited with {self.process.returncode}: "
                              f"{log_tail(self.folder / 'slapd.log', self.password)}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGINT (slapd's clean shutdown), then SIGKILL if it lingers."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """kill -9: no clean shutdown (the mdb database must recover by itself)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.process = None

    def directory(self, **kwargs: Any) -> LdapDirectory:
        return LdapDirectory(self.url, self.bind_dn, self.password, base=self.base, **kwargs)

    def close(self) -> None:
        self.stop()
        if self._own:
            shutil.rmtree(self.folder, ignore_errors=True)


#: The replication half of a pair member's configuration (delta-syncrepl, both ways).
_SYNCREPL = """syncrepl rid={rid:03d} provider=ldap://127.0.0.1:{port}/ bindmethod=simple
  binddn="{binddn}" credentials={password} searchbase="{base}"
  logbase="cn=accesslog" logfilter="(&(objectClass=auditWriteObject)(reqResult=0))"
  syncdata=accesslog type=refreshAndPersist retry="1 +" timeout=3
  keepalive=0:0:0 network-timeout=3
multiprovider on
overlay syncprov
syncprov-checkpoint 100 10
overlay accesslog
logdb "cn=accesslog"
logops writes
logsuccess TRUE
logpurge 07+00:00 01+00:00"""


class SlapdPair(ManagedServer):
    """Two slapd providers replicating to each other through pausable proxies.

    ``servers[0]`` pulls from ``servers[1]`` through ``proxies[1]`` and vice
    versa: :meth:`cut` pauses both proxies, :meth:`restore` resumes them.
    """

    names = ("ds1", "ds2")

    def __init__(self, base: str = DEFAULT_BASE) -> None:
        self.folder = server_folder("slapdpair")
        password = new_password()
        self.servers = [Slapd(self.folder / n, base=base, server_id=i + 1, password=password)
                        for i, n in enumerate(self.names)]
        for server in self.servers:
            server.folder.mkdir()
            server.accesslog = True
        # proxies[i] relays to servers[i]; the other server pulls through it
        self.proxies = [TcpProxy(s.port) for s in self.servers]
        for i, server in enumerate(self.servers):
            other = 1 - i
            server.replication = _SYNCREPL.format(
                rid=other + 1, port=self.proxies[other].port, binddn=server.bind_dn,
                password=password, base=base)
        self.base = base

    def __repr__(self) -> str:
        return f"SlapdPair({[s.url for s in self.servers]})"

    def start(self) -> SlapdPair:
        for server in self.servers:
            server.start()
        return self

    def directories(self) -> dict[str, LdapDirectory]:
        return {n: s.directory() for n, s in zip(self.names, self.servers, strict=True)}

    @property
    def is_cut(self) -> bool:
        return self.proxies[0].paused

    def cut(self) -> None:
        for proxy in self.proxies:
            proxy.pause()

    def restore(self) -> None:
        for proxy in self.proxies:
            proxy.resume()

    def snapshot(self, index: int) -> dict[str, dict[str, tuple[str, ...]]]:
        """Every entry below the base on one server (user attributes and entryCSN)."""
        return snapshot_entries(self.servers[index].directory(), self.base)

    def wait_converged(self, timeout: float = 15.0) -> None:
        """Poll until both servers hold the same entries (ServerError if not)."""
        if self.is_cut:
            raise ServerError("the replication link is cut: restore() first")
        dirs = [s.directory() for s in self.servers]
        try:
            wait_until(lambda: (snapshot_entries(dirs[0], self.base)
                                == snapshot_entries(dirs[1], self.base)),
                       timeout, "the slapd pair to converge")
        finally:
            for d in dirs:
                d.close()

    def close(self) -> None:
        for proxy in self.proxies:
            proxy.close()
        for server in self.servers:
            server.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


__all__ = ["MANAGER_DN", "SLAPADD", "SLAPD", "Slapd", "SlapdPair"]
