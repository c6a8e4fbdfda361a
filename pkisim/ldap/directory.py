"""The directory port on a real LDAP server, through python-ldap (extra ``ldap``).

:class:`LdapDirectory` executes the commands of :mod:`pkisim.ids.protocol`
with real ``search``/``modify``/``add``/``delete`` calls and answers with the
same :class:`~pkisim.ids.protocol.Result` the in-memory model gives, so
the allocation core cannot tell them apart:

* ``Read`` is a base-scope search; ``Modify`` one ``modify`` with the changes in
  order, so delete-old/add-new on ``nextRange`` is Dogtag's compare-and-swap
  (a stale old value fails the whole modify with noSuchAttribute, 16);
* ``Add`` of an issued record (``cn=<n>`` below a records container) is
  completed with Dogtag's record object class and its ``serialno`` /
  ``requestId`` value, in Dogtag's ``BigIntegerMapper`` form (two decimal
  digits of length, then the digits), so that string order is numeric order;
* ``LastNumberInRange`` is a one-level search of the records container with a
  range filter on that attribute, ``(&(serialno>=B)(serialno<=E))``, returning
  only that attribute, page by page, and the maximum taken client-side.
  OpenLDAP's mdb backend has no ordering index and sorts only with the sssvlv
  overlay, so a server-side "highest first, size limit 1" would not be portable;
  a range holds at most ``increment`` records, which one paged search reads.

Operation failures come back as result codes (the core decides what a failed
claim means).  Failures a program cannot go on from (an unreachable server, a
wrong password, a server without Dogtag's schema, a missing entry) raise
:class:`~pkisim.errors.DirectoryError` from :meth:`LdapDirectory.connect`,
:meth:`~LdapDirectory.ensure_schema` and :meth:`~LdapDirectory.require`: one
line naming the server URL and the DN, never the password.

python-ldap is imported on first use, so ``pkisim.ldap`` imports without it.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import re
from collections.abc import Iterable
from typing import Any

from pkisim.errors import DirectoryError
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind
from pkisim.ids.tree import DEFAULT_BASE, DogtagTree

#: Object classes and attributes a server must know for the allocator to work.
REQUIRED_CLASSES = ("repository", "pkiRange", "certificateRecord", "request")
REQUIRED_ATTRIBUTES = ("nextRange", "beginRange", "endRange", "SecurePort", "serialno",
                       "requestId")

_CODES = {int(code): code for code in p.ResultCode}
_PAGE = 1000


def schema_path(name: str = "pki.schema") -> str:
    """The path of a shipped schema file: ``pki.schema`` (OpenLDAP) or
    ``99pki.ldif`` (389-DS)."""
    return str(importlib.resources.files("pkisim.ldap") / "schema" / name)


def encode_number(number: int) -> str:
    """Dogtag's ``BigIntegerMapper``: 12345 -> ``"0512345"``."""
    digits = str(number)
    if len(digits) > 99:
        raise ValueError(f"{number} has more than 99 digits")
    return f"{len(digits):02d}{digits}"


def _ldap() -> Any:
    try:
        import ldap  # type: ignore[import-untyped]
        import ldap.controls  # type: ignore[import-untyped]
        import ldap.filter  # type: ignore[import-untyped]
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("pkisim.ldap needs python-ldap: "
                          "pip install 'pkisim[ldap]'") from err
    return ldap


def match_filter(match: dict[str, str] | Any) -> str:
    """``{"host": "ca1", "nsds5ReplConflict": "*"}`` -> ``(&(host=ca1)(nsds5ReplConflict=*))``.

    Values are escaped (RFC 4515), except ``"*"`` alone, the presence test.
    """
    escape = _ldap().filter.escape_filter_chars
    parts = []
    for attr, value in match.items():
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", attr):
            raise ValueError(f"not an attribute name: {attr!r}")
        parts.append(f"({attr}=*)" if value == "*" else f"({attr}={escape(str(value))})")
    if not parts:
        return "(objectClass=*)"
    return parts[0] if len(parts) == 1 else "(&" + "".join(parts) + ")"


class LdapDirectory:
    """One LDAP server, seen through the directory port.

    ``execute`` ignores ``replica`` and ``now`` (a real server has its own
    clock); ``server`` is the URL, used as the replica name in histories.  The
    connection opens on first use and reopens after the server went away.
    """

    def __init__(self, url: str, bind_dn: str, password: str, *, base: str = DEFAULT_BASE,
                 timeout: float = 5.0) -> None:
        self.url, self.bind_dn, self.base, self.timeout = url, bind_dn, base, timeout
        self._password = password
        self._conn: Any = None
        self.tree = DogtagTree(base)
        self._record_attr = {self.tree.records_dn(IdKind.CERT).lower(): ("serialno",
                                                                         "certificateRecord"),
                             self.tree.records_dn(IdKind.REQUEST).lower(): ("requestId",
                                                                            "request"),
                             # a KRA's records, when its database shares this base
                             self.tree.records_dn(IdKind.KEY).lower(): ("serialno", "keyRecord"),
                             self.tree.records_dn(IdKind.KEY_REQUEST).lower(): ("requestId",
                                                                                "request")}

    def __repr__(self) -> str:
        return f"LdapDirectory({self.url!r}, bind_dn={self.bind_dn!r}, base={self.base!r})"

    @property
    def server(self) -> str:
        return self.url

    # ------------------------------------------------------------ connection
    def connect(self) -> None:
        """Open and bind the connection now; DirectoryError if that fails."""
        if self._conn is not None:
            return
        ldap = _ldap()
        try:
            conn = ldap.initialize(self.url)
            conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
            conn.set_option(ldap.OPT_REFERRALS, 0)
            conn.set_option(ldap.OPT_NETWORK_TIMEOUT, self.timeout)
            conn.set_option(ldap.OPT_TIMEOUT, self.timeout)
            conn.simple_bind_s(self.bind_dn, self._password)
        except ldap.LDAPError as err:
            reason = _describe(err)
            if isinstance(err, ldap.INVALID_CREDENTIALS):
                reason = "invalid credentials (wrong bind DN or password)"
            elif isinstance(err, ldap.SERVER_DOWN):
                reason = f"cannot reach the server ({reason})"
            raise DirectoryError(self.url, self.bind_dn, reason) from None
        self._conn = conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # the server may be gone already
                self._conn.unbind_s()
            self._conn = None

    def __enter__(self) -> LdapDirectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ checks
    def ensure_schema(self, *, install: bool = False) -> None:
        """Check that the server knows Dogtag's object classes and attributes.

        With ``install``, a server that accepts schema over LDAP (389-DS's
        ``cn=schema``) is given ``99pki.ldif`` first.  DirectoryError otherwise.
        """
        self.connect()
        ldap = _ldap()
        try:
            root = self._conn.search_s("", ldap.SCOPE_BASE, "(objectClass=*)",
                                       ["subschemaSubentry"])
            subschema = _decode(root[0][1]).get("subschemasubentry", ("cn=Subschema",))[0]
            missing = self._missing_schema(subschema)
            if missing and install:
                self._install_schema(subschema)
                missing = self._missing_schema(subschema)
        except ldap.LDAPError as err:
            self._drop_if_down(err)
            raise DirectoryError(self.url, "subschema", _describe(err)) from None
        if missing:
            raise DirectoryError(self.url, subschema,
                                 f"Dogtag's schema is not loaded (missing {', '.join(missing)}): "
                                 f"load {schema_path()} (OpenLDAP) or "
                                 f"{schema_path('99pki.ldif')} (389-DS)")

    def _missing_schema(self, subschema: str) -> list[str]:
        ldap = _ldap()
        got = self._conn.search_s(subschema, ldap.SCOPE_BASE, "(objectClass=*)",
                                  ["objectClasses", "attributeTypes"])
        attrs = _decode(got[0][1])
        names = set()
        for text in attrs.get("objectclasses", ()) + attrs.get("attributetypes", ()):
            found = re.search(r"NAME\s+(\(\s*([^)]*)\)|'([^']*)')", text)
            if found:
                names.update(n.lower() for n in re.findall(r"'([^']*)'", found.group(0)))
        return [n for n in REQUIRED_CLASSES + REQUIRED_ATTRIBUTES if n.lower() not in names]

    def _install_schema(self, subschema: str) -> None:
        ldap = _ldap()
        values: dict[str, list[bytes]] = {"attributeTypes": [], "objectClasses": []}
        with open(schema_path("99pki.ldif"), encoding="utf-8") as ldif:
            for line in ldif:
                key, _, value = line.partition(": ")
                if key in values:
                    values[key].append(value.strip().encode())
        for key in ("attributeTypes", "objectClasses"):
            self._conn.modify_s(subschema, [(ldap.MOD_ADD, key, values[key])])

    def require(self, dn: str, attribute: str | None = None) -> p.Attributes:
        """Read an entry the caller cannot do without; DirectoryError if it (or
        ``attribute``) is missing or the server cannot be reached."""
        self.connect()
        result = self.execute(p.Read(dn))
        if not result.ok:
            reason = ("no such entry" if result.code is p.ResultCode.NO_SUCH_OBJECT
                      else f"{result.code.name}: {result.message}")
            raise DirectoryError(self.url, dn, reason)
        entry = result.entry or {}
        if attribute is not None and not entry.get(attribute.lower()):
            raise DirectoryError(self.url, dn, f"the entry has no {attribute} attribute")
        return entry

    def bootstrap(self, adds: Iterable[p.Add], now: float = 0.0) -> None:
        """Create entries (``DogtagTree.bootstrap``); ones already there are kept."""
        del now
        for add in adds:
            result = self.execute(add)
            if not result.ok and result.code is not p.ResultCode.ENTRY_ALREADY_EXISTS:
                raise DirectoryError(self.url, add.dn, f"{result.code.name}: {result.message}")

    # ------------------------------------------------------------ the port
    def execute(self, command: p.Command, *, replica: str | None = None,
                now: float = 0.0) -> p.Result:
        """Execute one command on the server (``replica`` and ``now`` are ignored)."""
        del replica, now
        ldap = _ldap()
        try:
            self.connect()
        except DirectoryError as err:
            code = (p.ResultCode.INVALID_CREDENTIALS if "credentials" in err.reason
                    else p.ResultCode.SERVER_DOWN)
            return p.Result(code, message=err.reason)
        try:
            return self._execute(command)
        except ldap.LDAPError as err:
            self._drop_if_down(err)
            return p.Result(_code(err), message=_describe(err))

    def _execute(self, command: p.Command) -> p.Result:
        ldap, conn = _ldap(), self._conn
        if isinstance(command, p.Read):
            got = conn.search_s(command.dn, ldap.SCOPE_BASE, "(objectClass=*)")
            return p.Result(entries=tuple((dn, _decode(a)) for dn, a in got))
        if isinstance(command, p.Modify):
            conn.modify_s(command.dn, [(_MOD_OPS[m.op](ldap), m.attr,
                                        [v.encode() for v in m.values] or None)
                                       for m in command.mods])
            return p.OK
        if isinstance(command, p.Add):
            conn.add_s(command.dn, self.add_list(command.dn, command.attrs))
            return p.OK
        if isinstance(command, p.Delete):
            conn.delete_s(command.dn)
            return p.OK
        if isinstance(command, p.Search):
            got = conn.search_s(command.base, ldap.SCOPE_SUBTREE, match_filter(command.match))
            entries = sorted((dn, _decode(a)) for dn, a in got if dn)
            return p.Result(entries=tuple(entries))
        if isinstance(command, p.LastNumberInRange):
            return p.Result(number=self._last_number(command))
        if isinstance(command, p.NumberExists):
            try:
                conn.search_s(f"cn={command.number},{command.base}", ldap.SCOPE_BASE,
                              "(objectClass=*)", ["cn"])
            except ldap.NO_SUCH_OBJECT:
                return p.Result(number=None)
            return p.Result(number=command.number)
        return p.Result(p.ResultCode.UNWILLING_TO_PERFORM,
                        message=f"{type(command).__name__} is not an LDAP operation")

    def add_list(self, dn: str, attrs: p.Attributes) -> list[tuple[str, list[bytes]]]:
        """The attributes of an add, completed: the naming attribute, and for an
        issued record (``cn=<n>`` in a records container) Dogtag's object class
        and its length-prefixed number."""
        full = {k.lower(): list(v) for k, v in attrs.items()}
        rdn, _, parent = dn.partition(",")
        name, _, value = rdn.partition("=")
        full.setdefault(name.lower(), [value])
        record = self._record_attr.get(parent.lower())
        if record is not None and value.isdigit():
            attr, object_class = record
            classes = full.setdefault("objectclass", ["top"])
            if object_class.lower() not in (c.lower() for c in classes):
                classes.append(object_class)
            full.setdefault(attr.lower(), [encode_number(int(value))])
        return [(k, [v.encode() for v in vs]) for k, vs in full.items()]

    def _last_number(self, command: p.LastNumberInRange) -> int | None:
        ldap, conn = _ldap(), self._conn
        record = self._record_attr.get(command.base.lower())
        if command.end < command.begin:
            return None
        if record is None:  # not a Dogtag records container: read every cn
            flt, attr = "(cn=*)", "cn"
        else:
            attr = record[0]
            flt = (f"(&({attr}>={encode_number(command.begin)})"
                   f"({attr}<={encode_number(command.end)}))")
        page = ldap.controls.SimplePagedResultsControl(True, size=_PAGE, cookie="")
        best: int | None = None
        while True:
            msgid = conn.search_ext(command.base, ldap.SCOPE_ONELEVEL, flt, [attr, "cn"],
                                    serverctrls=[page])
            _, data, _, controls = conn.result3(msgid)
            for _, attrs in data:
                for raw in attrs.get("cn", ()):
                    text = raw.decode()
                    if text.isdigit() and command.begin <= int(text) <= command.end:
                        number = int(text)
                        best = number if best is None or number > best else best
            cookie = next((c.cookie for c in controls
                           if c.controlType == ldap.controls.SimplePagedResultsControl.controlType),
                          b"")
            if not cookie:
                return best
            page.cookie = cookie

    def _drop_if_down(self, err: Exception) -> None:
        ldap = _ldap()
        if isinstance(err, ldap.SERVER_DOWN | ldap.TIMEOUT | ldap.CONNECT_ERROR):
            conn, self._conn = self._conn, None
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.unbind_s()

    # ------------------------------------------------------------ pipelined adds
    def add_many(self, adds: Iterable[tuple[str, p.Attributes]]) -> list[p.Result]:
        """Add many entries with the requests pipelined (sent before the answers
        are read): one round trip's latency for the whole batch.  One result
        per entry, in order."""
        ldap = _ldap()
        try:
            self.connect()
        except DirectoryError as err:
            return [p.Result(p.ResultCode.SERVER_DOWN, message=err.reason) for _ in adds]
        msgids = []
        try:
            for dn, attrs in adds:
                msgids.append(self._conn.add_ext(dn, self.add_list(dn, attrs)))
        except ldap.LDAPError as err:
            self._drop_if_down(err)
            return [p.Result(_code(err), message=_describe(err)) for _ in adds]
        out = []
        for msgid in msgids:
            try:
                self._conn.result3(msgid)
                out.append(p.OK)
            except ldap.LDAPError as err:
                out.append(p.Result(_code(err), message=_describe(err)))
                if isinstance(err, ldap.SERVER_DOWN):
                    self._drop_if_down(err)
                    out += [p.Result(p.ResultCode.SERVER_DOWN)] * (len(msgids) - len(out))
                    break
        return out


_MOD_OPS = {p.ModOp.ADD: lambda ldap: ldap.MOD_ADD, p.ModOp.DELETE: lambda ldap: ldap.MOD_DELETE,
            p.ModOp.REPLACE: lambda ldap: ldap.MOD_REPLACE}


def _decode(attrs: dict[str, list[bytes]]) -> dict[str, p.Values]:
    return {k.lower(): tuple(v.decode("utf-8", "replace") for v in vs) for k, vs in attrs.items()}


def _code(err: Exception) -> p.ResultCode:
    ldap = _ldap()
    if isinstance(err, ldap.SERVER_DOWN | ldap.CONNECT_ERROR):
        return p.ResultCode.SERVER_DOWN
    if isinstance(err, ldap.TIMEOUT):
        return p.ResultCode.TIMEOUT
    info = err.args[0] if err.args and isinstance(err.args[0], dict) else {}
    return _CODES.get(int(info.get("result", -1)), p.ResultCode.UNWILLING_TO_PERFORM)


def _describe(err: Exception) -> str:
    """python-ldap's description and server text, on one line."""
    info = err.args[0] if err.args and isinstance(err.args[0], dict) else {}
    desc = str(info.get("desc", type(err).__name__))
    extra = str(info.get("info", "")).strip()
    code = info.get("result")
    text = f"{desc} ({code})" if code is not None else desc
    if extra:
        text += f": {extra}"
    return " ".join(text.split())
