"""The embedded directory: an in-memory model of replicated Directory Servers
(replicas, lag, partitions, conflict entries) that answers the core's commands
(:mod:`pkisim.ids.protocol`) as a real server would.  The python-ldap directory
for a real server is :mod:`pkisim.ldap`."""

from pkisim.directory.memory import ReplicatedDirectory

__all__ = ["ReplicatedDirectory"]
