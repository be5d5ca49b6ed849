"""The last-hash chain is computed as the other implementations compute it."""

from __future__ import annotations

from tallystick.federation.creditcommons.chain import next_hash


def test_the_chain_reproduces_komunitins_vector() -> None:
    # komunitin accounting/test/creditcommons/3.receive.test.ts (a3de3ea): 'trunk' before, this after,
    # for api.data.ts's transaction without fees (state 'V', no version).
    assert next_hash("trunk", "3d8ebb9f-6a29-42cb-9d39-9ee0a6bf7f1c", "V",
                     [("0.01", "test long distance for 3 from leaf")], "") == "196bf56fdf9c2b747a20b8604b7b1f61"


def test_every_field_of_the_version_moves_the_chain() -> None:
    base = ("graft", "00000000-0000-4000-8000-000000000001", "completed", [(250, "bread")], 1)
    first = next_hash(*base)
    changed = [("other", *base[1:]), (base[0], "00000000-0000-4000-8000-000000000002", *base[2:]),
               (*base[:2], "erased", *base[3:]), (*base[:3], [(251, "bread")], 1),
               (*base[:3], [(250, "bread!")], 1), (*base[:4], 2)]
    assert len({first, *(next_hash(*fields) for fields in changed)}) == 7
