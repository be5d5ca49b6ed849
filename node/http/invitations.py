"""`GET /api/invitations`: the invitations open in this community, for its admins.

Who may call it: an admin (a request signed by their key, or their session). A member who is not
an admin: 403 `not_admin`; anyone else (unsigned, or a key that is no active member's): 401
`not_signed_in`. An invitation carries no personal data in the log (the invitee's name travels only
in the link's fragment, and comes to the node with their `join`); what this shows is the invitation
key's id, its expiry, the role and limits it gives (in major units with the unit), who made it (by
name, through the node's directory) and the seq of its `invite`. Open means: not used, not
withdrawn, and not expired at the node's time now (docs/api.md, docs/protocol.md §13.2.4).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from tallystick.ledger.model import Invitation, State
from tallystick.ledger.money import format_ceiling, format_debit_limit
from tallystick.protocol.ids import id_to_text

from ..app import node_key
from ..personal import Directory
from ..sessions import NotSignedInError
from .middleware import json_response
from .personal import NotAdminError
from .readers import reader_of


def _invitation_json(state: State, directory: Directory, key: bytes, invitation: Invitation) -> dict[str, Any]:
    community = state.community
    decimals, unit = community.unit_decimals, community.unit_code
    debit = community.debit_limit_minor if invitation.debit_limit_minor is None else invitation.debit_limit_minor
    ceiling = (community.credit_ceiling_minor if invitation.credit_ceiling_minor is None
               else invitation.credit_ceiling_minor)
    inviter = state.members.get(invitation.invited_by)
    return {
        "invitation": id_to_text("k", key),
        "expires_ms": invitation.expires_ms,
        "role": invitation.role,
        "debit_limit": format_debit_limit(debit, decimals, unit),
        "debit_limit_minor": debit,
        "debit_limit_is_default": invitation.debit_limit_minor is None,
        "credit_ceiling": format_ceiling(ceiling, decimals, unit),
        "credit_ceiling_minor": ceiling,
        "credit_ceiling_is_default": invitation.credit_ceiling_minor is None,
        "invited_by": {"id": id_to_text("m", invitation.invited_by),
                       "name": directory.name(inviter) if inviter is not None else None},
        "seq": invitation.seq,
    }


async def list_invitations(request: web.Request) -> web.Response:
    reader = reader_of(request)
    if not reader.is_member:
        raise NotSignedInError("the invitations are for admins: sign the request with an admin's key, or sign in")
    if not reader.admin:
        raise NotAdminError("only an admin may list the invitations; give an admin's --key")
    node = request.app[node_key]
    state = node.sequencer.state
    now = node.sequencer.now_ms()
    open_ = sorted(((key, invitation) for key, invitation in state.invitations.items()
                    if not invitation.revoked and invitation.expires_ms >= now), key=lambda item: item[1].seq)
    # At most `invitations_open_max` (1000) are held, so the whole list is one page.
    return json_response([_invitation_json(state, node.directory, key, invitation) for key, invitation in open_])


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/invitations", list_invitations)
