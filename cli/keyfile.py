"""Key files encrypted under a passphrase, for `tally key export` and `tally key import`.

How this works: Argon2id (PyNaCl's `pwhash.argon2id`, moderate limits) derives a 32-byte key from
the passphrase and a random salt; SecretBox (XSalsa20-Poly1305) seals the key's seed. The file is
JSON: {"format": "tallystick-key-v1", "kdf": "argon2id", "opslimit", "memlimit", "salt", "box"}
with hex fields, so a wrong passphrase or an altered file fails authentication, never decrypts to
garbage.
"""

from __future__ import annotations

import json

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils
from tallystick.protocol.errors import LocalError
from tallystick.protocol.ids import KeyPair

key_file_format = "tallystick-key-v1"


class KeyFileError(LocalError):
    code = "key_file"


def seal(key: KeyPair, passphrase: str) -> bytes:
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    opslimit, memlimit = nacl.pwhash.argon2id.OPSLIMIT_MODERATE, nacl.pwhash.argon2id.MEMLIMIT_MODERATE
    box_key = nacl.pwhash.argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase.encode(), salt, opslimit, memlimit)
    sealed = nacl.secret.SecretBox(box_key).encrypt(key.seed)
    document = {
        "format": key_file_format,
        "kdf": "argon2id",
        "opslimit": opslimit,
        "memlimit": memlimit,
        "salt": salt.hex(),
        "box": bytes(sealed).hex(),
    }
    return (json.dumps(document, indent=1) + "\n").encode()


def unseal(data: bytes, passphrase: str) -> KeyPair:
    try:
        document = json.loads(data)
        if document.get("format") != key_file_format or document.get("kdf") != "argon2id":
            raise KeyFileError("not a Tallystick exported key file")
        box_key = nacl.pwhash.argon2id.kdf(
            nacl.secret.SecretBox.KEY_SIZE,
            passphrase.encode(),
            bytes.fromhex(document["salt"]),
            int(document["opslimit"]),
            int(document["memlimit"]),
        )
        seed = nacl.secret.SecretBox(box_key).decrypt(bytes.fromhex(document["box"]))
    except nacl.exceptions.CryptoError:
        raise KeyFileError("wrong passphrase, or the exported key file was altered") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise KeyFileError("the exported key file is damaged: it is not the JSON `tally key export` writes") from None
    return KeyPair(seed)
