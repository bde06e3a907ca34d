"""The image's promises that can be read from its files; scripts/container-test.sh (the last
stage of .ci/run) builds and runs the image itself."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.deploy.test_deploy_files import stages

REPO = Path(__file__).resolve().parents[2]
BUILD_ARGS = ("PACKAGE_INDEX_URL", "EXTRA_INDEX_URL", "EXTRA_CA_CERTS")


def test_runtime_stage_declares_the_data_volume_owned_by_the_service_user() -> None:
    final = stages()[-1]
    names = [ins for ins, _ in final]
    (volume,) = [args for ins, args in final if ins == "VOLUME"]
    assert json.loads(volume) == ["/var/lib/dsr-bot"]
    # After the RUN that creates the home (a new volume copies its owner), before USER.
    created = next(i for i, (ins, a) in enumerate(final) if ins == "RUN" and "useradd" in a)
    assert created < names.index("VOLUME") < names.index("USER")
    env = " ".join(args for ins, args in final if ins == "ENV")
    assert "DSR_BOT_DATABASE_URL=sqlite:////var/lib/dsr-bot/" in env
    assert "DSR_BOT_DEMO_DIR=/tmp/" in env  # the demo never writes to the read-only root


def test_index_and_ca_build_args_stay_in_the_build_stage_and_are_documented() -> None:
    build, final = stages()[0], stages()[-1]
    declared = {a.split("=", 1)[0] for ins, a in build if ins == "ARG"}
    assert set(BUILD_ARGS) <= declared
    final_text = " ".join(a for _, a in final)
    for arg in BUILD_ARGS:
        assert arg not in final_text, f"{arg} would reach the runtime image"
    operations = (REPO / "docs" / "operations.md").read_text()
    readme = (REPO / "README.md").read_text()
    for arg in (*BUILD_ARGS, "PYTHON_IMAGE"):
        assert f"`{arg}`" in operations, arg
    for arg in BUILD_ARGS:
        assert arg in readme, arg


def test_ci_runs_the_readme_test_command_first_and_the_container_stage_last() -> None:
    commands = [
        line.strip()
        for line in (REPO / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "set ", "cd "))
    ]
    assert commands == ["bash scripts/test.sh", "bash scripts/container-test.sh"]
    for script in ("container-test.sh", "lock.sh", "venv.sh"):
        proc = subprocess.run(["bash", "-n", str(REPO / "scripts" / script)], capture_output=True)
        assert proc.returncode == 0, proc.stderr


def test_podman_settings_are_documented() -> None:
    operations = (REPO / "docs" / "operations.md").read_text()
    for setting in ("default_ulimits", 'runtime = "runc"', "iptables", "podman exec"):
        assert setting in operations, setting
