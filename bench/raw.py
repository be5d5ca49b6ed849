"""The machine's raw limits, measured in the same run as everything they are compared with.

How this works: both limits call libsodium through PyNaCl's thin bindings in a plain Python loop on
real bytes (a member's signed transfer intent, and an event of the size the node appends), with no
decoding, no domain and no store. `verify_rate` is Ed25519 verifications alone. The "raw
append" loop does, per event, exactly the cryptography the node cannot avoid: one Ed25519 verify of
the member's intent, one Ed25519 signature of the event, one BLAKE2b-256 of the signed event. Each
is timed several times and the best run is kept: on a noisy two-core machine the best run is the
closest to what the hardware can do, so every ratio against it is conservative. Each rate is also
taken per second of this process's CPU time, which other processes on the machine cannot inflate.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import nacl.bindings
from tallystick.protocol.codec import event_namespace, sign_event, sign_intent, signable_intent
from tallystick.protocol.events import Act, Transfer
from tallystick.protocol.ids import KeyPair, hash32

# Repeats of each timed loop; the best is kept.
repeats = 3


def _sample_intent_and_event() -> tuple[bytes, bytes, bytes, bytes]:
    """A realistic signed intent (its signable bytes, signature, signer) and an unsigned event."""
    member, node = KeyPair(hash32(b"raw member")), KeyPair(hash32(b"raw node"))
    feed = hash32(b"raw feed")
    intent = sign_intent(member, feed=feed, nonce=123456, action=Transfer(to=hash32(b"payee"), amount_minor=1250))
    event = sign_event(node, feed=feed, seq=123456, prev=hash32(b"prev"), ts=1_700_000_000_000, body=Act(intent=intent))
    return signable_intent(intent), intent[-64:], member.public, event_namespace + event[:-66]


@dataclass(frozen=True)
class Rate:
    per_second: float  # per second of wall-clock time: what the benchmark compares
    per_cpu_second: float  # per second of this process's CPU time: what other processes cannot slow


def _best_rate(loop: Callable[[int], None], iterations: int) -> Rate:
    best_wall = best_cpu = 0.0
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        loop(iterations)
        wall, cpu = time.perf_counter() - started, time.process_time() - started_cpu
        best_wall, best_cpu = max(best_wall, iterations / wall), max(best_cpu, iterations / max(cpu, 1e-9))
    return Rate(best_wall, best_cpu)


def verify_rate(iterations: int) -> Rate:
    message, signature, public_key = _sample_intent_and_event()[:3]
    signed = signature + message
    crypto_sign_open = nacl.bindings.crypto_sign_open

    def loop(count: int) -> None:
        for _ in range(count):
            crypto_sign_open(signed, public_key)

    return _best_rate(loop, iterations)


def append_rate(iterations: int) -> Rate:
    """Events per second of the raw append loop: verify the intent, sign the event, hash it."""
    message, signature, public_key, event_signable = _sample_intent_and_event()
    signed = signature + message
    node_secret = nacl.bindings.crypto_sign_seed_keypair(hash32(b"raw node"))[1]
    crypto_sign_open, crypto_sign, blake2b = nacl.bindings.crypto_sign_open, nacl.bindings.crypto_sign, hashlib.blake2b

    def loop(count: int) -> None:
        for _ in range(count):
            crypto_sign_open(signed, public_key)
            signed_event = crypto_sign(event_signable, node_secret)
            blake2b(signed_event, digest_size=32).digest()

    return _best_rate(loop, iterations)


@dataclass(frozen=True)
class Limits:
    """One measurement of both limits, per wall-clock second and per CPU second."""

    verify_per_second: float
    append_per_second: float
    verify_per_cpu_second: float
    append_per_cpu_second: float

    @staticmethod
    def mean(first: Limits, second: Limits) -> Limits:
        return Limits(
            (first.verify_per_second + second.verify_per_second) / 2,
            (first.append_per_second + second.append_per_second) / 2,
            (first.verify_per_cpu_second + second.verify_per_cpu_second) / 2,
            (first.append_per_cpu_second + second.append_per_cpu_second) / 2,
        )


def measure_limits(verify_iterations: int, append_iterations: int) -> Limits:
    verify, append = verify_rate(verify_iterations), append_rate(append_iterations)
    return Limits(verify.per_second, append.per_second, verify.per_cpu_second, append.per_cpu_second)
