"""The pinned dependencies agree with pyproject.toml and with the shipped model.

A spaCy model names the spaCy releases it loads on (`spacy_version` in its meta.json). If
pyproject.toml allowed more, an image built after a spaCy 3.9 release would install a spaCy
that refuses the model at start-up; so the two ranges must be the same, and the locks that the
image and CI install from must pin a release inside it. The range is read from meta.json here,
never copied, so a retrained model is checked against whatever it says.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
META = REPO / "src" / "dsr_bot" / "classify" / "model" / "meta.json"
RUNTIME_LOCK = REPO / "requirements.lock"
TEST_LOCK = REPO / "requirements-test.lock"

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def pins(lock: Path) -> dict[str, tuple[Version, list[str]]]:
    """name -> (pinned version, its hashes), from a pip-compile --generate-hashes file."""
    found: dict[str, tuple[Version, list[str]]] = {}
    current: str | None = None
    for line in lock.read_text().splitlines():
        match = _PIN.match(line)
        if match:
            current = canonicalize_name(match[1])
            assert current not in found, f"{lock.name}: {current} pinned twice"
            found[current] = (Version(match[2]), [])
        elif current and line.strip().startswith("--hash=sha256:"):
            found[current][1].append(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
        elif line.strip() and not line.lstrip().startswith("#"):
            raise AssertionError(f"{lock.name}: unexpected line {line!r}")
    return found


def project() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def requirements(group: str | None = None) -> list[Requirement]:
    raw = project()["dependencies"] if group is None else project()["optional-dependencies"][group]
    return [Requirement(r) for r in raw]


def test_pyproject_spacy_range_is_the_models_range() -> None:
    model_range = SpecifierSet(json.loads(META.read_text())["spacy_version"])
    (spacy,) = [r for r in requirements() if canonicalize_name(r.name) == "spacy"]
    assert spacy.specifier == model_range, (
        f"pyproject.toml allows spacy{spacy.specifier}, the model in {META.parent.name}/ needs "
        f"spacy{model_range}: make them the same, then run scripts/lock.sh"
    )


def test_locks_pin_a_spacy_the_model_loads_on() -> None:
    model_range = SpecifierSet(json.loads(META.read_text())["spacy_version"])
    for lock in (RUNTIME_LOCK, TEST_LOCK):
        version, _ = pins(lock)["spacy"]
        assert version in model_range, (
            f"{lock.name} pins spacy {version}, model needs {model_range}"
        )


def test_runtime_lock_satisfies_pyproject() -> None:
    locked = pins(RUNTIME_LOCK)
    for req in requirements():
        name = canonicalize_name(req.name)
        assert name in locked, f"{name} is not in requirements.lock: run scripts/lock.sh"
        assert req.specifier.contains(locked[name][0], prereleases=True), (
            f"requirements.lock pins {name} {locked[name][0]}, pyproject.toml wants "
            f"{req.specifier}: run scripts/lock.sh"
        )


def test_test_lock_satisfies_the_test_extra_and_pins_the_runtime_the_same() -> None:
    runtime, test = pins(RUNTIME_LOCK), pins(TEST_LOCK)
    for req in requirements("test"):
        name = canonicalize_name(req.name)
        assert name in test, f"{name} is not in requirements-test.lock: run scripts/lock.sh"
        assert req.specifier.contains(test[name][0], prereleases=True), name
    # CI must test exactly what the image ships.
    differ = {n: (v, test.get(n, (None,))[0]) for n, (v, _) in runtime.items()
              if test.get(n, (None,))[0] != v}  # fmt: skip
    assert not differ, f"runtime pins differ between the locks (runtime, test): {differ}"


def test_every_pin_carries_hashes() -> None:
    for lock in (RUNTIME_LOCK, TEST_LOCK):
        for name, (_, hashes) in pins(lock).items():
            assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), (lock, name)


def test_image_and_ci_install_from_the_locks() -> None:
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    assert re.search(
        r"pip install [^\n]*--require-hashes[^\n]*-r /src/requirements\.lock", dockerfile
    )
    venv = (REPO / "scripts" / "venv.sh").read_text()
    assert "--require-hashes" in venv and "requirements${extras:+-$extras}.lock" in venv
