"""Tallystick's benchmark: `python -m bench` (or `make bench`); `--quick` for a smoke run.

How this works: every figure is printed next to a raw limit measured in the same run on the same
machine (Ed25519 verifications per second, and a plain loop doing the cryptography one appended
event needs), because the machines this runs on are small and noisy: a ratio to the machine's own
limit says more than an absolute number. The sections are:

- `raw`: the limits (bench/raw.py), measured around every timed measurement;
- `costs`: CPU microseconds of each step of appending and refolding one event (bench/costs.py);
- `sequencer`: durable transfers through the in-process Sequencer on a real Store (bench/inprocess.py);
- `http`: the same through a real `tally serve` and 64 keep-alive clients (bench/served.py);
- `offline`: `rebuild_home` and `verify_home` on a home of N events (bench/inprocess.py);
- `memory`: the peak RSS of `tally serve` holding a million events (bench/served.py);
- `exchange`: limit orders through the Sequencer against a book of 10,000 resting orders, as a
  ratio to plain transfers through the same Sequencer in the same run (bench/exchange.py).

Large homes are made by bench/homes.py's fast builder, which signs a valid feed directly (the same
`validate`, `apply` and `sign_event` the sequencer uses, one transaction per 10,000 events) and
caches it under bench/results/ keyed by the source it depends on. Results go to
bench/results/latest.json; docs/performance.md reads them.
"""
