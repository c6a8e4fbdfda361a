"""The builder: a scenario document in, the dataclasses of :mod:`pkisim.sim.config` out.

:func:`build_scenario` applies the overrides, reads every section through the
converters of :mod:`pkisim.scenario.values` (the ID spaces through
:mod:`pkisim.scenario.ids`, or a CA's CS.cfg through :mod:`pkisim.ids.cscfg`),
checks what the dataclasses cannot see alone (one master, names that exist,
donors that exist first) and re-keys every error to the file's dotted key path,
which :func:`pkisim.scenario.document.placed` then puts on its line.

``strategy=`` (the CLI's ``--strategy``) changes the strategy of every CA but
keeps every number the number it was in the file: values are read in the
strategy the file names.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pkisim.errors import ConfigError
from pkisim.ids.config import IdKind, IdSpaceConfig, check_strategy
from pkisim.ids.cscfg import CSCfg, load_ca
from pkisim.ids.subsystem import master_configs, replica_strategy
from pkisim.scenario.document import placed, read_document
from pkisim.scenario.ids import BEGIN_END, IdEntries, id_changes, id_entries, id_error
from pkisim.scenario.keys import MISSING, KeyPath, dotted, parse_key, set_value, value_at
from pkisim.scenario.kra import kra_spec
from pkisim.scenario.subsystems import (
    OCSP_KEYS,
    TKS_KEYS,
    drift_spec,
    ocsp_spec,
    subsystem_spec,
)
from pkisim.scenario.values import (
    INT64,
    Converter,
    Table,
    boolean,
    bounded,
    check_known,
    distribution,
    duration,
    duration_with_unit,
    integer,
    number,
    per_day,
    rate,
    renamed,
    string,
    strings,
)
from pkisim.sim import config as sim
from pkisim.sim.config import CaSpec, Scenario
from pkisim.sim.workload import read_trace

_TOP = ("name", "description", "duration", "seed", "strategy", "start_date", "throughput_bin",
        "directory", "workload", "load_balancer", "crl", "defaults", "ca", "faults",
        "random_faults", "metrics", "tks", "ocsp", "drift", "kra")
_DISTRIBUTIONS = ("enroll", "revoke", "crl_fetch", "crl_generation", "directory_latency")
_CA_DEFAULTS = ("workers", "kra_connector", *_DISTRIBUTIONS)
_CA_KEYS = ("name", "role", "replica", "donor", "created_at", "decommissioned_at", "crl_master",
            "cs_cfg", "ids", *_CA_DEFAULTS)
_CA_TARGETS = ("crash", "maintenance", "crl-down", "crl-move")
#: Worker threads of one CA (Tomcat's maxThreads is usually a few hundred), and a
#: client's retries of one request: beyond these a run is a mistake, not a plan.
_WORKERS = bounded(1, 100_000, " (worker threads of one CA)")
MAX_RETRIES = 1000


def build_scenario(data: Mapping[str, Any], source: str, text: str | None, base_dir: Path,
                   overrides: Mapping[str, object] | None, strategy: str | None) -> Scenario:
    """The scenario that ``data`` describes, with ``overrides`` set and every CA
    in ``strategy`` if given.  Errors name ``source``, and the line in ``text``
    (the file as written) when there is one."""
    data = copy.deepcopy(dict(data))
    overridden: list[KeyPath] = []
    try:
        for key, value in (overrides or {}).items():
            overridden.append(parse_key(str(key), value))
            set_value(data, overridden[-1], value)
    except ConfigError as err:
        raise err.with_source(f"{source} (override)") from None
    try:
        if strategy is not None:
            check_strategy(strategy, key="--strategy")
        return _Builder(data, base_dir, source, strategy).scenario()
    except ConfigError as err:
        raise placed(err, data, source, text, overridden) from None


def locate(err: ConfigError, path: str | os.PathLike[str],
           overrides: Mapping[str, object] | None = None) -> ConfigError:
    """``err``, about a key of the scenario in ``path`` (an estimate over budget),
    with the file and the line of the key that set the value: a CA's
    ``ids.serialNumberUpdateInterval`` may come from ``[defaults.ids]`` or its
    ``cs_cfg``."""
    source = os.fspath(path)
    data, text = read_document(path)
    overridden = [parse_key(str(k)) for k in overrides or {}]
    for key, value in zip(overridden, (overrides or {}).values(), strict=True):
        set_value(data, key, value)
    key = parse_key(err.key)
    candidates = [key]
    if len(key) == 4 and key[0] == "ca" and key[2] == "ids":
        candidates += [("defaults", "ids", key[3]), ("ca", key[1], "cs_cfg")]
    found = next((c for c in candidates if value_at(data, c) is not MISSING), key)
    return placed(ConfigError(dotted(found), err.value, err.reason), data, source, text,
                  overridden)


class _Builder:
    """Reads one scenario document into the dataclasses of :mod:`pkisim.sim.config`."""

    def __init__(self, data: dict[str, Any], base_dir: Path, source: str,
                 strategy: str | None) -> None:
        self.top = Table(data, (), _TOP)
        self.base_dir, self.source = base_dir, source
        #: The strategy the file's ID values are written for, and the one the CAs use.
        self.file_strategy = check_strategy(self.top.get("strategy", string, "legacy2"),
                                            key="strategy")
        self.strategy = strategy or self.file_strategy
        self.start = self.top.get("start_date", self._date, dt.datetime(2026, 1, 1))
        self.directory = self.directory_spec()
        self.replicas = self.directory.replicas
        self.ca_tables = self.top.tables("ca", _CA_KEYS)
        if not self.ca_tables:
            raise ConfigError("ca", None, "a scenario needs at least one [[ca]]")
        self.ca_names: list[str] = []
        for table in self.ca_tables:
            name = table.require("name", string)
            if name in self.ca_names:
                raise ConfigError(dotted(table.at("name")), name, "another CA has this name")
            self.ca_names.append(name)
            role = table.get("role", string, "clone")
            if role not in ("master", "clone"):
                raise ConfigError(dotted(table.at("role")), role, "choose master or clone")
        masters = [t for t in self.ca_tables if t.data.get("role") == "master"]
        if len(masters) != 1:
            where = masters[1].at("role") if masters else ("ca",)
            raise ConfigError(dotted(where), "master" if masters else None,
                              "exactly one [[ca]] must have role = \"master\"")

    def scenario(self) -> Scenario:
        top = self.top
        defaults = top.table("defaults", ("ca", "ids"))
        ca_defaults = self.ca_defaults(defaults.table("ca", _CA_DEFAULTS))
        default_ids = id_entries(defaults.data.get("ids", {}), ("defaults", "ids"))
        id_changes(default_ids, self.file_strategy)  # read even if no CA takes them (cs_cfg, donor)
        cas = tuple(self.ca(t, ca_defaults, default_ids) for t in self.ca_tables)
        self.check_donors(cas)
        name = top.get("name", string, Path(self.source).stem if "<" not in self.source
                       else "scenario")
        seed = top.get("seed", bounded(0, INT64[1]), 0)
        bin_ = top.get("throughput_bin", duration, 60.0)
        if bin_ <= 0:
            raise ConfigError("throughput_bin", bin_, "must be > 0 seconds")
        return Scenario(
            name=name, duration=top.require("duration", duration), cas=cas,
            strategy=self.strategy, seed=seed, description=top.get("description", string, ""),
            directory=self.directory, workload=self.workload(),
            load_balancer=self.load_balancer(), crl=self.crl(), faults=self.faults(),
            random_faults=self.random_faults(), start_date=self.start.date().isoformat(),
            throughput_bin=bin_, kra=kra_spec(top, self.replicas),
            requests_table=top.table("metrics", ("requests",)).get("requests", string, "full"),
            **self.rest_of_pki())

    def rest_of_pki(self) -> dict[str, Any]:
        """``[tks]``, ``[ocsp]``, ``[drift]`` (:mod:`pkisim.scenario.subsystems`)."""
        top, out = self.top, {}
        if "tks" in top:
            out["tks"] = subsystem_spec("TKS", top.table("tks", TKS_KEYS), self.replicas,
                                        self.strategy, self._time)
        if "ocsp" in top:
            out["ocsp"] = ocsp_spec(top.table("ocsp", OCSP_KEYS), self.replicas, self.ca_names,
                                    self.strategy, self._time)
        if "drift" in top:
            out["drift"] = drift_spec(top.table("drift", ("profiles",)), self._time)
        return out

    # -- times

    def _date(self, value: object, path: KeyPath) -> dt.datetime:
        if isinstance(value, dt.datetime | dt.date):
            date = value
        elif isinstance(value, str):
            try:
                date = dt.date.fromisoformat(value)
            except ValueError:
                raise ConfigError(dotted(path), value, "is not an ISO date such as "
                                                        "2026-01-01") from None
        else:
            raise ConfigError(dotted(path), value, "must be a date such as 2026-01-01")
        if isinstance(date, dt.datetime):
            return date.replace(tzinfo=None)
        return dt.datetime.combine(date, dt.time())

    def _time(self, value: object, path: KeyPath) -> float:
        """A point in simulated time: a duration from the start, or a TOML date/time."""
        if isinstance(value, dt.date | dt.datetime):
            seconds = (self._date(value, path) - self.start).total_seconds()
            if seconds < 0:
                raise ConfigError(dotted(path), value, f"is before start_date "
                                                        f"{self.start.date().isoformat()}")
            return seconds
        return duration(value, path)

    # -- sections

    def directory_spec(self) -> sim.DirectorySpec:
        table = self.top.table("directory", ("replicas", "lag"))
        return sim.DirectorySpec(replicas=table.get("replicas", strings, ("ds1",)),
                                 lag=table.get("lag", duration, 0.5))

    def workload(self) -> sim.Workload:
        table = self.top.table("workload", (
            "enroll_rate", "revoke_rate", "crl_fetch_rate", "diurnal_amplitude", "peak_hour",
            "key_archival_fraction", "clients", "trace", "bursts", "retry"))
        peak_hour = table.get("peak_hour", number, 14.0)
        if not 0 <= peak_hour < 24:
            raise ConfigError("workload.peak_hour", peak_hour, "must be in [0, 24)")
        bursts = tuple(sim.Burst(start=b.require("start", self._time),
                                 duration=b.require("duration", duration),
                                 factor=b.require("factor", number))
                       for b in table.tables("bursts", ("start", "duration", "factor")))
        retry = table.table("retry", ("max_retries", "backoff", "timeout"))
        max_retries = retry.get("max_retries", bounded(0, MAX_RETRIES), 2)
        timeout = retry.get("timeout", duration, 30.0)
        if timeout <= 0:
            raise ConfigError("workload.retry.timeout", timeout, "must be > 0 seconds")
        trace = table.get("trace", self._trace, None)
        if trace is not None and "enroll_rate" in table:
            raise ConfigError("workload.enroll_rate", table.data["enroll_rate"],
                              "the trace replaces Poisson enrollments: give one or the other")
        return sim.Workload(
            enroll_rate=table.get("enroll_rate", rate, 0.0 if trace else 1.0),
            revoke_rate=table.get("revoke_rate", rate, 0.0),
            crl_fetch_rate=table.get("crl_fetch_rate", rate, 0.0),
            diurnal_amplitude=table.get("diurnal_amplitude", number, 0.0),
            peak_hour=peak_hour, bursts=bursts,
            trace=trace,
            key_archival_fraction=table.get("key_archival_fraction", number, 0.0),
            clients=table.get("clients", integer, 1000),
            retry=sim.RetryPolicy(max_retries=max_retries, timeout=timeout,
                                  backoff=retry.get("backoff", duration, 5.0)))

    def _trace(self, value: object, path: KeyPath) -> str:
        """The trace's absolute path, after reading it as the simulation will."""
        file = str((self.base_dir / string(value, path)).resolve())
        try:
            read_trace(file)
        except ConfigError as err:
            raise ConfigError(dotted(path), value, f"{file}: {err.reason}") from None
        return file

    def load_balancer(self) -> sim.LoadBalancer:
        table = self.top.table("load_balancer", ("policy", "health_interval",
                                                 "failure_threshold"))
        return sim.LoadBalancer(
            policy=table.get("policy", string, "round-robin"),  # type: ignore[arg-type]
            health_interval=table.get("health_interval", duration, 10.0),
            failure_threshold=table.get("failure_threshold", integer, 3))

    def crl(self) -> sim.CrlSpec:
        table = self.top.table("crl", ("auto_update_interval", "always_update",
                                       "listen_to_clone_modifications", "cache_rebuild_interval",
                                       "clone_mode"))
        interval = table.get("cache_rebuild_interval", duration_with_unit, 86400.0)
        if interval <= 0:
            raise ConfigError("crl.cache_rebuild_interval", interval, "must be > 0")
        return sim.CrlSpec(
            auto_update_interval=table.get("auto_update_interval", duration_with_unit, 14400.0),
            always_update=table.get("always_update", boolean, False),
            listen_to_clone_modifications=table.get("listen_to_clone_modifications", boolean, True),
            cache_rebuild_interval=interval,
            clone_mode=table.get("clone_mode", string, "replicated"))  # type: ignore[arg-type]

    def faults(self) -> tuple[sim.Fault, ...]:
        out = []
        for i, table in enumerate(self.top.tables("faults", ("kind", "target", "at", "duration",
                                                              "lag"))):
            kind = table.require("kind", string)
            with renamed("faults", ("faults", i)):
                out.append(sim.Fault(kind=kind, at=table.require("at", self._time),
                                     target=table.require("target", self._target(kind)),
                                     duration=table.get("duration", duration, None),
                                     lag=table.get("lag", duration, None)))
        return tuple(out)

    def _target(self, kind: str) -> Converter[str | tuple[tuple[str, ...], ...]]:
        def convert(value: object, path: KeyPath) -> str | tuple[tuple[str, ...], ...]:
            if kind == "partition":
                groups = value if isinstance(value, list) else None
                if not groups or not all(isinstance(g, list) for g in groups):
                    raise ConfigError(dotted(path), value, 'a partition target is a list of '
                                                            'replica groups: [["ds1"], ["ds2"]]')
                seen: set[object] = set()
                for j, group in enumerate(groups):
                    for k, name in enumerate(group):
                        check_known(name, self.replicas, (*path, j, k), "directory.replicas")
                        if name in seen:
                            raise ConfigError(dotted((*path, j, k)), name,
                                              "is in two groups: the groups must be disjoint")
                        seen.add(name)
                return tuple(tuple(g) for g in groups)
            name = string(value, path)
            if kind in _CA_TARGETS:
                check_known(name, self.ca_names, path, "the CA names")
            elif kind == "replica-down":
                check_known(name, self.replicas, path, "directory.replicas")
            return name
        return convert

    def random_faults(self) -> sim.RandomFaults:
        table = self.top.table("random_faults", ("mean_duration", "spike_lag", "rates_per_day"))
        kinds = [k for k in sim.FAULT_KINDS if k != "crl-move"]
        rates = table.table("rates_per_day", kinds)
        mean = table.get("mean_duration", duration, 600.0)
        if mean <= 0:
            raise ConfigError("random_faults.mean_duration", mean, "must be > 0 seconds")
        rates_per_day = {kind: rates.require(kind, per_day) for kind in rates.data}
        with renamed("random_faults", ("random_faults", "rates_per_day")):
            return sim.RandomFaults(rates_per_day=rates_per_day, mean_duration=mean,
                                    spike_lag=table.get("spike_lag", duration, 60.0))

    # -- CAs

    def ca_defaults(self, table: Table) -> dict[str, Any]:
        """``[defaults.ca]`` over CaSpec's own defaults."""
        fields = {f.name: f.default for f in dataclasses.fields(CaSpec)}
        out = {name: fields[name] for name in _CA_DEFAULTS}
        out["workers"] = table.get("workers", _WORKERS, out["workers"])
        out["kra_connector"] = table.get("kra_connector", boolean, out["kra_connector"])
        for name in _DISTRIBUTIONS:
            out[name] = table.get(name, distribution(out[name]), out[name])
        return out

    def ca(self, table: Table, defaults: dict[str, Any], default_ids: IdEntries) -> CaSpec:
        name = table.require("name", string)
        role = table.get("role", string, "clone")
        if len(self.replicas) == 1:
            replica = table.get("replica", string, self.replicas[0])
        else:
            replica = table.require("replica", string)
        check_known(replica, self.replicas, table.at("replica"), "directory.replicas")
        donor = table.get("donor", string, None)
        if donor is not None:
            check_known(donor, self.ca_names, table.at("donor"), "the CA names")
            if role == "master":
                raise ConfigError(dotted(table.at("donor")), donor, "a master has no donor")
        options: dict[str, Any] = {
            "workers": table.get("workers", _WORKERS, defaults["workers"]),
            "kra_connector": table.get("kra_connector", boolean, defaults["kra_connector"])}
        for key in _DISTRIBUTIONS:
            options[key] = table.get(key, distribution(defaults[key]), defaults[key])
        with renamed(f"ca.{name}", table.path):
            return CaSpec(name=name, replica=replica, role=role,  # type: ignore[arg-type]
                          donor=donor, created_at=table.get("created_at", self._time, 0.0),
                          decommissioned_at=table.get("decommissioned_at", self._time, None),
                          crl_master=table.get("crl_master", boolean, False),
                          ids=self.ids(table, name, role, donor, default_ids), **options)

    def check_donors(self, cas: tuple[CaSpec, ...]) -> None:
        order = {ca.name: i for i, ca in enumerate(cas)}
        for ca, table in zip(cas, self.ca_tables, strict=True):
            if ca.donor is None:
                continue
            donor = cas[order[ca.donor]]
            if donor.name == ca.name:
                raise ConfigError(dotted(table.at("donor")), ca.donor, "a CA cannot be its own "
                                                                        "donor")
            if (donor.created_at, order[donor.name]) > (ca.created_at, order[ca.name]):
                raise ConfigError(dotted(table.at("donor")), ca.donor,
                                  "the donor must exist first: give it an earlier created_at, "
                                  "or list it before this CA")
            if donor.decommissioned_at is not None and donor.decommissioned_at <= ca.created_at:
                raise ConfigError(dotted(table.at("donor")), ca.donor,
                                  "the donor is decommissioned before this clone is created")

    def ids(self, table: Table, name: str, role: str, donor: str | None,
            default_ids: IdEntries) -> dict[IdKind, IdSpaceConfig] | None:
        """The CA's ID spaces: from its CS.cfg, or pkispawn's values under
        ``[defaults.ids]`` under ``[ca.ids]``; ``None`` for a clone whose ranges
        come by transfer from its donor."""
        own = id_entries(table.data.get("ids", {}), table.at("ids"))
        if "cs_cfg" in table:
            return self.apply_ids(self.from_cscfg(table), own, {}, table.at("ids"),
                                  f"the value in {table.data['cs_cfg']}")
        if role == "clone" and not own.keys() & BEGIN_END:
            if donor is not None and own:
                value, path = next(iter(own.values()))
                raise ConfigError(dotted(path), value,
                                  f"clone {name} gets its ranges by transfer from {donor} and "
                                  "takes these settings from it; give this CA begin/end keys "
                                  "or a cs_cfg to configure its own, or use [defaults.ids]")
            return None  # by transfer (or CaSpec's "a clone needs a donor")
        base = master_configs(self.strategy, host=name, serial_management=role == "clone")
        return self.apply_ids(base, own, default_ids, table.at("ids"), "pkispawn's value")

    def apply_ids(self, base: dict[IdKind, IdSpaceConfig], own: IdEntries,
                  default_ids: IdEntries, ids_path: KeyPath,
                  origin: str) -> dict[IdKind, IdSpaceConfig]:
        """``base`` with the scenario's values (``[ca.ids]`` over ``[defaults.ids]``),
        in the scenario's strategy."""
        entries = {**default_ids, **own}
        changes = id_changes(entries, self.file_strategy)
        out = {}
        for kind, config in base.items():
            strategy = replica_strategy(self.strategy) if kind is IdKind.REPLICA else self.strategy
            try:
                out[kind] = config.evolve(strategy=strategy, **changes[kind])
            except ConfigError as err:
                raise id_error(err, entries, ids_path, origin) from None
        return out

    def from_cscfg(self, table: Table) -> dict[IdKind, IdSpaceConfig]:
        value = table.require("cs_cfg", string)
        key = dotted(table.at("cs_cfg"))
        file = self.base_dir / value
        try:
            found = file.is_file()
        except OSError as err:  # a name too long, a loop of links
            raise ConfigError(key, value, f"cannot be read: {err.strerror or err}") from None
        if not found:
            raise ConfigError(key, value, f"no such file: {file}")
        try:
            configs = load_ca(CSCfg.read(file))
        except ConfigError as err:
            raise ConfigError(key, value, str(err)) from None
        if self.strategy == self.file_strategy:  # no --strategy: the file must agree
            for kind in (IdKind.CERT, IdKind.REQUEST):
                if configs[kind].strategy != self.strategy:
                    raise ConfigError(key, value, f"{file} selects {configs[kind].strategy!r} "
                                      f"for {kind.value} IDs but the scenario's strategy is "
                                      f"{self.strategy!r}: make them agree, or use --strategy")
        return configs
