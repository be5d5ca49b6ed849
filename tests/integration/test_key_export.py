"""`tally key export` / `tally key import`: the node key, sealed under a passphrase, round trips into
its home folder (and a member key into a new FILE.key); any other target is refused, writing nothing.

The passphrase comes from TALLY_PASSPHRASE, as a script would give it.
"""

from __future__ import annotations

import json
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers.nodes import NodeProcess, init_home
from helpers.support import clean_environment, key_from_file, tally

passphrase = "correct horse battery staple"


@dataclass
class Exported:
    home: Path
    node_id: str
    sealed: Path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    folder = tmp_path_factory.mktemp("export")
    home = folder / "home"
    created = init_home(home)
    sealed = folder / "node-key.sealed"
    done = tally("key", "export", home, sealed, env=clean_environment(TALLY_PASSPHRASE=passphrase))
    assert done.returncode == 0, done.stderr
    return Exported(home, created["node"], sealed)


def test_export_writes_a_private_file_that_does_not_hold_the_key_in_clear(exported: Exported) -> None:
    assert stat.S_IMODE(exported.sealed.stat().st_mode) == 0o600
    secret = (exported.home / "node.key").read_text().strip()
    content = exported.sealed.read_text()
    assert secret not in content and secret[2:] not in content
    json.loads(content)  # a documented JSON format


def test_exported_key_imports_back_to_the_same_key(exported: Exported, tmp_path: Path) -> None:
    target = tmp_path / "restored.key"
    done = tally("key", "import", exported.sealed, target, env=clean_environment(TALLY_PASSPHRASE=passphrase))
    assert done.returncode == 0, done.stderr
    assert key_from_file(target).seed == key_from_file(exported.home / "node.key").seed
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_import_with_a_wrong_passphrase_is_refused_in_one_clear_line_and_writes_nothing(
    exported: Exported, tmp_path: Path
) -> None:
    target = tmp_path / "restored.key"
    done = tally(
        "key",
        "import",
        exported.sealed,
        target,
        env=clean_environment(TALLY_PASSPHRASE="wrong " + passphrase),
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "wrong passphrase" in lines[0], done.stderr
    assert not target.exists()


def test_import_restores_a_lost_node_key_and_the_node_serves_its_feed_again(
    exported: Exported, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(exported.home, home)
    (home / "node.key").unlink()
    done = tally("key", "import", exported.sealed, home, env=clean_environment(TALLY_PASSPHRASE=passphrase))
    assert done.returncode == 0, done.stderr
    port = json.loads((home / "config.json").read_text())["listen_port"]
    node = NodeProcess(home=home, port=port, log_path=tmp_path / "serve.log").start()
    try:
        assert node.get("/api/status")["node"] == exported.node_id
        node.admit("after the restore")  # the restored key signs the next event
    finally:
        assert node.stop() == 0


def test_import_into_a_name_that_is_no_home_folder_is_refused_and_writes_nothing(
    exported: Exported, tmp_path: Path
) -> None:
    # `tally key import EXPORT riverside` with no folder `riverside`: not a file named riverside.
    done = tally("key", "import", exported.sealed, tmp_path / "riverside",
                 env=clean_environment(TALLY_PASSPHRASE=passphrase))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no home folder" in lines[0] and "HOME_DIR" in lines[0], done.stderr
    assert list(tmp_path.iterdir()) == []


def test_import_into_a_folder_that_is_no_home_is_refused_and_writes_nothing(
    exported: Exported, tmp_path: Path
) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    done = tally("key", "import", exported.sealed, folder, env=clean_environment(TALLY_PASSPHRASE=passphrase))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no node home" in lines[0] and "config.json" in lines[0], done.stderr
    assert list(folder.iterdir()) == []


def test_import_into_a_home_that_still_holds_its_node_key_is_refused_and_changes_nothing(
    exported: Exported,
) -> None:
    before = (exported.home / "node.key").read_bytes()
    done = tally("key", "import", exported.sealed, exported.home, env=clean_environment(TALLY_PASSPHRASE=passphrase))
    assert done.returncode == 2 and "exists; move it away first" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert (exported.home / "node.key").read_bytes() == before


def test_a_member_key_exports_and_imports_into_a_new_key_file(tmp_path: Path) -> None:
    member = tmp_path / "alice.key"
    assert tally("key", "new", member).returncode == 0
    sealed = tmp_path / "alice.sealed"
    env = clean_environment(TALLY_PASSPHRASE=passphrase)
    assert tally("key", "export", member, sealed, env=env).returncode == 0
    done = tally("key", "import", sealed, tmp_path / "alice-again.key", env=env)
    assert done.returncode == 0, done.stderr
    assert key_from_file(tmp_path / "alice-again.key").seed == key_from_file(member).seed
