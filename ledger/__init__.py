"""The pure ledger of one community: the state model, its rules and its one transition. No I/O, no clock."""
