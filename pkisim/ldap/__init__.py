"""Dogtag's range management against a real directory server (OpenLDAP, 389-DS).

:class:`LdapDirectory` executes the core's commands with python-ldap;
:class:`LdapAllocator` is an allocator a program can use, driving the same
sans-IO core as the simulation.  python-ldap is imported on first use.
"""

from pkisim.ldap.allocator import (
           Journal,
           LdapAllocator,
           load_state,
           read_journal,
           replay,
           save_state,
)
from pkisim.ldap.directory import LdapDirectory, schema_path

__all__ = ["Journal", "LdapAllocator", "LdapDirectory", "load_state", "read_journal", "replay",
           "save_state", "schema_path"]
