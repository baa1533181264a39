"""Runs the room's simulated OpenAI server as a JupyterHub managed service.

Copy this file into the hub's `jupyterhub_config.d/` (TLJH: /opt/tljh/config/jupyterhub_config.d/).
The hub starts the server with itself, restarts it if it dies, and stops it on shutdown. The
token comes from the hub's environment (`TUTORIAL_SERVER_TOKEN`) and is never written here.
"""

import os

c = get_config()  # noqa: F821 (JupyterHub defines get_config when it loads this file)

# The Python where the tutorial is installed: TLJH's user environment.
PYTHON = os.environ.get("TUTORIAL_SERVER_PYTHON", "/opt/tljh/user/bin/python")
# Learners' servers run on the hub's machine under TLJH, so loopback is enough.
HOST = os.environ.get("TUTORIAL_SERVER_HOST", "127.0.0.1")
PORT = os.environ.get("TUTORIAL_SERVER_PORT", "8000")
TOKEN = os.environ.get("TUTORIAL_SERVER_TOKEN", "")
if not TOKEN:
    raise SystemExit("streaming-lab.py: set TUTORIAL_SERVER_TOKEN in the hub's environment")

c.JupyterHub.services.append(
    {
        "name": "streaming-lab",
        "command": [PYTHON, "-m", "helpers", "serve", "--host", HOST, "--port", PORT],
        # The server reads its token from this variable, so it never shows in `ps`.
        "environment": {"TUTORIAL_SERVER_TOKEN": TOKEN},
    }
)
# Every learner's kernel then uses the shared server instead of starting its own.
c.Spawner.environment.update(
    {"OPENAI_BASE_URL": f"http://{HOST}:{PORT}/v1", "OPENAI_API_KEY": TOKEN}
)
