"""Open the course in JupyterLab: ``python -m autograder.lab [--lang zh-CN] [jupyter lab options]``.

Serves the course directory on loopback, opens lesson 0, and works as root too
(containers, fresh cloud machines). The browser test starts JupyterLab through
:func:`lab_command` and :func:`lab_env`, the same code path as ``bin/course``.

``--lang zh-CN`` opens the Chinese course (course/zh-CN/) in a Chinese JupyterLab: the official
language pack (jupyterlab-language-pack-zh-CN) chosen in a JupyterLab settings directory of the
course's own (~/.jupyter/autograd-course/lab-zh-CN, so the learner's English settings stay as they
are), and AUTOGRADER_LANG for the kernels, so the checks speak Chinese too.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .course import repo_root
from .i18n import COURSE_LANGUAGES, normalize, tag

FIRST_LESSON = "course/00_getting_started.ipynb"
LANGUAGES = ("en", *COURSE_LANGUAGES)
#: nbgrader's Validate route served by the course's warm executor, off the event loop
#: (autograder/validate.py); nbgrader's own handler for it is turned off
SERVER_EXTENSIONS = {"autograder.validate": True,
                     "nbgrader.server_extensions.validate_assignment": False}


def first_lesson(lang: str = "en") -> str:
    return FIRST_LESSON if lang == "en" else FIRST_LESSON.replace("course/", f"course/{lang}/")


def lab_env(lang: str = "en", base: dict | None = None, home: Path | None = None) -> dict:
    """The server's environment for ``lang``: its kernels' AUTOGRADER_LANG and, for a language
    other than English, a JupyterLab settings directory that selects the language pack."""
    env = dict(os.environ if base is None else base)
    if lang == "en":
        return env
    if lang not in LANGUAGES:
        raise SystemExit(f"--lang {lang}: the course exists in {', '.join(LANGUAGES)}")
    settings = (home or Path.home()) / ".jupyter" / "autograd-course" / f"lab-{lang}"
    plugin = settings / "@jupyterlab" / "translation-extension" / "plugin.jupyterlab-settings"
    if not plugin.exists():   # the learner may have changed it since: never overwrite
        plugin.parent.mkdir(parents=True, exist_ok=True)
        plugin.write_text(json.dumps({"locale": normalize(lang)}) + "\n", encoding="utf-8")
    env["JUPYTERLAB_SETTINGS_DIR"] = str(settings)
    env["AUTOGRADER_LANG"] = lang
    return env


def lab_command(port: int | None = None, extra: list[str] | None = None, *, token: str | None = None,
                open_browser: bool = True, lang: str = "en") -> list[str]:
    root = repo_root()
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={root}",
           "--ServerApp.ip=127.0.0.1", f"--LabApp.default_url=/lab/tree/{first_lesson(lang)}"]
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


def _take_lang(argv: list[str]) -> tuple[str, list[str]]:
    """``--lang X`` / ``--lang=X`` out of the arguments; the rest go to jupyter lab."""
    lang, rest, k = "en", [], 0
    while k < len(argv):
        a = argv[k]
        if a == "--lang":
            if k + 1 >= len(argv):
                raise SystemExit("--lang needs a language: " + ", ".join(LANGUAGES))
            lang, k = argv[k + 1], k + 2
            continue
        if a.startswith("--lang="):
            lang = a.split("=", 1)[1]
        else:
            rest.append(a)
        k += 1
    lang = tag(lang)  # zh, zh_CN, zh-cn -> zh-CN
    if lang not in LANGUAGES:
        raise SystemExit(f"--lang {lang}: the course exists in {', '.join(LANGUAGES)}")
    return lang, rest


def main(argv: list[str] | None = None) -> None:
    lang, argv = _take_lang(list(sys.argv[1:] if argv is None else argv))
    cmd = lab_command(extra=argv, lang=lang)
    env = lab_env(lang)
    os.chdir(repo_root())
    print("Opening the course in JupyterLab (Ctrl-C to stop):", " ".join(cmd[1:]), flush=True)
    os.execve(cmd[0], cmd, env)


if __name__ == "__main__":
    main()
