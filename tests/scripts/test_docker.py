"""Dockerfile, compose.yaml and .dockerignore, checked without a Docker engine: the two services share the data and
models volumes, have health checks that the CLI answers, are configured by LFB_* variables with no secret value, run
as a non-root user, and the image installs through the same script as ./start.sh and ./test.sh.

Building and running the image needs a Docker engine and is not tested here. Where Docker Compose is installed, the
compose file is also validated by `docker compose config`."""
from __future__ import annotations

import json
import re
import shlex

import yaml

from lfb.cli import build_parser
from lfb.config import PROJECT_ROOT, get_settings

SECRET_WORDS = ("KEY", "PASSWORD", "SECRET", "TOKEN")


def dockerfile() -> list[tuple[str, str]]:
    """Return the Dockerfile's instructions as (INSTRUCTION, arguments), continuation lines joined."""
    lines, current = [], ""
    for raw in (PROJECT_ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        current += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            lines.append(current)
            current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def compose() -> dict:
    """Return compose.yaml as data (YAML anchors and merge keys resolved)."""
    return yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())


def cli_words(command: list[str]) -> list[str]:
    """Return the arguments after `python -m lfb` of a container command, checking that it is one."""
    assert command[:3] == ["python", "-m", "lfb"], command
    return command[3:]


def install_calls(script_text: str) -> list[list[str]]:
    """Return the words of each call of scripts/install.sh in a shell script or RUN line."""
    calls = []
    for line in script_text.splitlines():
        if "scripts/install.sh" in line and not line.lstrip().startswith("#"):
            words = shlex.split(line.replace("&&", " ; ").split(";")[0] if "&&" in line else line)
            at = next(i for i, w in enumerate(words) if w.endswith("scripts/install.sh"))
            calls.append(words[at:])
    return calls


def test_compose_has_the_app_and_the_scheduler_sharing_the_data_and_models_volumes():
    spec = compose()
    assert set(spec["services"]) == {"app", "scheduler"}
    assert set(spec["volumes"]) == {"data", "models"}
    for name, service in spec["services"].items():
        assert sorted(service["volumes"]) == ["data:/app/data", "models:/app/models"], name
        assert service["build"] == "." and service["restart"] == "unless-stopped", name
    image_env = dict(re.findall(r"(LFB_\w+)=(\S+)", (PROJECT_ROOT / "Dockerfile").read_text()))
    assert (image_env["LFB_DATA_DIR"], image_env["LFB_MODELS_DIR"]) == ("/app/data", "/app/models")


def test_each_service_has_a_health_check_the_cli_answers():
    services = compose()["services"]
    checks = {name: services[name]["healthcheck"]["test"] for name in services}
    assert checks == {"app": ["CMD", "python", "-m", "lfb", "health", "app"],
                      "scheduler": ["CMD", "python", "-m", "lfb", "health", "sidecar"]}
    parser = build_parser()
    for test in checks.values():
        assert parser.parse_args(cli_words(test[1:])).func.__name__ == "cmd_health"
    assert services["scheduler"]["depends_on"] == {"app": {"condition": "service_healthy"}}
    assert services["app"]["healthcheck"]["start_period"] == "10m"  # the first start loads demo data and trains


def test_the_services_run_the_app_with_its_set_up_and_the_same_sidecar_as_start_sh():
    services = compose()["services"]
    args = build_parser().parse_args(cli_words(services["app"]["command"]))
    assert (args.func.__name__, args.no_setup, args.no_sidecar) == ("cmd_serve", False, True)
    assert services["scheduler"]["command"] == shlex.split(get_settings().sidecar_cmd) == ["python", "scheduler.py"]
    assert services["app"]["ports"] == ["${LFB_PORT:-8501}:8501"]
    cmd = next(a for i, a in dockerfile() if i == "CMD")
    assert json.loads(cmd) == services["app"]["command"]


def test_configuration_comes_from_lfb_variables_and_no_secret_is_written():
    config_source = (PROJECT_ROOT / "lfb" / "config.py").read_text()
    for name, service in compose()["services"].items():
        for variable, value in service["environment"].items():
            assert variable.startswith("LFB_") and f'"{variable}"' in config_source, (name, variable)
            match = re.fullmatch(r"\$\{(\w+):-([^}]*)\}", str(value))
            assert match and match[1] == variable, (name, variable, value)  # from the shell or .env, by name
            if any(word in variable for word in SECRET_WORDS):
                assert match[2] == "", (name, variable)  # no default value for a secret
        assert {"LFB_COOKIE_KEY", "LFB_ADMIN_PASSWORD"} <= set(service["environment"])
    for instruction, arguments in dockerfile():
        if instruction in ("ENV", "ARG", "LABEL"):
            assert not any(word in arguments.upper() for word in SECRET_WORDS), arguments


def test_the_image_installs_through_the_same_script_as_the_bootstrap():
    runs = [args for instruction, args in dockerfile() if instruction == "RUN"]
    image_calls = [call for run in runs for call in install_calls(run)]
    assert image_calls == [["scripts/install.sh", "/opt/venv", "requirements.txt"]]
    assert not any(re.search(r"\bpip\b", run) for run in runs)  # nothing installed beside it
    bootstrap_calls = install_calls((PROJECT_ROOT / "scripts" / "bootstrap.sh").read_text())
    assert bootstrap_calls == [['$root/scripts/install.sh', '$venv', '$reqs']]
    copies = [args for instruction, args in dockerfile() if instruction == "COPY"]
    assert copies[:2] == ["requirements.txt ./", "scripts/install.sh scripts/"]  # before the install: its inputs
    env = " ".join(args for instruction, args in dockerfile() if instruction == "ENV")
    assert "PATH=/opt/venv/bin:$PATH" in env


def test_the_image_runs_as_a_non_root_user_with_a_health_check():
    instructions = dockerfile()
    users = [args for instruction, args in instructions if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert [i for i, _ in instructions].index("USER") > max(i for i, (name, _) in enumerate(instructions)
                                                           if name == "RUN")
    health = next(args for instruction, args in instructions if instruction == "HEALTHCHECK")
    assert health.endswith('CMD ["python", "-m", "lfb", "health", "app"]')
    assert instructions[0][0] == "FROM" and instructions[0][1].startswith("python:3.11")


def test_the_image_leaves_out_the_venv_the_state_and_test_output():
    ignored = {line.strip() for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", "data", "models", "tests/browser/screenshots", ".git", ".env"} <= ignored
