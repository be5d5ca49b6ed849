"""The sign-in message (protocol/requests.py `sign_in_message`, docs/protocol.md §18.1) against its
golden vector, tests/vectors/sign_in.json.

How this works: `build()` makes the vector from fixed seeds as tests/vectors/generate.py does (seed =
BLAKE2b-256 of b"tallystick test vector seed: " + name) and a fixed challenge; Ed25519 signatures are
deterministic, so it is the same bytes everywhere. The test fails if one byte differs from the file;
running this module writes the file (`.venv/bin/python tests/protocol/test_sign_in_vector.py`).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from tallystick.protocol.ids import KeyPair, hash32, id_to_text, verify_signature
from tallystick.protocol.requests import sign_in_message, sign_in_namespace

vector_path = Path(__file__).resolve().parents[1] / "vectors" / "sign_in.json"
seed_prefix = b"tallystick test vector seed: "


def key_for(name: str) -> KeyPair:
    return KeyPair(hash32(seed_prefix + name.encode("ascii")))


def b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def build() -> dict[str, Any]:
    node, member = key_for("node"), key_for("sign-in member")
    challenge = hash32(b"tallystick test vector sign-in challenge")
    message = sign_in_message(node=node.public, challenge=challenge)
    signature = member.sign(message)
    return {
        "description": "A sign-in (docs/protocol.md §18.1): the member signs namespace || node feed id (32 bytes) "
                       "|| challenge (32 bytes); the body of POST /api/sign-in carries key, challenge and "
                       "signature, the last two in lowercase base32 without padding.",
        "namespace_hex": sign_in_namespace.hex(),
        "node_seed_name": "node",
        "node_hex": node.public.hex(),
        "member_seed_name": "sign-in member",
        "member_key_text": id_to_text("k", member.public),
        "challenge_hex": challenge.hex(),
        "message_hex": message.hex(),
        "signature_hex": signature.hex(),
        "body": {"key": id_to_text("k", member.public), "challenge": b32(challenge), "signature": b32(signature)},
    }


def test_the_sign_in_message_and_signature_are_the_golden_bytes() -> None:
    assert json.loads(vector_path.read_text(encoding="utf-8")) == build()


def test_the_golden_signature_verifies_for_its_node_and_challenge_only() -> None:
    vector = json.loads(vector_path.read_text(encoding="utf-8"))
    member = key_for(vector["member_seed_name"]).public
    node, challenge = bytes.fromhex(vector["node_hex"]), bytes.fromhex(vector["challenge_hex"])
    signature = bytes.fromhex(vector["signature_hex"])
    verify_signature(member, sign_in_message(node=node, challenge=challenge), signature)
    message = bytes.fromhex(vector["message_hex"])
    assert message == sign_in_namespace + node + challenge and len(message) == len(sign_in_namespace) + 64


if __name__ == "__main__":
    vector_path.write_text(json.dumps(build(), indent=1) + "\n", encoding="utf-8")
