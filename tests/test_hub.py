"""The hub kit in hub/: rendered, parsed and read, since no hub runs here."""

from __future__ import annotations

import re
import runpy
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import yaml
from traitlets.config import Config

from tests.support import REPO

HUB = REPO / "hub"
CONFIG_SNIPPET = HUB / "jupyterhub_config.d" / "streaming-lab.py"
TOKEN = "token-from-the-hub-environment"


def release_tag() -> str:
    with (REPO / "pyproject.toml").open("rb") as file:
        return "v" + tomllib.load(file)["project"]["version"]


def load_snippet(monkeypatch: pytest.MonkeyPatch, token: str | None) -> Config:
    for name in ("TUTORIAL_SERVER_PYTHON", "TUTORIAL_SERVER_HOST", "TUTORIAL_SERVER_PORT"):
        monkeypatch.delenv(name, raising=False)
    if token is None:
        monkeypatch.delenv("TUTORIAL_SERVER_TOKEN", raising=False)
    else:
        monkeypatch.setenv("TUTORIAL_SERVER_TOKEN", token)
    c = Config()
    runpy.run_path(str(CONFIG_SNIPPET), init_globals={"get_config": lambda: c})
    return c


def test_config_snippet_runs_the_room_server_as_a_managed_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = load_snippet(monkeypatch, TOKEN)
    (service,) = c.JupyterHub.services.get_value([])
    assert service["name"] == "streaming-lab"
    command = service["command"]
    assert command[1:4] == ["-m", "helpers", "serve"]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    # The token reaches the server through its environment, never on the command line.
    assert TOKEN not in command
    assert service["environment"] == {"TUTORIAL_SERVER_TOKEN": TOKEN}
    environment = c.Spawner.environment.get_value({"KEEP": "1"})
    assert environment == {
        "KEEP": "1",
        "OPENAI_BASE_URL": "http://127.0.0.1:8000/v1",
        "OPENAI_API_KEY": TOKEN,
    }


def test_config_snippet_refuses_to_start_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit, match="TUTORIAL_SERVER_TOKEN"):
        load_snippet(monkeypatch, None)


def test_hub_files_hold_no_token() -> None:
    text = CONFIG_SNIPPET.read_text(encoding="utf-8")
    assert re.findall(r"TOKEN\s*=\s*[\"']\w", text) == []
    z2jh = yaml.safe_load((HUB / "z2jh-config.yaml").read_text(encoding="utf-8"))
    key = z2jh["singleuser"]["extraEnv"]["OPENAI_API_KEY"]
    assert set(key) == {"valueFrom"}, "the key comes from a Kubernetes Secret"


def test_z2jh_snippet_lets_user_pods_reach_an_in_cluster_engine() -> None:
    z2jh = yaml.safe_load((HUB / "z2jh-config.yaml").read_text(encoding="utf-8"))
    singleuser = z2jh["singleuser"]
    assert singleuser["networkPolicy"]["egressAllowRules"]["privateIPs"] is True
    assert singleuser["image"]["tag"] == release_tag()
    assert singleuser["extraEnv"]["OPENAI_BASE_URL"].endswith("/v1")


def test_tljh_requirements_come_from_the_release_tag() -> None:
    lines = [
        line.strip()
        for line in (HUB / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "-r ../requirements/lesson.txt"
    assert (HUB / "requirements.txt").parent.joinpath("../requirements/lesson.txt").is_file()
    # pip reads a nested -r relative to the URL of the file that names it.
    url = f"https://raw.githubusercontent.com/OWNER/REPO/{release_tag()}/hub/requirements.txt"
    assert urljoin(url, "../requirements/lesson.txt") == (
        f"https://raw.githubusercontent.com/OWNER/REPO/{release_tag()}/requirements/lesson.txt"
    )
    assert url in (HUB / "requirements.txt").read_text(encoding="utf-8")
    (project,) = lines[1:]
    assert project == (
        "streaming-completions-lab @ "
        f"https://github.com/OWNER/REPO/archive/refs/tags/{release_tag()}.tar.gz"
    )


def test_readme_nbgitpuller_link_pulls_the_release_tag_and_opens_notebook_01() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (link,) = re.findall(r"^https://HUB/hub/user-redirect/git-pull\?\S+$", readme, re.MULTILINE)
    query = parse_qs(urlsplit(link).query, strict_parsing=True)
    assert query == {
        "repo": ["https://github.com/OWNER/REPO"],
        "branch": [release_tag()],
        "urlpath": ["lab/tree/REPO/notebooks/01_plain_response.ipynb"],
    }
    assert (REPO / "notebooks" / "01_plain_response.ipynb").is_file()
    for path in ("hub/requirements.txt", "hub/jupyterhub_config.d/streaming-lab.py"):
        assert path in readme
        assert Path(REPO, path).is_file()
    assert "singleuser.networkPolicy.egressAllowRules.privateIPs" in readme.replace("\n  ", " ")
