"""Account paths in a Credit Commons tree, and how a Tallystick member is named in one. Pure.

A path names nodes from the trunk down and ends with an account, '/' between them, like a file
system's (cc-node's AddressResolver: `a/b/c/d/e` is account e on node d). A Tallystick community
grafted as `trunk/branch/riverside` names its member with id `m_abcd...` as
`trunk/branch/riverside/m_abcd...` cut to `member_name_chars` (the whole id does not fit cc-node's
64-character account columns, and a member's display name is personal data that never leaves the
node). The cut keeps 80 bits of the id: two members of one community sharing it is a refusal at
lookup (`ambiguous`), never a payment to the wrong one.
"""

from __future__ import annotations

import re

from tallystick.protocol.ids import id_to_text

segment_pattern = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
path_chars_max = 255
path_segments_max = 12  # a tree deeper than this is not one this node can be grafted into
member_name_chars = 18  # 'm_' and 16 base32 characters: 80 bits of the member id


class PathError(ValueError):
    """A path that is not one: the caller answers PathViolation."""


def segments(path: str) -> list[str]:
    if not isinstance(path, str) or not path or len(path) > path_chars_max:
        raise PathError(f"a path is 1 to {path_chars_max} characters, such as trunk/branch/alice")
    parts = path.split("/")
    if len(parts) > path_segments_max or not all(segment_pattern.match(part) for part in parts):
        raise PathError("a path is names of letters, digits, '_', '.' and '-', separated by '/'")
    return parts


def member_name(member_id: bytes) -> str:
    return id_to_text("m", member_id)[:member_name_chars]


def member_path(node_path: str, member_id: bytes) -> str:
    return f"{node_path}/{member_name(member_id)}"


def local_account(node_path: str, path: str) -> str | None:
    """The account name on this node that `path` names, or None if it names one elsewhere. A path
    may leave out the nodes above this one (cc-node resolves relative paths the same way)."""
    own = segments(node_path)
    parts = segments(path)
    for start in range(len(own)):
        if parts[:-1] == own[start:]:
            return parts[-1]
    return None
