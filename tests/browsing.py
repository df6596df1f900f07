"""What the browser tests share: a hermetic JupyterLab started as ``bin/course`` starts it, headless
chromium, and the student's gestures (menus, typing into a cell, Validate).

A JupyterLab here never sees this machine's Jupyter config, kernels, settings or workspaces.
If chromium or playwright is missing, the tests fail (they never skip).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
TIMEOUT_MS = 90_000  # one step (a kernel start, a validation) on 2 busy cores


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    def __init__(self, course: Path, port: int, token: str, proc: subprocess.Popen, log: Path):
        self.course, self.port, self.token, self.proc, self.log = course, port, token, proc, log

    def url(self, path: str = "lab") -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def quiet_settings(settings: Path) -> None:
    """No "get notified about Jupyter news?" toast over screenshots (it would fetch from the web)."""
    path = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"fetchNews": "false"}))


@contextlib.contextmanager
def jupyterlab(course: Path, home: Path, log: Path, lang: str = "en"):
    """JupyterLab on ``course`` through :func:`autograder.lab.lab_command` and ``lab_env`` (the code
    path of ``bin/course`` / ``bin/course --lang zh-CN``), in a hermetic Jupyter home."""
    from autograder.lab import lab_command, lab_env

    base = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"),
                JUPYTER_DATA_DIR=str(home / "data"),
                JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
                JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), AUTOGRADER_COURSE=str(course))
    env = lab_env(lang, base=base, home=home)
    quiet_settings(Path(env["JUPYTERLAB_SETTINGS_DIR"]))
    port, token = free_port(), os.urandom(12).hex()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUTOGRADER_COURSE", str(course))
        cmd = lab_command(port, token=token, open_browser=False, lang=lang)
    assert f"--ServerApp.root_dir={course}" in cmd, cmd
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        # cwd as bin/course has it: nbgrader's server extensions read ./nbgrader_config.py
        proc = subprocess.Popen(cmd, cwd=course, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = LabServer(course, port, token, proc, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {proc.returncode}:\n{server.log_tail()}")
            try:
                with urllib.request.urlopen(server.url("api/status"), timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within 90 s:\n{server.log_tail()}")
            time.sleep(0.25)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def chromium(timeout_ms: int = TIMEOUT_MS):
    """Headless Debian chromium under playwright (fails, never skips, when it cannot start);
    ``timeout_ms``: how long an ``expect`` waits."""
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError as e:  # never a silent skip
        pytest.fail(f"playwright is not installed ({e}): run bin/setup --dev")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (bin/setup --dev does)")
    expect.set_options(timeout=timeout_ms)
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=CHROMIUM_ARGS, timeout=60_000)
        except Exception as e:
            pytest.fail(f"headless chromium did not start: {e}")
        try:
            yield browser
        finally:
            browser.close()


def menu(page, name: str, item: str) -> None:
    """Menu bar ``name`` > ``item``. A click on a menu's title while a menu is still open (one
    just closed with Escape, say, on a busy machine) closes it instead: then close what is
    open and click the title again."""
    title = page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(name)}$"))
    entry = page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$"))
    for _attempt in range(4):
        title.click()
        try:
            entry.wait_for(state="visible", timeout=15_000)
            break
        except Exception:  # noqa: BLE001  (playwright's TimeoutError: try again)
            page.keyboard.press("Escape")
            page.locator(".lm-Menu-content").first.wait_for(state="detached", timeout=15_000)
    entry.click()


def type_into_cell(page, cell, text: str, kind: str = "code") -> None:
    """Replace a cell's text the way a student does: click into it, select all, type."""
    if kind == "markdown":
        cell.locator(".jp-RenderedMarkdown").dblclick()  # a rendered markdown cell opens its editor
    editor = cell.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    # insert_text types the whole answer as one input (no auto-indent, no auto-closed brackets)
    page.keyboard.insert_text(text)
    # back to command mode; a markdown cell renders again
    page.keyboard.press("Control+Enter" if kind == "markdown" else "Escape")


def validate(page, panel) -> str:
    """Press nbgrader's Validate, wait for its dialog, return the dialog's text (left open)."""
    from playwright.sync_api import expect

    panel.locator(".validate-button").click()  # every open notebook's toolbar has one
    dialog = page.locator(".jp-Dialog")
    expect(dialog.locator(".jp-Dialog-header")).to_have_text("Validation Results")
    return dialog.locator(".jp-Dialog-body").inner_text()


def close_dialog(page) -> None:
    dialog = page.locator(".jp-Dialog")
    dialog.locator(".jp-Dialog-footer button").last.click()
    dialog.wait_for(state="detached")


SCROLL_TO_TEXT = """(body, text) => {
    const walk = document.createTreeWalker(body, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walk.nextNode()) && !node.data.includes(text)) {}
    if (!node) return;
    const range = document.createRange();
    range.selectNodeContents(node);
    body.scrollTop += range.getBoundingClientRect().top - body.getBoundingClientRect().top - 40;
}"""
