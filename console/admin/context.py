"""What an admin operation works on: the keystore, the running node (if any), and who asks.

``actor`` is the signed-in console account, or ``None`` for the operator at the node's
shell (the CLI): whoever can open the keystore with its passphrase, or reach the running
node's control socket as the node's own user, already holds every right, so the CLI acts
with the admin's rights. ``node`` is the running :class:`~console.node.ConsoleNode` when
the operation runs inside ``program run`` (console page or control socket), ``None`` when
the CLI opened a stopped keystore itself.

Operations write through :meth:`AdminContext.save` so a running node's group commit is
used (never a second writer), and call :meth:`changed` after a change staff should see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from client_sdk.keystore import Keystore
from console.accounts import Account, Role
from console.errors import Forbidden

if TYPE_CHECKING:
    from console.node import ConsoleNode

__all__ = ["AdminContext"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AdminContext:
    """The keystore, the running node or ``None``, and the acting account or ``None``."""

    keystore: Keystore
    node: ConsoleNode | None = None
    actor: Account | None = None
    now: Callable[[], datetime] = field(default=_utc_now)

    @classmethod
    def for_node(cls, node: ConsoleNode, actor: Account | None) -> AdminContext:
        """Inside ``program run``: the node's keystore and clock."""
        clock = node.workflow.clock
        return cls(node.program.keystore, node, actor, now=clock.now)

    def require(self, role: Role) -> None:
        """Refuse unless the actor has ``role``'s rights (admin has every right; the
        operator at the shell, ``actor is None``, too)."""
        if self.actor is None:
            return
        actor = self.actor
        if self.node is not None:  # the account as it is now (it may have been disabled)
            current = self.node.account(actor.staff_id)
            if current is None or current.disabled:
                raise Forbidden("This account can no longer do this.")
            actor = current
        if role is Role.ADMIN and actor.role is not Role.ADMIN:
            raise Forbidden("Only an admin can do this.")
        if role is Role.SUPERVISOR and not actor.role.supervises:
            raise Forbidden("Only a supervisor or an admin can do this.")

    async def save(self) -> None:
        """Persist the keystore's changes (the node's group commit when it runs)."""
        if self.node is not None:
            await self.node.program.save()
        elif self.keystore.dirty:
            self.keystore.save()

    def changed(self) -> None:
        """Tell the running node (if any) that staff, settings or hours changed: it
        reloads what depends on them and pushes a fresh snapshot to the browsers."""
        if self.node is not None:
            self.node.admin_changed()
