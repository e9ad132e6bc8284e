"""The `storage` fault: the shared mailbox store lost on the backup MX while the primary is down.

Seed 003 "Problème 3": an MX whose NFS mount is gone writes mail onto its own disk, where nobody reads
it and where the other MX never sees it. A sound backup defers instead (Postfix's virtual(8) cannot
create the Maildir under a root-owned mount point and answers 4.2.0), keeps the mail queued and
delivers it once the store is back. The fault unmounts the store; its heal mounts it again from the
host's own fstab (or systemd mount unit), so it is what the host would do at boot.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from mxdrill.faults import deadman
from mxdrill.remote import Remote


def unmount_command(base: str) -> str:
    """Unmount (lazily when busy: a lost store does not wait for its users); the harm is confirmed, not assumed."""
    quoted = shlex.quote(base)
    return f"{{ umount {quoted} 2>/dev/null || umount -l {quoted}; }} && ! mountpoint -q {quoted}"


def mount_command(base: str) -> str:
    """Mount it again as the host's fstab says (idempotent); succeeds only once it is a mount point again."""
    quoted = shlex.quote(base)
    return f"mountpoint -q {quoted} || mount {quoted}; mountpoint -q {quoted}"


@dataclass
class StorageLoss(deadman.Switched):
    """Unmount the host's shared mailbox store at `base`; heal = mount it from fstab."""

    remote: Remote
    base: str
    name: str = "storage"
    switch: deadman.DeadMan | None = field(default=None, repr=False)

    def heal_command(self) -> str:
        return mount_command(self.base)

    def describe(self) -> str:
        return f"unmount the shared store: `umount {self.base}`"

    def inject(self) -> None:
        self.remote.check(unmount_command(self.base))

    def heal(self) -> None:
        self.remote.check(self.heal_command())
