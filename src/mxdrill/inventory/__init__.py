"""The inventory: which hosts are the MXs, the storage, the DNS and the sender, and how to reach them.

The inventory is a plain Ansible inventory (hosts.yml, or INI), with the group_vars/ and host_vars/
beside it, so a postmaster can add mxdrill's groups (`mxdrill_primary`, `mxdrill_backup`,
`mxdrill_storage`, `mxdrill_dns`, `mxdrill_sender`) and vars (`mxdrill_*`, plus the usual `ansible_*`
connection vars) to the inventory they already use, laid out as they already lay it out.

It is loaded strictly: a drill that stops a production primary must not start from a typo. Every
problem is reported as one `InventoryError` whose text names the file, the line and the dotted key
(`hosts.yml:12: all.children.mxdrill_primary.hosts.mx1.example.test.mxdrill_mx_priority: ...`), so it
can be fixed without reading a traceback.

One idea per module, each depending only on those above it:
- `source`: reading the YAML with the line of every key, refusing duplicate keys; `InventoryError`.
- `ansible`: Ansible's groups, hosts, children and vars precedence, knowing nothing of mxdrill.
- `ini`: Ansible's INI format, fed to the same collector as the YAML.
- `vars_dirs`: group_vars/ and host_vars/ beside the inventory.
- `ssh_args`: the ProxyJump / ProxyCommand in ansible_ssh_common_args and ansible_ssh_extra_args.
- `schema`: mxdrill's groups and variables, each variable declared once with its type, default and hint.
- `model`: the frozen `Inventory` and `Host` the rest of mxdrill uses, and `Fleet`, one Inventory per domain.
- `checks`: the rules across hosts (one primary, backups behind it, distinct addresses, one domain).
- `domains`: a fleet's MXs split by their mxdrill_domain, and those rules applied per domain.
- `load`: `load_inventory` and `load_fleet`, which run all of the above, `check_files`, and `merged_vars`.

This package re-exports what callers use, so `from mxdrill.inventory import load_inventory` and
`mxdrill.inventory.load_inventory` keep working wherever they are written.
"""

from mxdrill.inventory.ansible import ALL_CHILDREN, ALL_VARS, GROUP_SECTIONS
from mxdrill.inventory.load import check_files, load_fleet, load_inventory, merged_vars
from mxdrill.inventory.model import Fleet, Host, Inventory, ServiceControl, SshSettings
from mxdrill.inventory.schema import (
    DOMAIN_VARS,
    HINTS,
    ITEM_HINTS,
    KNOWN_MXDRILL_VARS,
    KNOWN_VARS,
    OPTIONAL_ROLES,
    REQUIRED,
    ROLE_GROUPS,
    SECRET_VARS,
)
from mxdrill.inventory.source import MERGE_TAG, InventoryError, KeyPath, dotted

__all__ = [
    "ALL_CHILDREN", "ALL_VARS", "DOMAIN_VARS", "GROUP_SECTIONS", "HINTS", "ITEM_HINTS", "KNOWN_MXDRILL_VARS",
    "KNOWN_VARS", "MERGE_TAG", "OPTIONAL_ROLES", "REQUIRED", "ROLE_GROUPS", "SECRET_VARS",
    "Fleet", "Host", "Inventory", "InventoryError", "KeyPath", "ServiceControl", "SshSettings",
    "check_files", "dotted", "load_fleet", "load_inventory", "merged_vars",
]
