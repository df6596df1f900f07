"""The course on a local JupyterHub: accounts, the instructor's course directory, the exchange, the hub.

``bin/course hub`` runs :func:`main` (a demo hub with a few accounts, removed again when
it stops); tests/test_hub.py and bench/bench_hub_load.py drive the same :class:`LocalHub`.
Needs root (local unix accounts; the spawner switches to each user) and the course
environment of ``deploy/jupyterhub/setup-env``. See docs/jupyterhub.md.

What :meth:`LocalHub.prepare` sets up, as a real deployment would:

- one local unix account per roster name (home directory mode 700, its own password);
- nbgrader's exchange (mode 1777: everyone may create, nobody may delete others' files;
  nbgrader itself makes ``inbound/`` write-only for students);
- the instructor's course directory ``~<instructor>/autograd-course``: this repository's
  ``nbgrader_config.py``, ``source/``, ``release/``, ``bin/`` and ``pyproject.toml``,
  with ``.venv`` linked to the course environment, so ``bin/course grade ps1`` runs
  there as the instructor; the assignments generated (``bin/course release``) and the
  students in the gradebook;
- the hub's state directory with ``roster.json`` and the per-role Jupyter config.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

COURSE = "autograd-course"
HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CONFIG = HERE / "jupyterhub_config.py"
DEFAULT_ENV = Path("/opt/autograd-course/env")
ASSIGNMENTS = ("ps1", "ps2", "ps3", "ps4", "ps5")


def hub_env() -> Path:
    return Path(os.environ.get("AUTOGRADER_HUB_ENV", DEFAULT_ENV))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workdir(prefix: str) -> Path:
    """A fresh directory for a hub's state and exchange that every account can reach.

    Not under /tmp: the hub's users must traverse every parent directory (a /tmp of mode
    0700, as some machines and sandboxes have, would hide the exchange from them).
    ``AUTOGRADER_HUB_WORKDIR`` (default /srv/autograd-course) is where they go.
    """
    top = Path(os.environ.get("AUTOGRADER_HUB_WORKDIR", "/srv/autograd-course"))
    top.mkdir(parents=True, exist_ok=True)
    top.chmod(0o755)
    for p in (top, *top.parents):
        if not p.stat().st_mode & 0o001:
            raise RuntimeError(f"{p} is not searchable by other users (mode "
                               f"{p.stat().st_mode & 0o7777:o}): the hub's accounts could not "
                               f"reach {top}; set AUTOGRADER_HUB_WORKDIR elsewhere")
    base = Path(tempfile.mkdtemp(prefix=prefix, dir=top))
    base.chmod(0o755)
    return base


def problems(env: Path | None = None) -> list[str]:
    """Why a local hub cannot run here (empty: it can)."""
    env = Path(env or hub_env())
    out = []
    if os.geteuid() != 0:
        out.append("not root: the hub creates local accounts and its spawner switches to them")
    for tool in ("useradd", "userdel", "chpasswd", "runuser"):
        if shutil.which(tool) is None:
            out.append(f"no `{tool}` (package passwd / util-linux)")
    if not (env / "bin" / "jupyterhub").exists():
        out.append(f"no course environment at {env}: run bin/setup --dev "
                   f"(or deploy/jupyterhub/setup-env {env})")
    else:
        chp = env / "bin" / "configurable-http-proxy"
        try:
            subprocess.run([str(chp), "--version"], capture_output=True, check=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as e:
            out.append(f"configurable-http-proxy (npm) does not run from {chp}: {e}; "
                       "run deploy/jupyterhub/setup-env")
    return out


@dataclass
class Account:
    name: str
    password: str
    first: str = ""
    last: str = ""

    @property
    def home(self) -> Path:
        return Path(pwd.getpwnam(self.name).pw_dir)

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.name).pw_uid


@dataclass
class LocalHub:
    """A JupyterHub on 127.0.0.1 with local accounts for one instructor and some students."""

    instructor: Account
    students: list[Account]
    state: Path  # the hub's state directory (made here, removed by cleanup)
    exchange: Path
    env: Path = field(default_factory=hub_env)
    port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    proxy_port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    created: list[str] = field(default_factory=list)  # accounts this object created

    # ------------------------------------------------------------ set-up
    @property
    def course(self) -> Path:
        return self.instructor.home / COURSE

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hub_environ(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOGRADER_", "JUPYTER"))}
        env.update(AUTOGRADER_HUB_DIR=str(self.state), AUTOGRADER_HUB_ENV=str(self.env),
                   AUTOGRADER_EXCHANGE=str(self.exchange), AUTOGRADER_HUB_PORT=str(self.port),
                   AUTOGRADER_HUB_API_PORT=str(self.api_port),
                   AUTOGRADER_HUB_PROXY_PORT=str(self.proxy_port),
                   PATH=os.pathsep.join([str(self.env / "bin"), "/usr/local/bin", "/usr/bin", "/bin",
                                         "/usr/sbin", "/sbin"]))
        env.pop("VIRTUAL_ENV", None)
        return env

    def _add_account(self, acct: Account) -> None:
        try:
            pwd.getpwnam(acct.name)
        except KeyError:
            pass
        else:
            raise RuntimeError(f"a user named {acct.name!r} exists already: choose other names")
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash",
                        "--comment", f"{acct.first} {acct.last}".strip() or acct.name, acct.name],
                       check=True, capture_output=True, text=True)
        self.created.append(acct.name)
        subprocess.run(["chpasswd"], input=f"{acct.name}:{acct.password}\n", check=True,
                       capture_output=True, text=True)
        os.chmod(acct.home, 0o700)  # nobody else reads a home directory

    def as_user(self, acct: Account, *cmd: str, cwd: Path | None = None, extra: dict | None = None,
                check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        """Run ``cmd`` as ``acct``, with the environment its hub server gives it (minus the hub token)."""
        home = acct.home
        env = {"HOME": str(home), "USER": acct.name, "LOGNAME": acct.name, "SHELL": "/bin/bash",
               "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1",
               "PATH": os.pathsep.join([str(self.env / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
               "VIRTUAL_ENV": str(self.env), "AUTOGRADER_EXCHANGE": str(self.exchange)}
        env.update(extra or {})
        argv = ["runuser", "-u", acct.name, "--", "env", "-i",
                *(f"{k}={v}" for k, v in env.items()), *cmd]
        proc = subprocess.run(argv, cwd=str(cwd or home), capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"as {acct.name}: `{' '.join(cmd)}` failed ({proc.returncode}):\n"
                               f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
        return proc

    def role_environ(self, acct: Account, token: str | None = None) -> dict:
        """What a terminal in ``acct``'s hub server has: role config, course, hub API access."""
        role = "instructor" if acct is self.instructor else "student"
        jc = self.state / "jupyter"
        env = {"JUPYTER_CONFIG_PATH": os.pathsep.join([str(jc / role), str(jc / "common")])}
        if role == "instructor":
            env["AUTOGRADER_COURSE"] = str(self.course)
        if token:
            env.update(JUPYTERHUB_USER=acct.name, JUPYTERHUB_API_TOKEN=token,
                       JUPYTERHUB_API_URL=f"http://127.0.0.1:{self.api_port}/hub/api")
        return env

    def prepare(self, assignments=("ps1",)) -> None:
        """Accounts, exchange, the instructor's course directory, the hub's state directory."""
        self.state.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state, 0o755)
        shutil.copytree(HERE / "jupyter", self.state / "jupyter", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run(["chmod", "-R", "a+rX", str(self.state / "jupyter")], check=True)
        (self.state / "roster.json").write_text(json.dumps(
            {"instructors": [self.instructor.name], "students": [s.name for s in self.students]},
            indent=1))
        self.exchange.mkdir(parents=True, exist_ok=True)
        os.chmod(self.exchange, 0o1777)

        for acct in (self.instructor, *self.students):
            self._add_account(acct)

        # the instructor's course directory, owned by the instructor
        course = self.course
        course.mkdir()
        for name in ("nbgrader_config.py", "pyproject.toml", "README.md"):
            shutil.copy2(REPO / name, course / name)
        (course / "bin").mkdir()
        for name in ("course", "setup"):
            shutil.copy2(REPO / "bin" / name, course / "bin" / name)
        ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
        for a in assignments:
            shutil.copytree(REPO / "source" / a, course / "source" / a, ignore=ignore)
            shutil.copytree(REPO / "release" / a, course / "release" / a, ignore=ignore)
        (course / ".venv").symlink_to(self.env)
        subprocess.run(["chown", "-hR", f"{self.instructor.name}:", str(course)], check=True)

        # as the instructor: the assignments into the gradebook, the students into it too
        for a in assignments:
            self.as_user(self.instructor, "bin/course", "release", a, cwd=course)
        roster = course / "students.csv"
        with open(roster, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "first_name", "last_name"])
            for s in self.students:
                w.writerow([s.name, s.first, s.last])
        shutil.chown(roster, self.instructor.name)
        self.as_user(self.instructor, "nbgrader", "db", "student", "import", "students.csv",
                     cwd=course)

    # ------------------------------------------------------------ running
    def start(self, log: Path, timeout: float = 120) -> None:
        with open(log, "w") as out:
            self.proc = subprocess.Popen([str(self.env / "bin" / "jupyterhub"), "-f", str(CONFIG)],
                                         cwd=self.state, env=self.hub_environ(), stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited with {self.proc.returncode}:\n"
                                   f"{log.read_text(errors='replace')[-4000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/hub/api", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyterhub did not answer within {timeout:.0f} s:\n"
                                   f"{log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.3)

    def token(self, acct: Account) -> str:
        """A hub API token for ``acct`` (``jupyterhub token``), as its server's terminal has one."""
        proc = subprocess.run([str(self.env / "bin" / "jupyterhub"), "token", "-f", str(CONFIG),
                               acct.name], cwd=self.state, env=self.hub_environ(),
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"jupyterhub token {acct.name}: {proc.stdout}\n{proc.stderr}")
        return proc.stdout.strip().splitlines()[-1]

    def tokens(self, accts: list[Account]) -> dict[str, str]:
        """Hub API tokens for many users at once (what ``jupyterhub token NAME`` makes, one each)."""
        script = (
            "import json, sys\n"
            "from jupyterhub.app import JupyterHub\n"
            "from jupyterhub import orm\n"
            "hub = JupyterHub(config_file=sys.argv[1])\n"
            "hub.load_config_file(hub.config_file)\n"
            "hub.init_db()\n"
            "out = {}\n"
            "for name in sys.argv[2:]:\n"
            "    user = orm.User.find(hub.db, name)\n"
            "    assert user is not None, f'no hub user {name}'\n"
            "    out[name] = user.new_api_token(note='terminal token (tests, bench)')\n"
            "print(json.dumps(out))\n")
        proc = subprocess.run([str(self.env / "bin" / "python"), "-c", script, str(CONFIG),
                               *(a.name for a in accts)], cwd=self.state, env=self.hub_environ(),
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"hub tokens: {proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # the hub stops the users' servers and the proxy
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def cleanup(self) -> None:
        """Stop the hub, end what the accounts still run, remove them, the state and the exchange."""
        self.stop()
        uids = set()
        for name in self.created:
            try:
                uids.add(pwd.getpwnam(name).pw_uid)
            except KeyError:
                pass
        for _ in range(2):
            for pid in _pids_of(uids):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
        for name in self.created:
            subprocess.run(["userdel", "--remove", name], capture_output=True)
        self.created.clear()
        shutil.rmtree(self.state, ignore_errors=True)
        shutil.rmtree(self.exchange, ignore_errors=True)


def _pids_of(uids: set[int]) -> list[int]:
    """Processes owned by these (just created) accounts."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if d.stat().st_uid in uids:
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def make_accounts(prefix: str, students: list[str], instructor: str = "instructor"):
    def acct(n: str) -> Account:
        first = n.rstrip("0123456789").capitalize() or n
        return Account(f"{prefix}{n}", secrets.token_urlsafe(9), first, "Example")
    return acct(instructor), [acct(s) for s in students]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bin/course hub", description=(
        "Start a local demo JupyterHub for the course on 127.0.0.1, with one instructor and a "
        "few student accounts (local unix users, removed again when the hub stops). "
        "Needs root. See docs/jupyterhub.md."))
    ap.add_argument("--students", type=int, default=3, help="how many student accounts (default 3)")
    ap.add_argument("--prefix", default="demo-", help="account name prefix (default demo-)")
    ap.add_argument("--port", type=int, default=8000, help="the hub's port on 127.0.0.1 (default 8000)")
    ap.add_argument("--assignments", nargs="+", default=list(ASSIGNMENTS),
                    help="assignments in the instructor's course (default: all)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the accounts, course and exchange when the hub stops")
    args = ap.parse_args(argv)

    trouble = problems()
    if trouble:
        print("bin/course hub cannot start:\n  " + "\n  ".join(trouble), file=sys.stderr)
        return 1
    base = workdir("demo-")
    instructor, students = make_accounts(
        args.prefix, [f"student{i}" for i in range(1, args.students + 1)])
    hub = LocalHub(instructor, students, state=base / "hub", exchange=base / "exchange",
                   port=args.port)
    try:
        print(f"setting up accounts, the exchange ({hub.exchange}) and the instructor's course ...")
        hub.prepare(tuple(args.assignments))
        hub.start(base / "jupyterhub.log")
        print(f"\nJupyterHub for {COURSE}: {hub.url}   (log: {base / 'jupyterhub.log'})\n")
        print(f"  {'account':<24} {'password':<14} role")
        print(f"  {instructor.name:<24} {instructor.password:<14} instructor: Formgrader at "
              f"{hub.url}/user/{instructor.name}/formgrader, course in {hub.course}")
        for s in students:
            print(f"  {s.name:<24} {s.password:<14} student: Nbgrader > Assignment List")
        print("\nThe instructor releases in the Formgrader (or `nbgrader release_assignment ps1` in "
              "a terminal), collects, then grades in a terminal: cd ~/autograd-course && "
              "bin/course grade ps1\nCtrl-C stops the hub"
              + (" (accounts kept)." if args.keep else " and removes the demo accounts."))
        hub.proc.wait()
        return hub.proc.returncode or 0
    except KeyboardInterrupt:
        return 0
    finally:
        if args.keep:
            hub.stop()
            print(f"kept: accounts {', '.join(hub.created)}; state in {base}")
        else:
            hub.cleanup()
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
