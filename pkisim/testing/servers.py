"""Real directory servers for tests: child processes on 127.0.0.1, free ports,
a temporary folder each, stopped by their context managers.

* :class:`Slapd`: one OpenLDAP slapd (mdb) with Dogtag's schema;
* :class:`SlapdPair`: two slapd providers replicating to each other
  (multi-provider, delta-syncrepl), each direction through a pausable
  :class:`TcpProxy` so that :meth:`~SlapdPair.cut` and :meth:`~SlapdPair.restore`
  cut and restore replication without killing a server;
* :class:`Ds389Pair`: two 389 Directory Server 2.3 suppliers under a private
  PREFIX, with replication agreements both ways (cut and restored with
  ``dsconf repl-agmt disable/enable``).

Recipes: ../shared/reference/ldap-servers.md.  Passwords are generated per run
and written only to files in the server's own folder (mode 0600); nothing here
prints them, and text copied from server logs into errors is redacted.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

from pkisim.ids.tree import DEFAULT_BASE
from pkisim.ldap.directory import LdapDirectory, schema_path

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SYSTEM_PYTHON = "/usr/bin/python3"  # dsconf / lib389 live in Debian's Python
MANAGER_DN = f"cn=Manager,{DEFAULT_BASE}"
DS_MANAGER_DN = "cn=Directory Manager"
REPL_DN = "cn=replication manager,cn=config"


class ServerError(RuntimeError):
    """A test server that would not start, stop or replicate."""


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


def _tail(path: Path, secret: str, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return " | ".join(text).replace(secret, "***")


# ---------------------------------------------------------------- OpenLDAP
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


class _Managed:
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


class Slapd(_Managed):
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
        self.folder = Path(folder or tempfile.mkdtemp(prefix="pkisim-slapd-"))
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
                              f"{_tail(self.folder / 'slapd.log', self.password)}") from None
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise ServerError(f"slapd on {self.url} exited with {self.process.returncode}: "
                              f"{_tail(self.folder / 'slapd.log', self.password)}")
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


# ---------------------------------------------------------------- the proxy
class TcpProxy:
    """A TCP relay on 127.0.0.1 that can hold the bytes in both directions.

    While paused, bytes already read are held and nothing more is sent; on
    resume they flow again, in order.  Connections stay open, as a network
    cut that heals would leave them.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._open = threading.Event()
        self._open.set()
        self._closed = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(16)
        self._thread = threading.Thread(target=self._accept, daemon=True,
                                        name=f"proxy-{self.port}")
        self._thread.start()

    @property
    def paused(self) -> bool:
        return not self._open.is_set()

    def pause(self) -> None:
        self._open.clear()

    def resume(self) -> None:
        self._open.set()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not self._closed:
                self._open.wait()
                data = src.recv(65536)
                if not data:
                    break
                while not self._open.wait(0.5):
                    if self._closed:
                        return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed = True
        self._open.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()
            self._sockets.clear()


# ---------------------------------------------------------------- slapd pair
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


class SlapdPair(_Managed):
    """Two slapd providers replicating to each other through pausable proxies.

    ``servers[0]`` pulls from ``servers[1]`` through ``proxies[1]`` and vice
    versa: :meth:`cut` pauses both proxies, :meth:`restore` resumes them.
    """

    names = ("ds1", "ds2")

    def __init__(self, base: str = DEFAULT_BASE) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="pkisim-slapdpair-"))
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
        return _snapshot(self.servers[index].directory(), self.base)

    def wait_converged(self, timeout: float = 15.0) -> None:
        """Poll until both servers hold the same entries (ServerError if not)."""
        if self.is_cut:
            raise ServerError("the replication link is cut: restore() first")
        dirs = [s.directory() for s in self.servers]
        try:
            wait_until(lambda: _snapshot(dirs[0], self.base) == _snapshot(dirs[1], self.base),
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


def _snapshot(directory: LdapDirectory, base: str, *, filterstr: str = "(objectClass=*)",
              attrs: tuple[str, ...] = ("*", "entryCSN"), fold: frozenset[str] = frozenset(),
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


# ---------------------------------------------------------------- 389-DS
_DS_DIRS = ("etc/dirsrv", "run/dirsrv", "run/lock/dirsrv", "var/log/dirsrv", "var/lib/dirsrv",
            "tmp", "share/dirsrv/inf", "etc/tmpfiles.d", "etc/default", "dev/shm")


class Ds389Pair(_Managed):
    """Two 389 Directory Server suppliers under one private PREFIX, replicating
    both ways (one agreement per direction).

    Dogtag's schema (``99pki.ldif``) is copied into each instance's schema
    folder before start.  :meth:`cut` disables both agreements, :meth:`restore`
    enables them again; :meth:`wait_converged` polls until both servers hold
    the same entries.
    """

    names = ("ds1", "ds2")

    def __init__(self, base: str = DEFAULT_BASE) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pkisim-ds389-"))
        os.chmod(self.root, 0o755)
        self.base = base
        self.password = new_password()
        self.ports = [free_port() for _ in self.names]
        self.url = [f"ldap://127.0.0.1:{p}/" for p in self.ports]
        self.processes: list[subprocess.Popen[bytes] | None] = [None, None]
        self._cut = False

    def __repr__(self) -> str:
        return f"Ds389Pair({self.url})"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PYENV"))}
        env["PREFIX"] = str(self.root)
        env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
        return env

    def _run(self, args: list[str], what: str, timeout: float = 120.0) -> str:
        done = subprocess.run(args, env=self._env(), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        if done.returncode:
            text = (done.stdout + done.stderr).strip().replace(self.password, "***")
            raise ServerError(f"{what} failed ({done.returncode}): {text[-600:]}")
        return done.stdout

    def _prepare_prefix(self) -> None:
        r = self.root
        for sub in _DS_DIRS:
            (r / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("etc", "run", "run/lock", "var", "var/log", "var/lib", "share"):
            os.chmod(r / sub, 0o755)
        for sub in ("run/dirsrv", "run/lock/dirsrv", "var/log/dirsrv", "var/lib/dirsrv",
                    "etc/dirsrv", "dev/shm"):
            shutil.chown(r / sub, "dirsrv", "dirsrv")
        shutil.copytree("/usr/share/dirsrv/data", r / "share/dirsrv/data")
        for sub in ("schema", "config"):
            if Path("/etc/dirsrv", sub).is_dir():
                shutil.copytree(Path("/etc/dirsrv", sub), r / "etc/dirsrv" / sub)
        template = r / "share/dirsrv/data/template-dse.ldif"
        text = template.read_text().replace(
            "nsslapd-port: %ds_port%\n",
            "nsslapd-port: %ds_port%\nnsslapd-listenhost: 127.0.0.1\n")
        template.write_text(text)
        defaults = Path("/usr/share/dirsrv/inf/defaults.inf").read_text()
        moved = {"with_systemd": "0", "data_dir": f"{r}/share", "tmp_dir": f"{r}/tmp",
                 "sysconf_dir": f"{r}/etc", "initconfig_dir": f"{r}/etc/default",
                 "config_dir": f"{r}/etc/dirsrv/slapd-{{instance_name}}",
                 "local_state_dir": f"{r}/var", "run_dir": f"{r}/run/dirsrv",
                 "ldapi": f"{r}/run/slapd-{{instance_name}}.socket",
                 "pid_file": f"{r}/run/dirsrv/slapd-{{instance_name}}.pid",
                 "tmpfiles_d": f"{r}/etc/tmpfiles.d",
                 "schema_dir": f"{r}/etc/dirsrv/slapd-{{instance_name}}/schema",
                 "cert_dir": f"{r}/etc/dirsrv/slapd-{{instance_name}}",
                 "lock_dir": f"{r}/run/lock/dirsrv/slapd-{{instance_name}}",
                 "log_dir": f"{r}/var/log/dirsrv/slapd-{{instance_name}}",
                 "access_log": f"{r}/var/log/dirsrv/slapd-{{instance_name}}/access",
                 "audit_log": f"{r}/var/log/dirsrv/slapd-{{instance_name}}/audit",
                 "error_log": f"{r}/var/log/dirsrv/slapd-{{instance_name}}/errors",
                 "security_log": f"{r}/var/log/dirsrv/slapd-{{instance_name}}/security",
                 "db_dir": f"{r}/var/lib/dirsrv/slapd-{{instance_name}}/db",
                 "db_home_dir": f"{r}/dev/shm/slapd-{{instance_name}}",
                 "backup_dir": f"{r}/var/lib/dirsrv/slapd-{{instance_name}}/bak",
                 "ldif_dir": f"{r}/var/lib/dirsrv/slapd-{{instance_name}}/ldif"}
        out = []
        for line in defaults.splitlines():
            key = line.split("=", 1)[0].strip()
            out.append(f"{key} = {moved[key]}" if "=" in line and key in moved else line)
        (r / "share/dirsrv/inf/defaults.inf").write_text("\n".join(out) + "\n")

    def _create(self, index: int) -> None:
        name = self.names[index]
        inf = self.root / f"{name}.inf"
        fd = os.open(inf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f"[general]\nfull_machine_name = localhost\nstart = False\n"
                      f"[slapd]\ninstance_name = {name}\nport = {self.ports[index]}\n"
                      f"secure_port = {free_port()}\nroot_password = {self.password}\n"
                      f"self_sign_cert = False\n"
                      f"[backend-userroot]\nsuffix = {self.base}\ncreate_suffix_entry = True\n")
        self._run(["/usr/sbin/dscreate", "from-file", str(inf)], f"dscreate {name}")
        schema_dir = self.root / f"etc/dirsrv/slapd-{name}/schema"
        schema_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(schema_path("99pki.ldif"), schema_dir / "99pki.ldif")
        shutil.chown(schema_dir / "99pki.ldif", "dirsrv", "dirsrv")

    def start_server(self, index: int, timeout: float = 30.0) -> None:
        name = self.names[index]
        if self.processes[index] is not None and self.processes[index].poll() is None:
            return
        config = self.root / f"etc/dirsrv/slapd-{name}"
        pidfile = self.root / f"run/dirsrv/slapd-{name}.pid"
        log = open(self.root / f"{name}.out", "ab")  # noqa: SIM115 - owned by the process
        self.processes[index] = subprocess.Popen(
            ["/usr/sbin/ns-slapd", "-D", str(config), "-i", str(pidfile), "-d", "0"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=self._env(), start_new_session=True)
        log.close()

        def ready() -> bool:
            proc = self.processes[index]
            if proc is not None and proc.poll() is not None:
                raise ServerError(f"ns-slapd {name} exited with {proc.returncode}: "
                                  f"{_tail(self.root / f'{name}.out', self.password)}")
            with socket.socket() as sock:
                sock.settimeout(0.2)
                return sock.connect_ex(("127.0.0.1", self.ports[index])) == 0
        wait_until(ready, timeout, f"ns-slapd {name}")

    def stop_server(self, index: int, timeout: float = 20.0) -> None:
        proc = self.processes[index]
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes[index] = None

    def dsconf(self, index: int, *args: str) -> str:
        return self._run(["/usr/sbin/dsconf", "-D", DS_MANAGER_DN, "-w", self.password,
                          self.url[index].rstrip("/"), *args],
                         f"dsconf {self.names[index]} {' '.join(args[:3])}")

    def start(self) -> Ds389Pair:
        self._prepare_prefix()
        for i in range(2):
            self._create(i)
            self.start_server(i)
        for i in range(2):
            self.dsconf(i, "replication", "enable", "--suffix", self.base, "--role", "supplier",
                        "--replica-id", str(i + 1), "--bind-dn", REPL_DN,
                        "--bind-passwd", self.password)
        for i in range(2):
            other = 1 - i
            args = ["repl-agmt", "create", "--suffix", self.base, "--host", "localhost",
                    "--port", str(self.ports[other]), "--conn-protocol", "LDAP",
                    "--bind-dn", REPL_DN, "--bind-passwd", self.password,
                    "--bind-method", "SIMPLE"]
            if i == 0:
                args.append("--init")
            self.dsconf(i, *args, self._agreement(i))
        self._wait_init()
        return self

    def _agreement(self, index: int) -> str:
        return f"{self.names[index]}-to-{self.names[1 - index]}"

    def _wait_init(self, timeout: float = 60.0) -> None:
        def done() -> bool:
            out = self.dsconf(0, "repl-agmt", "init-status", "--suffix", self.base,
                              self._agreement(0))
            if "failed" in out.lower() or "error" in out.lower():
                raise ServerError(f"replica initialisation failed: {out.strip()[-300:]}")
            return "successfully initialized" in out.lower()
        wait_until(done, timeout, "389-DS replica initialisation", interval=0.2)

    def directories(self) -> dict[str, LdapDirectory]:
        return {n: LdapDirectory(u, DS_MANAGER_DN, self.password, base=self.base)
                for n, u in zip(self.names, self.url, strict=True)}

    @property
    def is_cut(self) -> bool:
        return self._cut

    def cut(self) -> None:
        for i in range(2):
            self.dsconf(i, "repl-agmt", "disable", "--suffix", self.base, self._agreement(i))
        self._cut = True

    def restore(self) -> None:
        for i in range(2):
            self.dsconf(i, "repl-agmt", "enable", "--suffix", self.base, self._agreement(i))
        self._cut = False

    def snapshot(self, index: int) -> dict[str, dict[str, tuple[str, ...]]]:
        directory = LdapDirectory(self.url[index], DS_MANAGER_DN, self.password, base=self.base)
        try:
            # conflict entries are ldapsubentry: ask for them; each server
            # spells the DN inside nsds5ReplConflict its own way
            return _snapshot(directory, self.base,
                             filterstr="(|(objectClass=*)(objectClass=ldapsubentry))",
                             attrs=("*", "nsds5ReplConflict"),
                             fold=frozenset({"nsds5replconflict"}))
        finally:
            directory.close()

    def wait_converged(self, timeout: float = 30.0) -> None:
        if self._cut:
            raise ServerError("the replication agreements are disabled: restore() first")
        wait_until(lambda: self.snapshot(0) == self.snapshot(1), timeout,
                   "the 389-DS pair to converge", interval=0.02)

    def close(self) -> None:
        for proc in self.processes:  # SIGTERM both first: each takes seconds to stop
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for i in range(2):
            self.stop_server(i)
        # dscreate may have left a server of its own running: kill what our PREFIX holds
        for pidfile in self.root.glob("run/dirsrv/*.pid"):
            with contextlib.suppress(ValueError, OSError):
                os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


# ---------------------------------------------------------------- machine backends
class SlapdBackend:
    """A fresh single slapd as the state machine's one replica
    (``MachineConfig(backend=slapd_backend)``): every write is immediately
    visible, so ``sync`` holds trivially; partitions do not apply."""

    def __init__(self, replicas: tuple[str, ...], sync: bool) -> None:
        if len(replicas) != 1:
            raise ValueError(f"one slapd serves one replica, not {replicas}")
        self.replicas = tuple(replicas)
        self.server = Slapd().start()
        self.directory = self.server.directory()

    def execute(self, command: Any, *, replica: str, now: float) -> Any:
        return self.directory.execute(command)

    def bootstrap(self, adds: Any, now: float = 0.0) -> None:
        self.directory.bootstrap(adds)

    def deliver(self, src: str | None = None, dst: str | None = None, *, now: float,
                count: int | None = None) -> int:
        return 0

    def partition(self, groups: Any, now: float) -> None:
        pass

    def heal_all(self, now: float) -> None:
        pass

    def close(self) -> None:
        self.directory.close()
        self.server.close()


class SlapdPairBackend:
    """A fresh :class:`SlapdPair` as the state machine's two replicas.

    ``sync=True``: the link stays up and every write waits until both servers
    agree (replication before the next step).  ``sync=False``: the link is
    cut between deliveries; :meth:`deliver` restores it, waits for
    convergence and cuts it again (all queued changes at once: ``count`` is
    not honoured), unless a partition is on.
    """

    def __init__(self, replicas: tuple[str, ...], sync: bool) -> None:
        if len(replicas) != 2:
            raise ValueError(f"a slapd pair serves two replicas, not {replicas}")
        self.replicas, self.sync = tuple(replicas), sync
        self.pair = SlapdPair().start()
        dirs = self.pair.directories()
        self.directories = {r: dirs[n] for r, n in zip(replicas, SlapdPair.names, strict=True)}
        self.partitioned = False

    def execute(self, command: Any, *, replica: str, now: float) -> Any:
        result = self.directories[replica].execute(command)
        if self.sync and not isinstance(command, _READS):
            self.pair.wait_converged()
        return result

    def bootstrap(self, adds: Any, now: float = 0.0) -> None:
        self.directories[self.replicas[0]].bootstrap(adds)
        self.pair.wait_converged()
        if not self.sync:
            self.pair.cut()

    def deliver(self, src: str | None = None, dst: str | None = None, *, now: float,
                count: int | None = None) -> int:
        if self.sync or self.partitioned:
            return 0
        self.pair.restore()
        self.pair.wait_converged()
        self.pair.cut()
        return 1

    def partition(self, groups: Any, now: float) -> None:
        self.partitioned = True

    def heal_all(self, now: float) -> None:
        self.partitioned = False

    def close(self) -> None:
        for directory in self.directories.values():
            directory.close()
        self.pair.close()


def _reads() -> tuple[type, ...]:
    from pkisim.ids import protocol as p

    return (p.Read, p.Search, p.LastNumberInRange, p.NumberExists)


_READS = _reads()


def slapd_backend(replicas: tuple[str, ...], sync: bool) -> SlapdBackend | SlapdPairBackend:
    """A backend factory for :class:`~pkisim.testing.machine.MachineConfig`:
    one slapd for one replica, a replicating pair for two."""
    if len(replicas) == 1:
        return SlapdBackend(replicas, sync)
    return SlapdPairBackend(replicas, sync)
