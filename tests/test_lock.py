"""The locks agree with pyproject.toml, with each other and with environment.yml's pip section."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support import REPO

LESSON_LOCK = REPO / "requirements" / "lesson.txt"
TEST_LOCK = REPO / "requirements" / "test.txt"

Pins = dict[str, list[Requirement]]


def pin_lines(path: Path) -> list[str]:
    """The requirement lines of a lock, without its comments."""
    return [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.match(r"[A-Za-z0-9]", line)
    ]


def pins(lines: list[str]) -> Pins:
    """Each package's pins; a universal lock may pin one package twice, under other markers."""
    found: Pins = {}
    for line in lines:
        requirement = Requirement(line)
        (clause,) = requirement.specifier
        assert clause.operator == "==", f"not pinned: {line}"
        found.setdefault(canonicalize_name(requirement.name), []).append(requirement)
    return found


def versions(requirements: list[Requirement]) -> set[str]:
    return {str(requirement.specifier) for requirement in requirements}


def pyproject_requirements(*extras: str) -> list[Requirement]:
    with (REPO / "pyproject.toml").open("rb") as file:
        project = tomllib.load(file)["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def disagreements(declared: list[Requirement], locked: Pins) -> list[str]:
    """Each declared dependency the lock lacks, or pins outside pyproject's range."""
    problems = []
    for requirement in declared:
        name = canonicalize_name(requirement.name)
        if name not in locked:
            problems.append(f"{name} is not in the lock")
            continue
        for pin in locked[name]:
            version = next(iter(pin.specifier)).version
            if not requirement.specifier.contains(version, prereleases=True):
                problems.append(f"{name}=={version} is outside {requirement.specifier}")
    return problems


def environment_pip_lines() -> list[str]:
    environment = yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))
    sections = [item["pip"] for item in environment["dependencies"] if isinstance(item, dict)]
    assert len(sections) == 1, "environment.yml needs one pip: section"
    return [str(line) for line in sections[0]]


@pytest.mark.parametrize(
    ("lock", "extras"), [(LESSON_LOCK, ()), (TEST_LOCK, ("test",))], ids=["lesson", "test"]
)
def test_lock_pins_every_dependency_inside_pyproject_range(lock: Path, extras: tuple[str]) -> None:
    assert disagreements(pyproject_requirements(*extras), pins(pin_lines(lock))) == []


def test_the_check_catches_a_missing_package_and_a_pin_out_of_range() -> None:
    declared = [Requirement("openai>=3.51,<3.52"), Requirement("regex>=2026.11")]
    locked = pins(["openai==3.52.0"])
    assert disagreements(declared, locked) == [
        "openai==3.52.0 is outside <3.52,>=3.51",
        "regex is not in the lock",
    ]


def test_test_lock_keeps_every_lesson_pin() -> None:
    """CI runs the versions Binder and learners run, plus the test tools."""
    lesson, test = pins(pin_lines(LESSON_LOCK)), pins(pin_lines(TEST_LOCK))
    # Markers may differ: a package the tests name directly is needed everywhere.
    changed = {name for name in lesson if versions(test.get(name, [])) != versions(lesson[name])}
    assert changed == set()


def test_lesson_lock_leaves_the_test_tools_out() -> None:
    lesson = pins(pin_lines(LESSON_LOCK))
    for tool in ("pytest", "playwright", "mypy", "ruff", "hypothesis", "jupyter-repo2docker"):
        assert tool not in lesson, tool


def test_environment_yml_pip_section_is_the_lesson_lock() -> None:
    """micromamba runs pip on a copy of this section in /tmp, so it holds the pins themselves."""
    assert environment_pip_lines() == pin_lines(LESSON_LOCK), (
        "copy requirements/lesson.txt's pins into environment.yml's pip: section"
    )


def test_lesson_lock_installs_on_binder_python() -> None:
    """Every pin without a marker, or whose marker holds on Linux with Python 3.11, is one line."""
    linux = default_environment() | {
        "sys_platform": "linux",
        "os_name": "posix",
        "platform_system": "Linux",
        "python_version": "3.11",
        "python_full_version": "3.11.14",
        "implementation_name": "cpython",
    }
    chosen: dict[str, int] = {}
    for requirement in (Requirement(line) for line in pin_lines(LESSON_LOCK)):
        if requirement.marker is None or requirement.marker.evaluate(linux):
            name = canonicalize_name(requirement.name)
            chosen[name] = chosen.get(name, 0) + 1
    assert {name for name, count in chosen.items() if count > 1} == set()
    assert {"openai", "jupyterlab", "starlette", "uvicorn", "regex"} <= set(chosen)
