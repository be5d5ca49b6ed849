"""Replication: nodes copy each other's feeds, every feed, not only federations' (protocol.md §16).

How this works: the Replicator (replicator.py) is the running node's extension, joining three
parts by noun - ingest.py (the feeds held and the one door for other nodes' events), peers.py (one
task per configured peer, pulling and pushing) and server.py (the /replication/ routes) - and
errors.py holds every refusal they answer. restore.py is `tally restore`, which rebuilds a home's
own feed from a peer without a running node. federation/ builds on this package, never the reverse.
"""
