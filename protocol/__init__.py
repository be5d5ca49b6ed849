"""The Tallystick protocol: ids and keys, canonical encoding, events, intents, signatures, hash chains.

Pure: no I/O, no clock, no randomness (key generation lives with its callers' entropy in ids.KeyPair).
"""
