"""docker/compose.yml describes a working cluster: its five services, run as plain processes with the
entrypoint and the environment compose would give them, replicate every feed to every node.

No Docker here: the test parses compose.yml, and for each service runs `sh docker/entrypoint.sh`
with the service's environment, rewritten for one machine - each of its volumes a temporary folder
(TALLY_HOME in its /data one, TALLY_RECOVERY and TALLY_ADMIN its /recovery and /admin ones),
TALLY_LISTEN on a free loopback
port, and each service hostname in TALLY_PEERS replaced by 127.0.0.1 and that service's port -
with the virtualenv's bin first on PATH (as the image has `tally` on its PATH). The entrypoint
`exec`s `tally serve`, so SIGTERM reaches the node itself. The image's health check
(docker/healthcheck.sh) runs the same way, and the Dockerfile's and compose file's other promises
(pinned dependencies, ports on loopback, health conditions) are read from the files themselves.
The five link jobs (docker/link.py) run at once as processes, each with only its own community's
admin volume, as compose runs them.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml
from packaging.requirements import Requirement

from helpers.replication import NodeProcess, wait_until
from helpers.support import clean_environment, free_port, key_from_file, tally

repository = Path(__file__).resolve().parents[2]
compose_file = repository / "docker" / "compose.yml"
entrypoint = repository / "docker" / "entrypoint.sh"
healthcheck = repository / "docker" / "healthcheck.sh"
dockerfile = repository / "docker" / "Dockerfile"
constraints_file = repository / "docker" / "constraints.txt"
link_script = repository / "docker" / "link.py"
# The five link jobs at once, from five processes' start, each polling its node.
link_timeout_seconds = 300
# The entrypoint runs `tally init` before `tally serve`: two process starts, five services at once,
# on a machine that may be busy with other tests.
entrypoint_start_timeout_seconds = 90.0


def rewrite_peers(peers: str, ports: dict[str, int]) -> str:
    rewritten = []
    for url in peers.split():
        parts = urlsplit(url)
        assert parts.hostname in ports, f"TALLY_PEERS names {parts.hostname!r}, which is not a service"
        rewritten.append(urlunsplit((parts.scheme, f"127.0.0.1:{ports[parts.hostname]}", parts.path, "", "")))
    return " ".join(rewritten)


def node_services() -> dict[str, Any]:
    """The compose services that are community nodes (the link jobs are not)."""
    services = yaml.safe_load(compose_file.read_text())["services"]
    return {name: service for name, service in services.items() if "TALLY_NAME" in (service.get("environment") or {})}


def volume_folders(service: dict[str, Any], directory: Path) -> dict[str, Path]:
    """Each of a service's named volumes as a folder of its own: mount point -> folder."""
    folders = {}
    for volume in service.get("volumes", []):
        name, mount = volume.split(":")[:2]
        folders[mount] = directory / name
        folders[mount].mkdir(exist_ok=True)
    return folders


def service_environment(name: str, node: NodeProcess) -> dict[str, str]:
    assert node.environment is not None
    return node.environment


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProcess]]:
    services = node_services()
    ports = {name: free_port() for name in services}
    directory = tmp_path_factory.mktemp("compose")
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    nodes: dict[str, NodeProcess] = {}
    for name, service in services.items():
        environment = {key: str(value) for key, value in (service.get("environment") or {}).items()}
        volumes = volume_folders(service, directory)
        environment.update(
            TALLY_HOME=str(volumes["/data"] / "home"),
            TALLY_RECOVERY=str(volumes["/recovery"]),
            TALLY_ADMIN=str(volumes["/admin"]),
            TALLY_LISTEN=f"127.0.0.1:{ports[name]}",
            TALLY_PEERS=rewrite_peers(environment.get("TALLY_PEERS", ""), ports),
        )
        nodes[name] = NodeProcess(
            home=volumes["/data"] / "home",
            port=ports[name],
            command=["sh", str(entrypoint)],
            environment=clean_environment(PATH=path, **environment),
            start_timeout_seconds=entrypoint_start_timeout_seconds,
        )
    try:
        for node in nodes.values():
            node.launch()
        for node in nodes.values():
            node.wait_for_status()
        yield nodes
    finally:
        failures = []
        for name, node in nodes.items():
            if node.running:
                status = node.stop()
                if status != 0:
                    failures.append(f"{name}: exit status {status}\n{node.output()[-2000:]}")
        assert not failures, "\n".join(failures)


def test_the_compose_services_run_as_processes_form_a_cluster_where_every_node_holds_all_five_feeds(
    cluster: dict[str, NodeProcess],
) -> None:
    feeds = {node.feed_text for node in cluster.values()}
    assert len(feeds) == 5

    def everyone_holds_all() -> bool:
        return all(set(node.feeds()) == feeds for node in cluster.values())

    wait_until(everyone_holds_all, "every compose node holding all five feeds",
               describe=lambda: {name: len(node.feeds()) for name, node in cluster.items()})
    names = {node.status()["name"] for node in cluster.values()}
    assert names == {service["environment"]["TALLY_NAME"] for service in node_services().values()}


def link_jobs() -> dict[str, Any]:
    """The compose services that are link jobs: one per community, named link-COMMUNITY."""
    services = yaml.safe_load(compose_file.read_text())["services"]
    return {name: service for name, service in services.items() if service.get("entrypoint") == ["tally-link"]}


def link_command(job: dict[str, Any], cluster: dict[str, NodeProcess], directory: Path) -> list[str]:
    """A link job's command for one machine: service URLs to loopback ports, its volume paths to
    the folders the node services' volumes are (the same named volume, the same folder)."""
    ports = {name: node.port for name, node in cluster.items()}
    mounts = volume_folders(job, directory)
    arguments = []
    for argument in job["command"]:
        if argument.startswith("http://"):
            url, _, key = argument.partition("=")
            mount = next(m for m in mounts if key.startswith(m + "/"))
            argument = f"{rewrite_peers(url, ports)}={mounts[mount] / key[len(mount) + 1:]}"
        elif "=http://" in argument:
            name, _, urls = argument.partition("=")
            argument = f"{name}=" + ",".join(rewrite_peers(url, ports) for url in urls.split(","))
        arguments.append(argument)
    return [sys.executable, str(link_script), *arguments]


def run_together(commands: list[list[str]]) -> list[subprocess.CompletedProcess[str]]:
    """Start every command at once (as compose starts the jobs) and wait for each."""
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=clean_environment(), stdin=subprocess.DEVNULL) for command in commands]
    done = []
    deadline = time.monotonic() + link_timeout_seconds
    for command, process in zip(commands, processes, strict=True):
        try:
            stdout, stderr = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            outputs = ["".join(part[-1500:] for part in other.communicate()) for other in processes]
            raise AssertionError(f"link jobs still running after {link_timeout_seconds} s:\n" + "\n---\n".join(outputs)) from None
        done.append(subprocess.CompletedProcess(command, process.returncode, stdout, stderr))
    return done


def test_each_link_job_mounts_only_its_own_communitys_admin_volume() -> None:
    jobs = link_jobs()
    assert {name.removeprefix("link-") for name in jobs} == set(node_services())
    for name, job in jobs.items():
        community = name.removeprefix("link-")
        assert job["volumes"] == [f"{community}-admin:/admin:ro"]
        me = job["command"][job["command"].index("--self") + 1]
        assert urlsplit(me.partition("=")[0]).hostname == community
    for name, service in node_services().items():
        assert f"{name}-admin:/admin" in service["volumes"]


def test_the_link_jobs_each_with_one_admin_key_link_the_five_into_two_federations_under_one_confederation(
    cluster: dict[str, NodeProcess], tmp_path: Path,
) -> None:
    """The five link jobs' commands, run at once as processes with the hostnames and volume paths
    rewritten for one machine, found East and West under one confederation; every community then
    applies its trade limits and its capacity share; run again, they do nothing."""
    directory = next(iter(cluster.values())).home.parent.parent
    jobs = link_jobs()
    commands = [link_command(job, cluster, directory) for job in jobs.values()]
    # A job with a key file that is no community's admin is refused by its node and changes nothing.
    heads = {name: node.status()["seq"] for name, node in cluster.items()}
    stranger = tmp_path / "stranger.key"
    assert tally("key", "new", stranger).returncode == 0
    forged = list(commands[0])
    self_at = forged.index("--self") + 1
    forged[self_at] = f"{forged[self_at].partition('=')[0]}={stranger}"
    [refused] = run_together([forged])
    assert refused.returncode == 1 and "refused" in refused.stderr
    assert {name: node.status()["seq"] for name, node in cluster.items()} == heads
    assert all(node.get("/api/federations") == [] for node in cluster.values())

    linked = run_together(commands)
    assert [job.returncode for job in linked] == [0] * len(commands), [job.stderr[-2000:] for job in linked]

    def confederation_founded(node: NodeProcess) -> bool:
        federations = {f["name"]: f for f in node.get("/api/federations")}
        top = federations.get("Cluster confederation")
        return top is not None and top["founded"] and len(top["members"]) == 2

    def applied(node: NodeProcess) -> bool:
        # The log is the admins': read it with the key the entrypoint moved to the admin volume.
        admin = key_from_file(Path(node.environment["TALLY_ADMIN"]) / "admin.key")  # type: ignore[index]
        answer = node.get_as(admin, "/api/log?limit=1000")
        assert answer.status == 200, answer.body[:300]
        kinds = {event["body"]["kind"] for event in answer.json()["events"]}
        return {"charter", "trade_limits", "capacity_limits"} <= kinds

    for name, node in cluster.items():
        wait_until(lambda node=node: confederation_founded(node) and applied(node),
                   f"{name} holding the confederation and applying its limits and share")
    again = run_together(commands)
    assert all(job.returncode == 0 and "already linked" in job.stdout for job in again), [j.stdout for j in again]


def test_each_node_moves_its_admin_key_out_of_its_own_volume_into_its_admin_volume(
    cluster: dict[str, NodeProcess],
) -> None:
    for name, node in cluster.items():
        assert not (node.home / "admin.key").exists(), f"{name} left its admin key in its node volume"
        key = Path(service_environment(name, node)["TALLY_ADMIN"]) / "admin.key"
        assert key.stat().st_mode & 0o077 == 0
        assert not key.is_relative_to(node.home.parent)


def test_each_node_moves_its_recovery_key_out_of_its_own_volume_into_its_recovery_volume(
    cluster: dict[str, NodeProcess],
) -> None:
    keys = set()
    for name, node in cluster.items():
        assert not (node.home / "recovery.key").exists(), f"{name} left its recovery key in its node volume"
        key = Path(service_environment(name, node)["TALLY_RECOVERY"]) / "recovery.key"
        assert key.stat().st_mode & 0o077 == 0
        assert not key.is_relative_to(node.home.parent)
        keys.add(key.read_text())
    assert len(keys) == len(cluster)


def test_the_health_check_passes_on_a_serving_node_and_fails_where_none_answers(
    cluster: dict[str, NodeProcess],
) -> None:
    node = next(iter(cluster.values()))
    environment = service_environment("", node)
    healthy = subprocess.run(["sh", str(healthcheck)], check=False, env=environment, capture_output=True, text=True, timeout=30)
    assert healthy.returncode == 0, healthy.stderr
    nobody = dict(environment, TALLY_LISTEN=f"0.0.0.0:{free_port()}")
    unhealthy = subprocess.run(["sh", str(healthcheck)], check=False, env=nobody, capture_output=True, text=True, timeout=30)
    assert unhealthy.returncode != 0


def test_the_image_runs_the_health_check_and_compose_waits_for_healthy_nodes() -> None:
    text = dockerfile.read_text()
    assert "COPY docker/healthcheck.sh /usr/local/bin/tally-health" in text
    assert re.search(r'^HEALTHCHECK .*CMD \["tally-health"\]$', text, re.MULTILINE)
    services = yaml.safe_load(compose_file.read_text())["services"]
    for name, service in services.items():
        if name in node_services():
            continue
        assert name in link_jobs()
        depends = service["depends_on"]
        assert isinstance(depends, dict), f"{name} waits for nodes that merely started"
        assert set(depends) == set(node_services())
        assert all(condition == {"condition": "service_healthy"} for condition in depends.values())


def test_every_node_port_is_published_on_loopback_only() -> None:
    for name, service in node_services().items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every address"


def _runtime_closure() -> dict[str, str]:
    """Every distribution the installed tallystick needs to run, by normalised name -> version."""
    found: dict[str, str] = {}

    def walk(requirement: Requirement) -> None:
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            return
        key = re.sub(r"[-_.]+", "-", requirement.name).lower()
        if key in found:
            return
        distribution = importlib.metadata.distribution(requirement.name)
        found[key] = distribution.version
        for text in distribution.requires or []:
            walk(Requirement(text))

    for text in importlib.metadata.distribution("tallystick").requires or []:
        walk(Requirement(text))
    return found


def test_the_image_installs_every_runtime_dependency_at_the_tested_version() -> None:
    text = dockerfile.read_text()
    assert "-c docker/constraints.txt ." in text and "PIP_CONSTRAINT=" in text
    pinned = {}
    for line in constraints_file.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pinned[re.sub(r"[-_.]+", "-", name).lower()] = version
    assert "setuptools" in pinned  # the build backend, through PIP_CONSTRAINT
    assert {name: pinned.get(name) for name in _runtime_closure()} == _runtime_closure()
