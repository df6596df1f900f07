"""The ``autograder`` command: instructors' and learners' entry point (see docs/).

Modules of this package add subcommands with :func:`register`; ``main`` imports
them (``_PLUGINS``) before parsing.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from typing import Callable

_COMMANDS: dict[str, tuple[str, Callable, Callable]] = {}
_PLUGINS = ("autograder.grading", "autograder.selfgrade", "autograder.validate",
            "autograder.gen_minigrad", "autograder.translate", "autograder.daemon",
            "autograder.report")


def register(name: str, help: str, add_args: Callable, run: Callable) -> None:
    """Add subcommand ``name``: ``add_args(parser)`` declares it, ``run(args) -> int`` runs it."""
    _COMMANDS[name] = (help, add_args, run)


def _release_args(p):
    p.add_argument("assignment", nargs="+", help="assignment name(s) in source/, e.g. ps3")


def _release_run(args) -> int:
    from .course import nbgrader, repo_root

    root = repo_root()
    for a in args.assignment:
        nbgrader(root, "generate_assignment", a, "--force")
        print(f"release/{a} regenerated from source/{a}")
    return 0


register("release", "regenerate release/<assignment> from source/ (nbgrader generate_assignment)",
         _release_args, _release_run)


def lean_imports() -> None:
    """Skip an optional import that costs ~1.1 s of every grading process's start.

    jsonschema (imported by nbformat and nbgrader) tries rfc3987_syntax for its "iri"
    format checker, which compiles a Lark grammar on import, for a format no notebook or
    gradebook schema uses. This lets that import fail fast.
    """
    sys.modules.setdefault("rfc3987_syntax", None)


#: commands whose module is known: ``autograder grade ...`` imports that module only, so a
#: command handed to the grading daemon (autograder.daemon) starts in a fraction of a second
_FAST = {"grade": "autograder.grading", "selfgrade": "autograder.selfgrade",
         "daemon": "autograder.daemon"}


def main(argv: list[str] | None = None) -> int:
    lean_imports()
    args_in = sys.argv[1:] if argv is None else list(argv)
    fast = _FAST.get(args_in[0]) if args_in else None
    for mod in [fast] if fast else _PLUGINS:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:  # a plugin not written yet must not break the rest
            if e.name != mod:
                raise
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name, (help_, add_args, _run) in sorted(_COMMANDS.items()):
        if not fast or name == args_in[0]:
            add_args(sub.add_parser(name, help=help_, description=help_))
    args = parser.parse_args(args_in)
    return int(_COMMANDS[args.cmd][2](args) or 0)


def _stop_cleanly_on_term_and_hup() -> list[int]:
    """SIGTERM (``kill``) and SIGHUP (the terminal closed) stop the command the way Ctrl-C does:
    a grading run stops its workers and sandboxes and removes its temporary directories (the
    default action ended the process on the spot and left them in /tmp). Only in this process:
    a process forked from it (a pool worker, which ``Pool.terminate`` ends with SIGTERM) gets
    the default action. A signal that is ignored (``nohup``) stays ignored. Returns the list
    that will hold the signal's number."""
    import os

    me, got = os.getpid(), []

    def stop(signum, frame):
        if os.getpid() != me:  # a forked child: the default action, as if we had never been here
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        got[:] = [signum]
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:
            signal.signal(sig, stop)
    return got


def run(entry: Callable[[], int | None] | None = None) -> None:
    """The ``autograder`` command: :func:`main` (or ``entry``), then an exit without the
    interpreter's teardown.

    A grading command ends with torch, numpy and nbgrader loaded, and Python's own teardown
    of them (freeing every module's objects) took 1.3-1.4 s after the work was done. The
    exit handlers still run (logging's flush, multiprocessing's and tempfile's clean-up),
    then the output is flushed and the process ends with :func:`main`'s status.
    """
    import atexit
    import os

    stopped_by = _stop_cleanly_on_term_and_hup()
    try:
        rc = (entry or main)() or 0
    except SystemExit as e:  # argparse's errors and --help: their status (a message: 1)
        if e.code is not None and not isinstance(e.code, int):
            print(e.code, file=sys.stderr)
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except KeyboardInterrupt:  # Ctrl-C: a line, not a traceback; the shell's status for SIGINT
        signum = stopped_by[0] if stopped_by else 2
        print("autograder: interrupted" if signum == 2 else
              f"autograder: stopped ({signal.Signals(signum).name})", file=sys.stderr)
        rc = 128 + signum
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(rc)


if __name__ == "__main__":
    # `python -m autograder.cli`: plugins register into the importable module, so run that one
    from autograder.cli import run as _run

    _run()
