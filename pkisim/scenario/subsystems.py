"""``[tks]``, ``[ocsp]`` and ``[drift]``: the rest of the PKI in a scenario file.

::

    [ocsp]                      # OCSP master and clones (pkisim.sim.ocsp)
    request_rate = "20/s"       # OCSP requests across the instances
    revoked_share = 0.5         # ... about a certificate revoked in the last
    revoked_for = "1d"          #     revoked_for (the others: good certificates)
    publish_latency = "0.5s"    # CRL CA -> OCSP master
    publishing_cas = ["ca1"]    # CAs with the OCSP publisher (default: the CRL CA)
    suffix = "o=pki-tomcat-OCSP"   # the OCSP database's base DN
    topology = "o=pki-tomcat-OCSP" # the replicated suffix it joins (default: suffix)
    replica_ids = { beginReplicaNumber = 1, endReplicaNumber = 100 }  # CS.cfg dbs.* keys
    [[ocsp.instance]]           # name, role (master/clone), replica, donor, created_at
    [[ocsp.faults]]             # kind = "down" (target: an instance) or "publish-fail"

    [tks]                       # the same minus the OCSP keys: suffix, topology,
    [[tks.instance]]            # replica_ids, directory_latency, instances, faults

    [[drift.profiles]]          # pkisim.sim.drift: name, added_at, share, storage

Errors name the key as written (``ocsp.instance[2].donor``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pkisim.errors import ConfigError
from pkisim.ids.config import IdKind
from pkisim.scenario.ids import id_changes, id_entries
from pkisim.scenario.keys import KeyPath, dotted
from pkisim.scenario.values import (
    Table,
    check_known,
    distribution,
    duration,
    number,
    rate,
    renamed,
    string,
    strings,
)
from pkisim.sim.drift import DriftSpec, ProfileSpec
from pkisim.sim.ocsp import OcspSpec
from pkisim.sim.tks import LDAP_LATENCY, InstanceSpec, OutageSpec, SubsystemSpec

Time = Callable[[object, KeyPath], float]

_COMMON = ("suffix", "topology", "replica_ids", "directory_latency", "instance", "faults")
_OCSP = ("request_rate", "revoked_share", "revoked_for", "publish_latency", "publishing_cas")
_INSTANCE = ("name", "role", "replica", "donor", "created_at")


def subsystem_spec(kind: str, table: Table, replicas: tuple[str, ...], strategy: str,
                   time: Time) -> SubsystemSpec:
    """``[tks]`` or the subsystem part of ``[ocsp]``."""
    key = kind.lower()
    instances = []
    rows = table.tables("instance", _INSTANCE)
    if not rows:
        raise ConfigError(key, None, f"[{key}] needs [[{key}.instance]] tables")
    names = [row.require("name", string) for row in rows]
    for row, name in zip(rows, names, strict=True):
        role = row.get("role", string, "clone")
        if role not in ("master", "clone"):
            raise ConfigError(dotted(row.at("role")), role, "choose master or clone")
        replica = row.require("replica", string)
        check_known(replica, replicas, row.at("replica"), "directory.replicas")
        donor = row.get("donor", string, None)
        if role == "clone":
            if donor is None:
                raise ConfigError(dotted(row.at("donor")), None, "a clone needs a donor")
            check_known(donor, names, row.at("donor"), f"the {kind} instance names")
            if names.index(donor) >= names.index(name):
                raise ConfigError(dotted(row.at("donor")), donor,
                                  "list the donor before its clone")
        instances.append(InstanceSpec(name, replica, role, donor,  # type: ignore[arg-type]
                                      row.get("created_at", time, 0.0)))
    faults = []
    for row in table.tables("faults", ("kind", "target", "at", "duration")):
        fault_kind = row.require("kind", string)
        allowed = ("down", "publish-fail") if kind == "OCSP" else ("down",)
        if fault_kind not in allowed:
            raise ConfigError(dotted(row.at("kind")), fault_kind, f"choose {' or '.join(allowed)}")
        target = row.get("target", string, "")
        if fault_kind == "down":
            check_known(target, names, row.at("target"), f"the {kind} instance names")
        faults.append(OutageSpec(fault_kind, target, row.require("at", time),
                                 row.get("duration", duration, None)))
    with renamed(key, (key,)):
        return SubsystemSpec(
            kind, tuple(instances), suffix=table.get("suffix", string, ""),
            topology=table.get("topology", string, ""),
            replica_ids=_replica_ids(table, strategy),
            directory_latency=table.get("directory_latency", distribution(LDAP_LATENCY),
                                        LDAP_LATENCY),
            faults=tuple(faults))


def _replica_ids(table: Table, strategy: str) -> dict[str, Any]:
    """``replica_ids``: CS.cfg's replica keys (``beginReplicaNumber``, ...) as
    IdSpaceConfig fields."""
    if "replica_ids" not in table:
        return {}
    entries = id_entries(table.data["replica_ids"], table.at("replica_ids"))
    changes = id_changes(entries, strategy)
    for name, (value, path) in entries.items():
        if "Replica" not in name:
            raise ConfigError(dotted(path), value, "only replica-ID keys (beginReplicaNumber, "
                                                   "endReplicaNumber, replicaIncrement, "
                                                   "replicaLowWaterMark, "
                                                   "replicaCloneTransferNumber)")
    return dict(changes[IdKind.REPLICA])


def ocsp_spec(table: Table, replicas: tuple[str, ...], ca_names: list[str], strategy: str,
              time: Time) -> OcspSpec:
    subsystem = subsystem_spec("OCSP", table, replicas, strategy, time)
    publishers = table.get("publishing_cas", strings, None)
    for i, name in enumerate(publishers or ()):
        check_known(name, ca_names, (*table.at("publishing_cas"), i), "the CA names")
    windows = tuple((f.at, f.at + f.duration if f.duration is not None else float("inf"))
                    for f in subsystem.faults if f.kind == "publish-fail")
    with renamed("ocsp", ("ocsp",)):
        return OcspSpec(subsystem, request_rate=table.get("request_rate", rate, 1.0),
                        revoked_share=table.get("revoked_share", number, 0.5),
                        revoked_for=table.get("revoked_for", duration, 86400.0),
                        publish_latency=table.get("publish_latency", duration, 0.5),
                        publishing_cas=None if publishers is None else tuple(publishers),
                        publish_fail=windows)


def drift_spec(table: Table, time: Time) -> DriftSpec:
    profiles = []
    for row in table.tables("profiles", ("name", "added_at", "share", "storage")):
        name = row.require("name", string)
        with renamed(f"drift.profiles.{name}", row.path):
            profiles.append(ProfileSpec(name, row.require("added_at", time),
                                        row.require("share", number),
                                        row.get("storage", string, "file")))  # type: ignore[arg-type]
    with renamed("drift.profiles", table.at("profiles")):
        return DriftSpec(tuple(profiles))


OCSP_KEYS = _COMMON + _OCSP
TKS_KEYS = _COMMON

__all__ = ["OCSP_KEYS", "TKS_KEYS", "drift_spec", "ocsp_spec", "subsystem_spec"]
