"""Real directory servers for tests: child processes on 127.0.0.1, free ports,
a temporary folder each, stopped by their context managers.

* :mod:`~pkisim.testing.servers.slapd`: :class:`Slapd`, one OpenLDAP slapd (mdb)
  with Dogtag's schema, and :class:`SlapdPair`, two slapd providers replicating
  to each other (multi-provider, delta-syncrepl), each direction through a
  pausable :class:`~pkisim.testing.servers.proxy.TcpProxy` so that ``cut()`` and
  ``restore()`` cut and restore replication without killing a server;
* :mod:`~pkisim.testing.servers.ds389`: :class:`Ds389Pair`, two 389 Directory
  Server 2.3 suppliers under a private PREFIX, with replication agreements both
  ways (cut and restored with ``dsconf repl-agmt disable/enable``);
* :mod:`~pkisim.testing.servers.backends`: slapd and the slapd pair as back ends
  of the allocation state machine (:mod:`pkisim.testing.machine`);
* :mod:`~pkisim.testing.servers.base`: what they share (ports, passwords,
  polling, the context-manager life cycle, reading every entry).

Recipes: ../shared/reference/ldap-servers.md.  Passwords are generated per run
and written only to files in the server's own folder (mode 0600); nothing here
prints them, and text copied from server logs into errors is redacted.
"""

from pkisim.testing.servers.backends import slapd_backend
from pkisim.testing.servers.base import ServerError, free_port, new_password, started_here
from pkisim.testing.servers.ds389 import Ds389Pair
from pkisim.testing.servers.proxy import TcpProxy
from pkisim.testing.servers.slapd import Slapd, SlapdPair

__all__ = ["Ds389Pair", "ServerError", "Slapd", "SlapdPair", "TcpProxy", "free_port",
           "new_password", "slapd_backend", "started_here"]
