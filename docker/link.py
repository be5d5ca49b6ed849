#!/usr/bin/env python3
"""One community's link job: its part, and only its part, of linking the compose cluster's
communities into federations under one confederation, signed with its own admin key.

    tally-link --self URL=ADMIN_KEY_FILE --federation East=URL,URL,URL --federation West=URL,URL
               [--confederation NAME] [--unit HRS] [--decimals 2] [--trade-limit 100] [--capacity 100]

How this works: every community of the cluster runs this job with the same plan and its own key,
in a container that mounts only its own volume. The plan is what `tally cluster link` does
(cli/federate.py `link`), as a list of states to reach. Each job reads the state from its own
node (which replicates every feed of the cluster), and on each turn makes the one signed act that
is its own and due: a federation's first community founds it and proposes its decisions, every
member community adopts the charter and votes yes on exactly the decisions of the plan (no other
proposal gets its vote), a member federation's ballot in the confederation is a decision of its
own. Every act is checked against the state first, so a job that is run again, or restarted
half-way, does nothing twice; it exits 0 once the whole plan holds in its node's view, and 1
after `link_timeout_seconds`.
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from tallystick.cli.client import Client, NodeRefused, NodeUnreachable
from tallystick.cli.federate import ballot_deadline_ms, proposal_deadline_ms
from tallystick.node.home import read_key
from tallystick.protocol.errors import TallyError
from tallystick.protocol.events import FederationAct
from tallystick.protocol.federation import (
    AllocateCapacity,
    CapacityShare,
    Charter,
    CharterMember,
    FederationProposal,
    FederationVote,
    JoinFederation,
    SetTradeLimits,
    VoteInParent,
)
from tallystick.protocol.ids import id_from_text

# The whole plan, on five nodes under load, takes well under a minute; past this something is wrong.
link_timeout_seconds = 600
turn_seconds = 0.5
# A community that made an act waits this long for its node to fold it before acting again.
act_settle_seconds = 2.0
# Refusals in a row before the job gives up (one is normal: a vote its node had not yet folded).
refusals_in_a_row_max = 5
quorum_bp = 6000


def _hexed(value: Any) -> Any:
    """As the node's API writes a decision's effect (federation/http.py `_plain`)."""
    if isinstance(value, dict):
        return {key: _hexed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_hexed(item) for item in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def plain(effect: Any) -> Any:
    """An effect exactly as the node's JSON shows it, to compare with a decision's `effect`."""
    return msgspec.json.decode(msgspec.json.encode(_hexed(msgspec.to_builtins(effect, builtin_types=(bytes,)))))


@dataclass
class Group:
    name: str
    urls: list[str]
    nodes: list[str]  # n_… of each community, in the order given


class Job:
    def __init__(self, url: str, key_path: Path, groups: list[Group], top: str, unit: str, decimals: int,
                 trade_limit_minor: int, capacity_minor: int) -> None:
        self.client = Client(url)
        self.key = read_key(key_path)
        self.groups, self.top, self.unit, self.decimals = groups, top, unit, decimals
        self.trade_limit_minor, self.capacity_minor = trade_limit_minor, capacity_minor
        self.me = self.client.get("/api/status")["node"]
        mine = [group for group in groups if self.me in group.nodes]
        if len(mine) != 1:
            raise SystemExit(f"tally-link: {url} ({self.me}) is not in exactly one --federation")
        self.group = mine[0]
        self.founder = self.group.nodes[0] == self.me
        self.publisher = groups[0].nodes[0] == self.me  # publishes the confederation's charter
        self.last_act = 0.0
        self.refusals = 0

    # ---- reading this node's view --------------------------------------------------------------

    def federations(self) -> list[dict[str, Any]]:
        return self.client.get("/api/federations")

    def find(self, name: str, members: set[str]) -> dict[str, Any] | None:
        for summary in self.federations():
            if summary["name"] == name and {m["member"] for m in summary["members"]} == members:
                return self.client.get(f"/api/federations/{summary['id']}")
        return None

    def act(self, body: Any) -> None:
        self.last_act = time.monotonic()
        print(f"tally-link: {self.me[:12]}: {type(body).__name__} {getattr(body, 'title', '')}".rstrip(), flush=True)
        try:
            self.client.submit(self.key, FederationAct(body=body))
        except NodeRefused as error:
            self.refusals += 1
            print(f"tally-link: {self.me}: refused ({error.code}): {error}", file=sys.stderr, flush=True)
            if self.refusals >= refusals_in_a_row_max:
                raise
            return
        self.refusals = 0

    def settling(self) -> bool:
        return time.monotonic() - self.last_act < act_settle_seconds

    # ---- deciding --------------------------------------------------------------------------------

    def decide(self, document: dict[str, Any], effect: Any, title: str, proposer: bool, deadline_ms: int) -> None:
        """Take one step towards `document`'s federation passing `effect`: vote yes on an open
        decision with exactly that effect if this community is a member and has not; else, as the
        proposer, propose it when nothing else is open (decisions follow one another)."""
        wanted = plain(effect)
        members = {m["member"] for m in document["members"]}
        for decision in document.get("decisions", []):
            if decision["outcome"] == "open" and decision["effect"] == wanted:
                if self.me in members and self.me not in decision["yes"]:
                    self.act(FederationVote(id_from_text("x", document["id"]), decision["epoch"],
                                            id_from_text("h", decision["id"])))
                return
        if proposer and not any(d["outcome"] == "open" for d in document.get("decisions", [])):
            federation = id_from_text("x", document["id"])
            self.act(FederationProposal(
                federation=federation, epoch=document["epoch"],
                previous=id_from_text("h", document["last_decision"]) if document["passed"] else federation,
                deadline_ms=time.time_ns() // 1_000_000 + deadline_ms, title=title, text="", effect=effect,
            ))

    # ---- the plan ---------------------------------------------------------------------------------

    def charter(self, name: str, members: list[bytes]) -> Charter:
        return Charter(name=name, unit_code=self.unit, unit_decimals=self.decimals,
                       members=tuple(CharterMember(m, self.unit, 1, 1) for m in members),
                       quorum_bp=quorum_bp, founded_ms=time.time_ns() // 1_000_000)

    def federation_of(self, group: Group) -> dict[str, Any] | None:
        return self.find(group.name, set(group.nodes))

    def limits_set(self, document: dict[str, Any]) -> bool:
        return all(m["debit_limit"] == self.trade_limit_minor and m["credit_ceiling"] == self.trade_limit_minor
                   for m in document["members"])

    def turn(self) -> bool:
        """One step of this community's part; True once the whole plan holds in this node's view."""
        if self.settling():
            return False
        own = self.federation_of(self.group)
        if own is None:
            if self.founder:
                self.act(self.charter(self.group.name, [id_from_text("n", n) for n in self.group.nodes]))
            return False
        if self.me not in own["adopted"]:
            self.act(msgspec.msgpack.decode(base64.b64decode(own["charter"]), type=Charter))
            return False
        if not own["founded"]:
            return False
        for member in own["members"]:
            if (member["debit_limit"], member["credit_ceiling"]) != (self.trade_limit_minor, self.trade_limit_minor):
                effect = SetTradeLimits(id_from_text("n", member["member"]), self.trade_limit_minor, self.trade_limit_minor)
                self.decide(own, effect, f"Trade limits for {member['member'][:10]}", self.founder, proposal_deadline_ms)
                return False
        if len(self.groups) == 1:
            return True
        documents = [self.federation_of(group) for group in self.groups]
        if not all(d is not None and d["founded"] and self.limits_set(d) for d in documents):
            return False  # the confederation is founded once every federation is whole
        ids = [d["id"] for d in documents if d is not None]
        top = self.find(self.top, set(ids))
        if top is None:
            if self.publisher:
                self.act(self.charter(self.top, [id_from_text("x", i) for i in ids]))
            return False
        if own["id"] not in top["adopted"]:
            self.decide(own, JoinFederation(id_from_text("x", top["id"])), f"Join {self.top}", self.founder,
                        proposal_deadline_ms)
            return False
        if not top["founded"]:
            return False
        if any(m["capacity"] != self.capacity_minor for m in top["members"]):
            wanted = plain(AllocateCapacity(tuple(
                CapacityShare(id_from_text("x", m["member"]), self.capacity_minor) for m in top["members"])))
            open_top = [d for d in top.get("decisions", []) if d["outcome"] == "open" and d["effect"] == wanted]
            if not open_top:
                if self.publisher and not any(d["outcome"] == "open" for d in top.get("decisions", [])):
                    effect = AllocateCapacity(tuple(
                        CapacityShare(id_from_text("x", m["member"]), self.capacity_minor) for m in top["members"]))
                    self.decide(top, effect, "Allocate capacity", True, proposal_deadline_ms)
                return False
            decision = open_top[0]
            if own["id"] not in decision["yes"]:
                ballot = VoteInParent(id_from_text("x", top["id"]), decision["epoch"], id_from_text("h", decision["id"]))
                self.decide(own, ballot, f"Yes in {self.top}", self.founder, ballot_deadline_ms)
            return False
        share = self.capacity_minor // len(self.group.nodes)
        if any(m["capacity"] != share for m in own["members"]):
            effect = AllocateCapacity(tuple(CapacityShare(id_from_text("n", m["member"]), share) for m in own["members"]))
            self.decide(own, effect, "Allocate capacity", self.founder, proposal_deadline_ms)
            return False
        # This community's part is done; the plan is done when every federation is allocated too.
        return all(d is not None and all(m["capacity"] == self.capacity_minor // len(g.nodes) for m in d["members"])
                   for d, g in zip((self.federation_of(g) for g in self.groups), self.groups, strict=True))


def _minor(text: str, decimals: int) -> int:
    from tallystick.ledger.money import parse_amount

    return parse_amount(text, decimals)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tally-link", description=__doc__.split("\n\n")[0])
    parser.add_argument("--self", dest="me", required=True, metavar="URL=ADMIN_KEY_FILE")
    parser.add_argument("--federation", action="append", required=True, metavar="NAME=URL,URL,...")
    parser.add_argument("--confederation", default="Cluster confederation")
    parser.add_argument("--unit", default="HRS")
    parser.add_argument("--decimals", type=int, default=2)
    parser.add_argument("--trade-limit", default="100", help="Each community's balance-of-trade limits, major units.")
    parser.add_argument("--capacity", default="100", help="Each federation's capacity in the confederation, major units.")
    arguments = parser.parse_args(argv)
    url, _, key = arguments.me.partition("=")
    if not key:
        print("tally-link: write --self as URL=ADMIN_KEY_FILE", file=sys.stderr)
        return 2
    deadline = time.monotonic() + link_timeout_seconds
    try:
        groups = []
        for item in arguments.federation:
            name, _, urls = item.partition("=")
            members = [u.rstrip("/") for u in urls.split(",") if u]
            if not name or not members:
                print("tally-link: write --federation as NAME=URL,URL,...", file=sys.stderr)
                return 2
            nodes = []
            for member in members:
                while True:  # compose starts this job once the nodes are healthy; a restart may be early
                    try:
                        nodes.append(Client(member).get("/api/status")["node"])
                        break
                    except NodeUnreachable:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(turn_seconds)
            groups.append(Group(name, members, nodes))
        job = Job(url.rstrip("/"), Path(key), groups, arguments.confederation, arguments.unit, arguments.decimals,
                  _minor(arguments.trade_limit, arguments.decimals), _minor(arguments.capacity, arguments.decimals))
        acted_before = False
        while time.monotonic() < deadline:
            if job.turn():
                print(f"tally-link: {job.me}: linked" + (" (already linked)" if not acted_before else ""), flush=True)
                return 0
            acted_before = acted_before or job.last_act > 0
            time.sleep(turn_seconds)
    except TallyError as error:
        print(f"tally-link: {getattr(error, 'code', 'error')}: {error}", file=sys.stderr)
        return 1
    print(f"tally-link: the plan did not hold within {link_timeout_seconds} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
