"""A federation's viability report, as this node can see it: its members' communities, their
coordination and trade, each member's position against its bounds, what this replica verified,
and the charter, arranged by Stafford Beer's systems.

How this works: S1 each community's activity, S2 coordination (replication with every peer), S3
capacity allocated and each member's position, S3* what this replica verified (forks,
equivocations, refused federation events, checkpoints), S4 trade flows between members, S5 the
charter; and algedonic alerts at the top. Everything is read from the view (view.py), the ledgers
this node holds and its store, bounded by `page_size_max` where a list could grow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tallystick.ledger import payments as paying
from tallystick.ledger.model import State
from tallystick.node.app import clock_ms
from tallystick.protocol import limits
from tallystick.protocol.errors import TallyError
from tallystick.protocol.ids import id_from_text, id_to_text

from . import payments as payment_machine
from .state import Federation, FederationState
from .view import FederationView, member_text

# A payment not settled or returned after this long raises an algedonic alert.
payment_pending_alert_ms = 3600 * 1000


async def report_json(view: FederationView, state: FederationState, federation: Federation) -> dict[str, Any]:
    node = view.node
    replicator = view.replicator
    communities = sorted(communities_under(state, federation))
    operations = []
    for community in communities:
        if community == view.own_feed:
            ledger, head = node.sequencer.state, node.sequencer.head
        else:
            replica = replicator.replicas.get(community) if replicator is not None else None
            ledger, head = (replica.state, replica.head) if replica is not None else (None, None)
        if ledger is None or head is None:
            operations.append({"community": id_to_text("n", community), "held": False})
            continue
        balances = [account.balance_minor for account in ledger.accounts.values()]
        operations.append({
            "community": id_to_text("n", community),
            "name": ledger.community.name,
            "held": True,
            "seq": head.seq,
            "last_event_ms": head.ts,
            "idle_ms": max(0, clock_ms() - head.ts),
            "members": sum(1 for m in ledger.members.values() if m.active and m.role in ("member", "admin")),
            "enterprises": len(ledger.shares.enterprises),
            "open_decisions": len(ledger.open_decisions),
            "credit_issued": sum(b for b in balances if b > 0),  # the sum of positive balances
            "unit": ledger.community.unit_code,
            "unit_decimals": ledger.community.unit_decimals,
        })
    peers = replicator.peer_status() if replicator is not None else []
    status = await node.status()
    ledger_of = view.ledger
    control = []
    now = clock_ms()
    for m in sorted(federation.members.values(), key=lambda m: m.member):
        in_federation = member_position(state, ledger_of, federation, m.member)
        if m.kind == "federation":
            # A member federation's bound is its capacity here, either way.
            at_limit = in_federation is not None and m.capacity_minor > 0 and abs(in_federation) >= m.capacity_minor
        else:
            at_limit = in_federation is not None and (
                (m.debit_limit_minor > 0 and -in_federation >= m.debit_limit_minor)
                or (m.credit_ceiling_minor > 0 and in_federation >= m.credit_ceiling_minor))
        since = view.at_limit_since.setdefault((federation.id, m.member), now) if at_limit else None
        if not at_limit:
            view.at_limit_since.pop((federation.id, m.member), None)
        control.append({
            "member": member_text(state, m.member), "name": view.member_name(m.member), "kind": m.kind,
            "capacity_allocated": m.capacity_minor,
            "trade_debit_limit": m.debit_limit_minor, "trade_credit_ceiling": m.credit_ceiling_minor,
            "position": in_federation, "at_limit": at_limit,
            "at_limit_ms": None if since is None else now - since,
        })
    payments = [row for row in await view.payments() if row["federation"] == id_to_text("x", federation.id)]
    flows: dict[tuple[str, str], dict[str, int]] = {}
    for row in payments:
        if row["status"] == "settled":
            flow = flows.setdefault((row["from_community"], row["to_community"]), {"payments": 0, "sent": 0})
            flow["payments"] += 1
            flow["sent"] += row["amount"]
    pending = [row for row in payments if row["status"] in ("pending", "accepted", "rejected")]
    checkpoints = {}
    for community in communities:
        rows = await view.store.query("SELECT MAX(seq) FROM log WHERE feed = ? AND kind = 'checkpoint'", (community,), 1)
        checkpoints[id_to_text("n", community)] = rows[0][0] if rows else None
    forks = [f for f in status["forks"] if id_from_text("n", f["feed"]) in communities]  # type: ignore[index, arg-type]
    audit = {
        "verified_by": id_to_text("n", view.own_feed),
        "feeds": {id_to_text("n", c): status["feeds"].get(id_to_text("n", c)) for c in communities},  # type: ignore[union-attr]
        "last_checkpoint_seq": checkpoints,
        "forks": forks,
        "equivocations": [
            {"epoch": e.epoch, "member": id_to_text("n", e.member), "counted_seq": e.counted_seq,
             "ignored_seq": e.ignored_seq}
            for e in state.equivocations if e.federation == federation.id
        ],
        "refused_federation_events": [
            {"feed": id_to_text("n", r.feed), "seq": r.seq, "reason": r.reason}
            for r in state.refusals if r.feed in communities
        ][: limits.page_size_max],
    }
    alerts = []
    for fork in forks:
        alerts.append({"kind": "fork", "system": "S3*", "message": f"feed {fork['feed']} is forked at seq {fork['seq']}; it is frozen"})
    for item in audit["equivocations"]:
        alerts.append({"kind": "equivocation", "system": "S3*",
                       "message": f"{item['member']} voted twice in epoch {item['epoch']}; the first counts"})
    for row in control:
        if row["at_limit"] and row["at_limit_ms"] >= node.config.at_limit_alert_ms:
            bound = "capacity" if row["kind"] == "federation" else "balance-of-trade limit"
            alerts.append({"kind": "at_limit", "system": "S3",
                           "message": f"{row['member']} has been at its {bound} in the federation for "
                                      f"{row['at_limit_ms'] // 60000} min: it can only trade the other way"})
    for row in payments:
        if row["violation"]:
            alerts.append({"kind": "payment_violation", "system": "S3*",
                           "message": f"payment {row['id']} does not follow the protocol: {row['violation']}"})
    for row in pending:
        if clock_ms() - row["sent_ms"] > payment_pending_alert_ms:
            alerts.append({"kind": "payment_pending", "system": "S2",
                           "message": f"payment {row['id']} has been {row['status']} for over an hour"})
    for peer in peers:
        if not peer["reachable"]:
            alerts.append({"kind": "unreachable", "system": "S2", "message": f"peer {peer['url']} is unreachable"})
    for row in operations:
        if not row["held"]:
            alerts.append({"kind": "not_held", "system": "S2",
                           "message": f"this node holds no copy of {row['community']}: peer with it"})
    for alert in status["alerts"]:  # type: ignore[union-attr]
        if alert.get("kind") not in {a["kind"] for a in alerts}:
            alerts.append({**alert, "system": alert.get("system", "node")})
    charter = federation.charter
    return {
        "federation": id_to_text("x", federation.id),
        "name": federation.name,
        "alerts": alerts,
        "s1_operations": operations,
        "s2_coordination": {"peers": peers, "payments_pending": len(pending),
                            "payments": pending[: limits.page_size_max]},
        "s3_control": control,
        # This federation's own net position in each parent, in the parent's unit: with its
        # members' positions here, the sums balance (members' positions sum to it).
        "position_in_parents": [
            {"parent": id_to_text("x", parent),
             "position": member_position(state, ledger_of, state.federations[parent], federation.id),
             "capacity": state.federations[parent].members[federation.id].capacity_minor}
            for parent in sorted(state.parents.get(federation.id, frozenset()))
        ],
        "s3_star_audit": audit,
        "s4_intelligence": {
            "trade_flows": [{"from": source, "to": target, **flow} for (source, target), flow in sorted(flows.items())],
            "imbalances": sorted((row for row in control if row["position"]), key=lambda row: row["position"]),
        },
        "s5_policy": {
            "charter": {"name": charter.name, "unit": charter.unit_code, "decimals": charter.unit_decimals,
                        "quorum_bp": charter.quorum_bp, "founded_ms": charter.founded_ms,
                        "founding_members": [member_text(state, m.member) for m in charter.members]},
            "current_name": federation.name,
            "quorum_bp": federation.quorum_bp,
            "epoch": federation.epoch,
            "passed_decisions": len(federation.passed),
            "parents": sorted(id_to_text("x", p) for p in state.parents.get(federation.id, frozenset())),
        },
    }


def member_position(state: FederationState, ledger_of: Callable[[bytes], State | None], federation: Federation,
                    member: bytes) -> int | None:
    """A member's net position in `federation`, in the federation's unit (None if a ledger it
    needs is not held here). A community's is its trade account there; a member federation's is
    the sum, over the communities under it, of their position through it (their capacity count at
    the level that leaves it), each converted up the tree by the charters' rates, rounded down."""
    child = state.federations.get(member)
    if child is None:
        ledger = ledger_of(member)
        local = None if ledger is None else paying.position(ledger, federation.id)
        return None if local is None else federation.members[member].in_federation_unit(local)
    total = 0
    for community in sorted(communities_under(state, child)):
        ledger = ledger_of(community)
        if ledger is None:
            return None
        for own, capacity in sorted(ledger.payments.capacity.items()):
            chain = (own, *capacity.above)
            if member not in chain or federation.id not in capacity.above:
                continue
            value = capacity.used[chain.index(member)]
            try:
                rates = payment_machine.rates_up(state, community, federation.id)
            except TallyError:
                return None
            for rate_num, rate_den in rates:  # from the community's unit up to `federation`'s
                value = value * rate_num // rate_den
            total += value
            break
    return total


def communities_under(state: FederationState, federation: Federation, seen: frozenset[bytes] = frozenset()) -> set[bytes]:
    found: set[bytes] = set()
    for member in federation.members:
        child = state.federations.get(member)
        if child is None:
            found.add(member)
        elif member not in seen:
            found |= communities_under(state, child, seen | {federation.id})
    return found
