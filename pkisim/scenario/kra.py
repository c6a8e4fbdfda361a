"""The ``[kra]`` table of a scenario file: KRA master and clones, their key-ID
and request-ID ranges, key recovery and KRA outages.

```toml
[kra]
recovery = "async"          # or "sync" (deprecated)
recovery_agents = 2         # kra.noOfRequiredRecoveryAgents
recovery_rate = "30/h"
approval_delay = "2m"       # mean time until each agent approves
update_interval = "10m"     # kra.keyStatusUpdateInterval
ids = { end = 1000, increment = 1000, low_water_mark = 200, clone_transfer_number = 100 }

[[kra.instance]]
name = "kra1"
replica = "ds1"             # the master: no donor

[[kra.instance]]
name = "kra2"
replica = "ds2"
donor = "kra1"

[[kra.outage]]
target = "kra1"
at = "1h"
duration = "20m"
```
"""

from __future__ import annotations

from collections.abc import Collection

from pkisim.scenario.values import (
    Table,
    bounded,
    check_known,
    duration,
    integer,
    number,
    rate,
    renamed,
    string,
)
from pkisim.sim.config import LoadBalancer
from pkisim.sim.kra_config import KRA_ID_FIELDS, KraInstance, KraOutage, KraSpec

_KEYS = ("instance", "outage", "ids", "recovery", "recovery_agents", "recovery_rate",
         "approval_delay", "recovery_timeout", "update_interval", "directory_latency",
         "load_balancer")


def kra_spec(top: Table, replicas: Collection[str]) -> KraSpec | None:
    """The scenario's KRAs, or ``None`` without a ``[kra]`` table."""
    if "kra" not in top:
        return None
    table = top.table("kra", _KEYS)
    instances = []
    for item in table.tables("instance", ("name", "replica", "donor")):
        replica = item.require("replica", string)
        check_known(replica, replicas, item.at("replica"), "directory.replicas")
        instances.append(KraInstance(item.require("name", string), replica,
                                     item.get("donor", string, None)))
    names = [k.name for k in instances]
    outages = []
    for item in table.tables("outage", ("target", "at", "duration")):
        target = item.require("target", string)
        check_known(target, names, item.at("target"), "the KRA names")
        outages.append(KraOutage(target, item.require("at", duration),
                                 item.require("duration", duration)))
    ids_table = table.table("ids", KRA_ID_FIELDS)
    ids = tuple((key, ids_table.get(key, bounded(0, 2**63 - 1), 0))
                for key in KRA_ID_FIELDS if key in ids_table)
    policy = table.get("load_balancer", string, "round-robin")
    with renamed("load_balancer.policy", ("kra", "load_balancer")):
        balancer = LoadBalancer(policy=policy)  # type: ignore[arg-type]
    return KraSpec(
        instances=tuple(instances), ids=ids,
        update_interval=table.get("update_interval", duration, 600.0),
        recovery=table.get("recovery", string, "async"),  # type: ignore[arg-type]
        recovery_agents=table.get("recovery_agents", integer, 2),
        recovery_rate=table.get("recovery_rate", rate, 0.0),
        approval_delay=table.get("approval_delay", duration, 60.0),
        recovery_timeout=table.get("recovery_timeout", duration, 3600.0),
        directory_latency=table.get("directory_latency", number, 0.002),
        load_balancer=balancer, outages=tuple(outages))

__all__ = ["kra_spec"]
