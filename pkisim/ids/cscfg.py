"""Read and write the ``dbs.*`` keys of a Dogtag CS.cfg, keeping every other byte.

CS.cfg is a flat file of ``key=value`` lines.  Dogtag rewrites it sorted, with
its comments stored as ``_000=##`` keys; hand-edited files may also carry
``#`` comments and blank lines.  :class:`CSCfg` keeps the file as a list of
lines and touches only the lines of the keys that are set or removed, so
:meth:`CSCfg.text` reproduces the input exactly (line endings and final
newline included) until something is changed.

:func:`load_id_space` turns the ``dbs.*`` family of one ID space into an
:class:`~pkisim.ids.config.IdSpaceConfig`: every number is read in the radix
Dogtag reads it with, and an absent key takes Dogtag's code default, which is
a *string* parsed in that radix (``DatabaseConfig.java``; dogtag-ranges.md
section 1).  :func:`store_id_space` writes a changed configuration back the way
Dogtag writes it.  Every error is one line naming the file, the line and the key.
:data:`ID_SPACE_FIELDS` says which field of which ID space each key sets, for
readers of the same keys written elsewhere (a scenario file's ``[ca.ids]``).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple, overload

from pkisim.errors import ConfigError
from pkisim.ids.config import KEYS, IdKind, IdSpaceConfig, check_strategy, radix_for
from pkisim.ids.layout import CA, Subsystem, subsystem_of
from pkisim.ids.radix import Radix
from pkisim.limits import java_int, port

# Undecodable bytes survive a read/write round trip unchanged.
_ENCODING, _ERRORS = "utf-8", "surrogateescape"
#: The largest CS.cfg read (a real one has a few thousand lines).
MAX_BYTES = 64 << 20


@dataclass(slots=True)
class _Line:
    text: str  # without its line ending
    end: str  # "\n", "\r\n", or "" for a last line without newline
    key: str | None  # None for comments and blank lines


class CSCfg:
    """A CS.cfg file: ordered lines of ``key=value``, comments (#) and blanks,
    kept byte for byte except the keys we set.

    A key is the text before the first ``=``, without surrounding blanks; its
    value is the rest of the line, without leading blanks (as
    ``java.util.Properties`` reads it).  If a key occurs twice the last line
    wins, as in Dogtag.
    """

    def __init__(self, *, source: str = "<string>") -> None:
        self.source = source  # file name used in error messages
        self._lines: list[_Line] = []
        self._where: dict[str, int] = {}  # key -> index of its last line

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> CSCfg:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_BYTES + 1)
        except OSError as err:
            raise ConfigError("file", os.fspath(path),
                              f"cannot be read: {err.strerror or err}") from None
        if len(data) > MAX_BYTES:
            raise ConfigError("file", os.fspath(path), f"is larger than {MAX_BYTES >> 20} MiB: "
                                                       "not a CS.cfg")
        return cls.parse(data.decode(_ENCODING, _ERRORS), source=os.fspath(path))

    @classmethod
    def parse(cls, text: str, source: str = "<string>") -> CSCfg:
        cfg = cls(source=source)
        for number, (body, end) in enumerate(_split_lines(text), start=1):
            cfg._lines.append(_Line(body, end, _key_of(body, source, number)))
        cfg._reindex()
        return cfg

    def __repr__(self) -> str:
        return f"CSCfg(source={self.source!r}, {len(self._lines)} lines)"

    def __contains__(self, key: object) -> bool:
        return key in self._where

    @overload
    def get(self, key: str) -> str | None: ...
    @overload
    def get(self, key: str, default: str) -> str: ...
    @overload
    def get(self, key: str, default: str | None) -> str | None: ...

    def get(self, key: str, default: str | None = None) -> str | None:
        i = self._where.get(key)
        if i is None:
            return default
        return self._lines[i].text.partition("=")[2].lstrip()

    def line_of(self, key: str) -> int | None:
        """The 1-based line number of ``key``, or ``None`` if it is not set."""
        i = self._where.get(key)
        return None if i is None else i + 1

    def set(self, key: str, value: str) -> None:
        """Replace the line of ``key`` in place, or append ``key=value`` at the end."""
        self._check(key, value)
        i = self._where.get(key)
        if i is not None:
            self._lines[i].text = f"{key}={value}"  # keeps the line's own ending
            return
        end = self._newline()
        if self._lines and not self._lines[-1].end:
            # The file had no final newline: the new last line has none either.
            self._lines[-1].end, end = end, ""
        self._lines.append(_Line(f"{key}={value}", end, key))
        self._where[key] = len(self._lines) - 1

    def remove(self, key: str) -> None:
        """Delete every line of ``key``; nothing happens if it is not set."""
        if key not in self._where:
            return
        had_final_newline = bool(self._lines[-1].end)
        self._lines = [line for line in self._lines if line.key != key]
        if self._lines and not had_final_newline:
            self._lines[-1].end = ""
        self._reindex()

    def text(self) -> str:
        return "".join(line.text + line.end for line in self._lines)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Replace the file atomically, keeping its mode and (if allowed) owner.

        The text goes to a temporary file in the same directory, is fsynced and
        then renamed over the target, so a failure at any point leaves the old
        CS.cfg intact.  A symlink is followed, not replaced.  A new file gets
        mode 0600.
        """
        target = os.path.realpath(path)
        directory = os.path.dirname(target)
        try:
            old: os.stat_result | None = os.stat(target)
        except FileNotFoundError:
            old = None
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp",
                                   dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(self.text().encode(_ENCODING, _ERRORS))
                f.flush()
                os.fsync(f.fileno())
            if old is not None:
                os.chmod(tmp, stat.S_IMODE(old.st_mode))
                if hasattr(os, "chown"):
                    with contextlib.suppress(PermissionError):  # only root can give it back
                        os.chown(tmp, old.st_uid, old.st_gid)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_directory(directory)

    def _check(self, key: str, value: str) -> None:
        if not key or key != key.strip() or "=" in key or key[0] in "#!" or _breaks(key):
            raise ConfigError("key", key, "is not a CS.cfg key", source=self.source)
        if _breaks(value):
            raise ConfigError(key, value, "a CS.cfg value cannot span lines", source=self.source)

    def _newline(self) -> str:
        return next((line.end for line in self._lines if line.end), "\n")

    def _reindex(self) -> None:
        self._where = {line.key: i for i, line in enumerate(self._lines) if line.key is not None}


def _split_lines(text: str) -> list[tuple[str, str]]:
    """``(line, ending)`` pairs; only ``\\n`` and ``\\r\\n`` end a line."""
    *complete, last = text.split("\n")
    lines = [(p[:-1], "\r\n") if p.endswith("\r") else (p, "\n") for p in complete]
    if last:
        lines.append((last, ""))
    return lines


def _key_of(body: str, source: str, number: int) -> str | None:
    stripped = body.strip()
    if not stripped or stripped[0] in "#!":
        return None
    key = body.partition("=")[0].strip()
    if "=" not in body or not key:
        raise ConfigError("line", body, "is not key=value, a # comment or a blank line",
                          source=source, line=number)
    return key


def _breaks(text: str) -> bool:
    return "\n" in text or "\r" in text


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (not possible on every platform)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------- dbs.* keys

_GENERATORS = ("legacy", "legacy2", "random")  # Dogtag's Repository.IDGenerator


class _Defaults(NamedTuple):
    """Dogtag's code defaults: strings, parsed in the repository's radix."""

    begin: str
    end: str
    increment: str
    low_water_mark: str


_CODE_DEFAULTS = {
    IdKind.CERT: _Defaults("0", "1000000000", "1000000000", "5000"),
    IdKind.REQUEST: _Defaults("0", "1000000000", "1000000000", "5000"),
    IdKind.REPLICA: _Defaults("1", "1000", "1000", "10"),
}
_CODE_DEFAULTS[IdKind.KEY] = _CODE_DEFAULTS[IdKind.CERT]
_CODE_DEFAULTS[IdKind.KEY_REQUEST] = _CODE_DEFAULTS[IdKind.REQUEST]

#: The radix key Dogtag honours per ID space, and the values pkisim's radix_for() assumes.
_RADIX_KEYS = {
    IdKind.CERT: ("dbs.cert.id.radix", ("16",)),
    IdKind.REQUEST: ("dbs.request.id.radix", ("10",)),
    IdKind.REPLICA: ("dbs.numberRangeRadix", ("10", "-1")),
    IdKind.KEY: ("dbs.key.id.radix", ("16",)),
    IdKind.KEY_REQUEST: ("dbs.request.id.radix", ("10",)),
}

#: Where CS.cfg records the EE HTTPS port, most specific first.  Dogtag asks
#: Tomcat's server.xml, overridden by ``proxy.securePort``; CS.cfg mirrors it.
_PORT_KEYS = ("proxy.securePort", "service.non_clientauth_securePort",
              "pkicreate.ee_secure_port", "service.securePort", "pkicreate.secure_port")
_DEFAULT_PORT = 8443
_SERIAL_MANAGEMENT = "dbs.enableSerialManagement"
_UPDATE_INTERVAL = CA.update_key
_NO_NEXT = ("", "-1")  # Dogtag's "no next range"
_RANGE_FIELDS = ("begin", "end", "next_begin", "next_end", "increment", "low_water_mark",
                 "clone_transfer_number")


def _id_key(kind: IdKind) -> str:
    """``dbs.<repository>.id``: a KRA's request repository is ``request`` too."""
    return "dbs.request.id" if kind is IdKind.KEY_REQUEST else f"dbs.{kind.value}.id"


def _id_length_key(kind: IdKind) -> str:
    return f"{_id_key(kind)}.length"


#: The CS.cfg keys that set an :class:`IdSpaceConfig` field: key -> (the ID space
#: it configures, ``None`` for all three; the field).  The replica ID space has no
#: length key: its IDs are ranged in every mode.
ID_SPACE_FIELDS: Mapping[str, tuple[IdKind | None, str]] = {
    **{f"dbs.{getattr(KEYS[kind], field)}": (kind, field)
       for kind in CA.spaces for field in _RANGE_FIELDS},
    _SERIAL_MANAGEMENT: (None, "serial_management"),
    _UPDATE_INTERVAL: (None, "update_interval"),
    _id_length_key(IdKind.CERT): (IdKind.CERT, "id_length"),
    _id_length_key(IdKind.REQUEST): (IdKind.REQUEST, "id_length"),
}


def strategy_from_cscfg(cfg: CSCfg, kind: IdKind, *, subsystem: Subsystem | None = None) -> str:
    """The pkisim strategy a CS.cfg selects for one ID space.

    ``dbs.cert.id.generator`` / ``dbs.request.id.generator`` (a KRA's
    ``dbs.key.id.generator``; ``legacy`` when absent); legacy certificates
    with ``dbs.enableRandomSerialNumbers=true`` are RSNv1, ``legacy-random``.
    Replica IDs are always ranged and follow the main generator of
    ``subsystem`` (the CA's by default): ``legacy2`` or else ``legacy``.
    """
    if kind is IdKind.REPLICA:
        main = (subsystem or CA).main
        return "legacy2" if strategy_from_cscfg(cfg, main) == "legacy2" else "legacy"
    key = f"{_id_key(kind)}.generator"
    generator = cfg.get(key, "legacy").strip()
    if generator not in _GENERATORS:
        raise _error(cfg, key, "is not a Dogtag ID generator (legacy, legacy2 or random)")
    if (generator == "legacy" and kind is IdKind.CERT
            and _boolean(cfg, "dbs.enableRandomSerialNumbers", default=False)):
        return "legacy-random"
    return generator


def load_id_space(cfg: CSCfg, kind: IdKind, *, strategy: str | None = None,
                  subsystem: Subsystem | None = None) -> IdSpaceConfig:
    """One ID space of the CA (or the ``subsystem``) that ``cfg`` configures.

    ``strategy`` overrides the one the file selects.  RSNv3 (``random``) never
    reads the range keys, so neither does this: its ranges are the defaults.
    """
    sub = subsystem or subsystem_of(kind)
    strategy = (strategy_from_cscfg(cfg, kind, subsystem=sub) if strategy is None
                else check_strategy(strategy))
    ranges = _ranges(cfg, kind, strategy)
    settings = {
        "serial_management": _boolean(cfg, _SERIAL_MANAGEMENT, default=False),
        # Dogtag treats any interval <= 0 as "task disabled".
        "update_interval": max(0, _integer(cfg, sub.update_key, 600)),
        "id_length": 128 if kind is IdKind.REPLICA else _integer(cfg, _id_length_key(kind), 128),
        "host": cfg.get("machineName", "localhost").strip(),
        "secure_port": _secure_port(cfg),
    }
    # States Dogtag writes itself: a range emptied by transfers (end = begin - 1)
    # and a next range a transfer larger than it cut below its begin.
    begin, end = ranges["begin"], ranges["end"]
    next_begin, next_end = ranges.get("next_begin"), ranges.get("next_end")
    settings["depleted"] = begin is not None and end is not None and end == begin - 1
    settings["next_overrun"] = (next_begin is not None and next_end is not None
                                and next_end < next_begin)
    try:
        return IdSpaceConfig(kind=kind, strategy=strategy, **ranges, **settings)  # type: ignore[arg-type]
    except ConfigError as err:  # a value that parses but cannot work together with the others
        raise _located(cfg, err) from None


def load_ca(cfg: CSCfg) -> dict[IdKind, IdSpaceConfig]:
    """All three ID spaces of the CA that ``cfg`` configures."""
    return load_subsystem(cfg, CA)


def load_subsystem(cfg: CSCfg, subsystem: Subsystem) -> dict[IdKind, IdSpaceConfig]:
    """All three ID spaces of the ``subsystem`` (CA, KRA) that ``cfg`` configures.
    A KRA's CS.cfg names its key IDs with the serial keys (``dbs.beginSerialNumber``,
    radix ``dbs.key.id.radix``) and its update task ``kra.keyStatusUpdateInterval``."""
    return {kind: load_id_space(cfg, kind, subsystem=subsystem) for kind in subsystem.spaces}


def store_id_space(cfg: CSCfg, config: IdSpaceConfig) -> None:
    """Write ``config`` into ``cfg`` the way Dogtag writes it.

    Only values that differ from what the file says are rewritten, in the radix
    Dogtag writes (SSNv1 certificates: hex without prefix; SSNv2 certificates:
    ``0x...``; everything else decimal); a value that did not change keeps its
    text.  A missing next range removes the ``next*`` keys, as Dogtag does after
    a switch.  The file must already select ``config.strategy``: changing the
    ID generator is a migration (``pki-server ca-id-generator-update``).
    """
    selected = strategy_from_cscfg(cfg, config.kind)
    if config.strategy != selected:
        key = f"{_id_key(IdKind.CERT if config.kind is IdKind.REPLICA else config.kind)}.generator"
        raise ConfigError(key, cfg.get(key, "legacy"), f"selects {selected!r}, not "
                          f"{config.strategy!r}; changing the ID generator is a migration, "
                          "not a store", source=cfg.source, line=cfg.line_of(key))
    if config.strategy != "random":
        keys, radix, defaults = config.keys, config.radix, _CODE_DEFAULTS[config.kind]
        _put(cfg, keys.begin, config.begin, radix, defaults.begin)
        _put(cfg, keys.end, config.end, radix, defaults.end)
        _put(cfg, keys.next_begin, config.next_begin, radix, None, none=_NO_NEXT)
        _put(cfg, keys.next_end, config.next_end, radix, None, none=_NO_NEXT)
        _put(cfg, keys.increment, config.increment, radix, defaults.increment)
        _put(cfg, keys.low_water_mark, config.low_water_mark, radix, defaults.low_water_mark)
        _put(cfg, keys.clone_transfer_number, config.clone_transfer_number, radix, None,
             none=("",))
    with contextlib.suppress(ConfigError):  # an unreadable flag is simply overwritten
        if _boolean(cfg, _SERIAL_MANAGEMENT, default=False) == config.serial_management:
            return
    cfg.set(_SERIAL_MANAGEMENT, "true" if config.serial_management else "false")


# --------------------------------------------------------------------------- helpers


def _ranges(cfg: CSCfg, kind: IdKind, strategy: str) -> dict[str, int | None]:
    radix, keys, defaults = radix_for(kind, strategy), KEYS[kind], _CODE_DEFAULTS[kind]
    if strategy == "random":
        return {field: radix.parse(text) for field, text in defaults._asdict().items()}
    _check_radix_key(cfg, kind)
    ranges = {field: _number(cfg, getattr(keys, field), radix, text)
              for field, text in defaults._asdict().items()}
    ranges["clone_transfer_number"] = _number(cfg, keys.clone_transfer_number, radix, None,
                                              none=("",))
    ranges["next_begin"] = _number(cfg, keys.next_begin, radix, None, none=_NO_NEXT)
    ranges["next_end"] = _number(cfg, keys.next_end, radix, None, none=_NO_NEXT)
    _check_next_pair(cfg, kind, ranges["next_begin"], ranges["next_end"])
    return ranges


def _number(cfg: CSCfg, name: str, radix: Radix, default: str | None, *,
            none: tuple[str, ...] = ()) -> int | None:
    """``dbs.<name>`` in ``radix``; the default text when absent; ``None`` for ``none`` texts."""
    key = f"dbs.{name}"
    text = cfg.get(key, default)
    if text is None or text.strip() in none:
        return None
    try:
        return radix.parse(text, key=key)
    except ConfigError as err:
        raise _located(cfg, err) from None


def _put(cfg: CSCfg, name: str, value: int | None, radix: Radix, default: str | None, *,
         none: tuple[str, ...] = ()) -> None:
    """Make ``dbs.<name>`` say ``value`` (``None``: remove it), keeping text that already does."""
    with contextlib.suppress(ConfigError):  # an unreadable value is simply overwritten
        if _number(cfg, name, radix, default, none=none) == value:
            return
    if value is None:
        cfg.remove(f"dbs.{name}")
    else:
        cfg.set(f"dbs.{name}", radix.format(value))


def _check_next_pair(cfg: CSCfg, kind: IdKind, begin: int | None, end: int | None) -> None:
    if (begin is None) == (end is None):
        return
    keys = KEYS[kind]
    present, missing = ((keys.next_begin, keys.next_end) if begin is not None
                        else (keys.next_end, keys.next_begin))
    raise _error(cfg, f"dbs.{present}", f"is set but dbs.{missing} is not")


def _check_radix_key(cfg: CSCfg, kind: IdKind) -> None:
    key, supported = _RADIX_KEYS[kind]
    value = cfg.get(key)
    if value is not None and value.strip() not in supported:
        raise _error(cfg, key, f"is not supported: pkisim reads these ranges in radix "
                               f"{supported[0]}, Dogtag's default")


def _boolean(cfg: CSCfg, key: str, *, default: bool) -> bool:
    value = cfg.get(key)
    if value is None:
        return default
    if value.strip().lower() not in ("true", "false"):
        raise _error(cfg, key, "is not true or false")
    return value.strip().lower() == "true"


def _integer(cfg: CSCfg, key: str, default: int) -> int:
    value = cfg.get(key)
    if value is None:
        return default
    try:
        return java_int(value, key)
    except ConfigError as err:
        raise _located(cfg, err) from None


def _secure_port(cfg: CSCfg) -> int:
    key = next((k for k in _PORT_KEYS if cfg.get(k, "").strip()), None)
    if key is None:
        return _DEFAULT_PORT
    try:
        return port(_integer(cfg, key, _DEFAULT_PORT), key)
    except ConfigError as err:
        raise _located(cfg, err) from None


def _error(cfg: CSCfg, key: str, reason: str) -> ConfigError:
    return ConfigError(key, cfg.get(key), reason, source=cfg.source, line=cfg.line_of(key))


def _located(cfg: CSCfg, err: ConfigError) -> ConfigError:
    """``err`` pointed at its key's line in ``cfg``, with the value as written there."""
    written = cfg.get(err.key)
    if written is None:  # the value came from a default, not from the file
        return ConfigError(err.key, err.value, f"{err.reason} (the key is not set: this is "
                           "Dogtag's default)", source=cfg.source)
    return ConfigError(err.key, written, err.reason, source=cfg.source, line=cfg.line_of(err.key))
