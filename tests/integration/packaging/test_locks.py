"""The locks (scripts/lock) agree with pyproject.toml: every package pinned with hashes, every
requirement of the project in its lock at a version the requirement allows, the lock complete
(each package's own requirements are in it) and nothing in it that no requirement explains.
Each package's requirements are read from its installed metadata: the venv is built from the
test lock, so it holds every package of the service's lock as well."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from tests.helpers.processes import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


@dataclass(frozen=True)
class Pin:
    version: str
    hashes: tuple[str, ...]


def read_requirements(path: Path) -> list[str]:
    """The requirement lines of a pip requirements file: comments dropped, continuations joined."""
    text = re.sub(r"(?m)^\s*#.*\n?|\s+#.*$", "", path.read_text())
    return [line.strip() for line in text.replace("\\\n", " ").splitlines() if line.strip()]


def read_lock(name: str) -> dict[NormalizedName, Pin]:
    pins: dict[NormalizedName, Pin] = {}
    for line in read_requirements(REPO / name):
        requirement, *options = line.split()
        package, equals, version = requirement.partition("==")
        assert equals, f"{name}: {requirement} is not pinned with =="
        hashes = tuple(option.removeprefix("--hash=") for option in options if option.startswith("--hash=sha256:"))
        assert len(hashes) == len(options), f"{name}: {package} has options other than sha256 hashes: {options}"
        pins[canonicalize_name(package)] = Pin(version, hashes)
    return pins


LOCKS = {
    "requirements.lock": [Requirement(r) for r in PROJECT["dependencies"]],
    "requirements-test.lock": [
        Requirement(r) for r in PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]
    ],
    "requirements-build.lock": [Requirement(r) for r in read_requirements(REPO / "requirements-build.in")],
}


def unmet(requirements: Iterable[Requirement], pins: dict[NormalizedName, Pin]) -> list[str]:
    """The requirements a lock does not meet, each with what the lock has instead."""
    misses = []
    for requirement in requirements:
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None or not requirement.specifier.contains(pin.version, prereleases=True):
            misses.append(f"{requirement} (locked: {pin.version if pin else 'absent'})")
    return misses


def needed(roots: Iterable[Requirement]) -> set[NormalizedName]:
    """The packages the roots need on this interpreter, their own requirements (and extras') included."""
    seen: set[tuple[NormalizedName, str]] = set()
    todo = [r for r in roots if r.marker is None or r.marker.evaluate({"extra": ""})]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        for extra in {"", *requirement.extras}:
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            for line in metadata.requires(name) or []:
                dependency = Requirement(line)
                if dependency.marker is None or dependency.marker.evaluate({"extra": extra}):
                    todo.append(dependency)
    return {name for name, _ in seen}


@pytest.mark.parametrize("lock", LOCKS)
def test_every_package_of_a_lock_is_pinned_with_hashes(lock: str) -> None:
    pins = read_lock(lock)
    assert pins
    assert not [name for name, pin in pins.items() if not pin.hashes]


@pytest.mark.parametrize("lock", LOCKS)
def test_every_requirement_is_locked_at_a_version_it_allows(lock: str) -> None:
    assert unmet(LOCKS[lock], read_lock(lock)) == []


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-test.lock"])
def test_a_lock_holds_what_its_requirements_need_and_nothing_else(lock: str) -> None:
    locked, wanted = set(read_lock(lock)), needed(LOCKS[lock])
    assert {"missing": sorted(wanted - locked), "unexplained": sorted(locked - wanted)} == {
        "missing": [],
        "unexplained": [],
    }


def test_the_build_lock_holds_the_build_backend_pyproject_names() -> None:
    build = read_lock("requirements-build.lock")
    assert unmet([Requirement(r) for r in PYPROJECT["build-system"]["requires"]], build) == []
    assert set(build) == {canonicalize_name(r.name) for r in LOCKS["requirements-build.lock"]}


def test_a_package_has_one_version_in_every_lock() -> None:
    versions: dict[NormalizedName, set[str]] = {}
    for lock in LOCKS:
        for name, pin in read_lock(lock).items():
            versions.setdefault(name, set()).add(pin.version)
    assert {name: v for name, v in versions.items() if len(v) > 1} == {}


def test_the_service_lock_is_the_test_lock_less_the_test_extras() -> None:
    service, test = read_lock("requirements.lock"), read_lock("requirements-test.lock")
    assert {name: pin for name, pin in test.items() if name in service} == service
