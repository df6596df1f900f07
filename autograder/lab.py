"""Open the course in JupyterLab: ``python -m autograder.lab [jupyter lab options]``.

Serves the course directory on loopback, opens lesson 0, and works as root too
(containers, fresh cloud machines). The browser test starts JupyterLab through
:func:`lab_command`, the same code path as ``bin/course``.
"""

from __future__ import annotations

import os
import sys

from .course import repo_root

FIRST_LESSON = "course/00_getting_started.ipynb"
#: nbgrader's Validate route served by the course's warm executor, off the event loop
#: (autograder/validate.py); nbgrader's own handler for it is turned off
SERVER_EXTENSIONS = {"autograder.validate": True,
                     "nbgrader.server_extensions.validate_assignment": False}


def lab_command(port: int | None = None, extra: list[str] | None = None, *, token: str | None = None,
                open_browser: bool = True) -> list[str]:
    root = repo_root()
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={root}",
           "--ServerApp.ip=127.0.0.1", f"--LabApp.default_url=/lab/tree/{FIRST_LESSON}"]
    cmd += [f"--ServerApp.jpserver_extensions={name}={on}"
            for name, on in SERVER_EXTENSIONS.items()]
    if port is not None:  # otherwise Jupyter's default, 8888 (or the next free one)
        cmd.append(f"--ServerApp.port={port}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    if token is not None:
        cmd.append(f"--IdentityProvider.token={token}")
    if not open_browser:
        cmd.append("--no-browser")
    return cmd + list(extra or [])


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = lab_command(extra=argv)
    os.chdir(repo_root())
    print("Opening the course in JupyterLab (Ctrl-C to stop):", " ".join(cmd[1:]), flush=True)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
