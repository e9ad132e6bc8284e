"""What a lab host finds in its upper layers: files (and symlinks) written before it boots."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabFile:
    """A file to place in a host's upper layer: `path` is absolute inside the host (/etc/... or /var/...).

    `link`: make a symlink to this target instead of a file (systemd's enablement links and masks).
    """

    path: str
    content: str = ""
    mode: int = 0o644
    link: str | None = None
