"""Installing Tallystick prints no setuptools warning, and the wheel carries the pages' templates.

How this works: the distribution's sources (what docker/Dockerfile copies) are copied into a
temporary folder, so the build's `build/` and `*.egg-info` never touch the work tree, and the wheel
is built there with this environment's pip and setuptools (`--no-build-isolation`: no download).
pip's `-v` shows the build backend's whole output, where setuptools prints its warnings.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

repository = Path(__file__).resolve().parent.parent
# What a wheel is built from: the packaging metadata, the README it embeds, and the packages.
sources = ["pyproject.toml", "README.md", "tallystick", "protocol", "ledger", "node", "replication", "federation", "cli"]
build_timeout_seconds = 300


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(the wheel, everything the build printed)."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    source.mkdir()
    for name in sources:
        origin = repository / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(origin, source / name)
    wheels = work / "wheels"
    # PYTHONDONTWRITEBYTECODE makes setuptools warn that byte-compiling is disabled: not ours.
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(wheels), str(source)],
        check=False, capture_output=True, text=True, timeout=build_timeout_seconds, env=environment,
        stdin=subprocess.DEVNULL,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    [wheel] = wheels.glob("tallystick-*.whl")
    return wheel, output


def test_building_the_wheel_prints_no_setuptools_warning(built: tuple[Path, str]) -> None:
    _, output = built
    warnings = [line.strip() for line in output.splitlines() if re.search(r"warning|deprecat", line, re.IGNORECASE)]
    assert warnings == []


def test_the_wheel_carries_every_page_template(built: tuple[Path, str]) -> None:
    wheel, _ = built
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    templates = sorted(path.name for path in (repository / "node" / "templates").glob("*.html"))
    assert templates, "node/templates holds no template"
    assert {f"tallystick/node/templates/{name}" for name in templates} <= names


def test_the_wheel_declares_its_license_as_an_spdx_expression(built: tuple[Path, str]) -> None:
    wheel, _ = built
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        headers = archive.read(metadata).decode().split("\n\n", 1)[0].splitlines()
    assert "License-Expression: AGPL-3.0-or-later" in headers
    assert not any(line.startswith("License:") for line in headers)
