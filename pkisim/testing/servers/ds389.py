"""389 Directory Server for tests: :class:`Ds389Pair`, two suppliers under one
private PREFIX replicating both ways, set up with ``dscreate`` and ``dsconf``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

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

DS_MANAGER_DN = "cn=Directory Manager"
REPL_DN = "cn=replication manager,cn=config"

_DS_DIRS = ("etc/dirsrv", "run/dirsrv", "run/lock/dirsrv", "var/log/dirsrv", "var/lib/dirsrv",
            "tmp", "share/dirsrv/inf", "etc/tmpfiles.d", "etc/default", "dev/shm")


class Ds389Pair(ManagedServer):
    """Two 389 Directory Server suppliers under one private PREFIX, replicating
    both ways (one agreement per direction).

    Dogtag's schema (``99pki.ldif``) is copied into each instance's schema
    folder before start.  :meth:`cut` disables both agreements, :meth:`restore`
    enables them again; :meth:`wait_converged` polls until both servers hold
    the same entries.
    """

    names = ("ds1", "ds2")

    def __init__(self, base: str = DEFAULT_BASE) -> None:
        self.root = server_folder("ds389")
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
                                  f"{log_tail(self.root / f'{name}.out', self.password)}")
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
        """Run ``dsconf`` as Directory Manager; the password comes from a file
        (``-y``), never from the command line, where ``ps`` would show it."""
        return self._run(["/usr/sbin/dsconf", "-D", DS_MANAGER_DN, "-y", str(self._password_file),
                          self.url[index].rstrip("/"), *args],
                         f"dsconf {self.names[index]} {' '.join(args[:3])}")

    @property
    def _password_file(self) -> Path:
        path = self.root / "dm-password"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(self.password)
        return path

    def start(self) -> Ds389Pair:
        self._prepare_prefix()
        for i in range(2):
            self._create(i)
            self.start_server(i)
        for i in range(2):
            # dsconf takes the replication manager's password only on its command
            # line: enable without it, then write the entry and the agreements'
            # credentials over LDAP
            self.dsconf(i, "replication", "enable", "--suffix", self.base, "--role", "supplier",
                        "--replica-id", str(i + 1), "--bind-dn", REPL_DN)
            self._modify_config(i, REPL_DN, add=[
                ("objectClass", [b"top", b"inetUser", b"netscapeServer", b"nsAccount"]),
                ("cn", [b"replication manager"]), ("uid", [b"replication manager"]),
                ("userPassword", [self.password.encode()])])
        for i in range(2):  # what ``dsconf repl-agmt create`` writes, credentials included
            name = self._agreement(i)
            self._modify_config(i, f"cn={name},{self._replica_dn(i)}", add=[
                ("objectClass", [b"top", b"nsds5replicationagreement"]), ("cn", [name.encode()]),
                ("nsDS5ReplicaRoot", [self.base.encode()]),
                ("nsDS5ReplicaHost", [b"localhost"]),
                ("nsDS5ReplicaPort", [str(self.ports[1 - i]).encode()]),
                ("nsDS5ReplicaTransportInfo", [b"LDAP"]),
                ("nsDS5ReplicaBindDN", [REPL_DN.encode()]),
                ("nsDS5ReplicaBindMethod", [b"SIMPLE"]),
                ("nsDS5ReplicaCredentials", [self.password.encode()])])
        self.dsconf(0, "repl-agmt", "init", "--suffix", self.base, self._agreement(0))
        self._wait_init()
        return self

    def _replica_dn(self, index: int) -> str:
        """The replica configuration entry of the suffix (``replication enable`` made it)."""
        import ldap  # type: ignore[import-untyped]

        conn = self._root_connection(index)
        try:
            found = conn.search_s("cn=mapping tree,cn=config", ldap.SCOPE_SUBTREE,
                                  f"(&(objectClass=nsds5replica)(nsDS5ReplicaRoot={self.base}))",
                                  ["cn"])
        finally:
            conn.unbind_s()  # type: ignore[attr-defined]
        if len(found) != 1:
            raise ServerError(f"{self.names[index]}: no replica configuration for {self.base}")
        return str(found[0][0])

    def _root_connection(self, index: int) -> object:
        import ldap  # type: ignore[import-untyped]

        conn = ldap.initialize(self.url[index])
        conn.simple_bind_s(DS_MANAGER_DN, self.password)
        return conn

    def _modify_config(self, index: int, dn: str, *, add: list | None = None,
                       replace: list | None = None) -> None:
        """Add an entry, or replace attributes of one, as Directory Manager."""
        import ldap  # type: ignore[import-untyped]

        conn = self._root_connection(index)
        try:
            if add is not None:
                conn.add_s(dn, add)
            if replace is not None:
                conn.modify_s(dn, [(ldap.MOD_REPLACE, name, values) for name, values in replace])
        except ldap.LDAPError as err:
            raise ServerError(f"{self.names[index]}: {dn}: {err}".replace(self.password, "***")
                              ) from None
        finally:
            conn.unbind_s()

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
            return snapshot_entries(directory, self.base,
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


__all__ = ["DS_MANAGER_DN", "REPL_DN", "Ds389Pair"]
