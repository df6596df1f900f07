"""Validate a notebook through a warm executor, off the Jupyter server's event loop.

nbgrader's Validate button posts to ``/assignments/validate``; nbgrader's handler
runs the whole validation -- a new kernel that imports torch, every cell -- on the
server's event loop (jupyter/nbgrader#1232), so the student's server answers
nothing else for those seconds. This module replaces that route:

* a *zygote* with torch imported (:class:`autograder.executor.Zygote`), one per
  user server, started on the first Validate (not when the server starts) and
  closed after ``AUTOGRADER_VALIDATE_IDLE`` seconds (default 1800) without one;
* each validation runs in a fresh fork of it, every cell as a plain student cell,
  in one process, as in a kernel (:meth:`Zygote.run`): visible tests only, the
  notebook as the student saved it;
* the handler is asynchronous: the validation runs in a thread of its own while
  the event loop keeps serving (saving, listing files, kernels);
* the verdict is nbgrader's own :class:`nbgrader.validator.Validator` (changed
  cells, failing cells with their errors, empty written answers, "Success!"),
  with only its ``Execute`` step replaced.

The same code is the quick path of ``autograder selfgrade --quick`` and of
``autograder validate``. The server extension is enabled by
:func:`autograder.lab.lab_command` (``bin/course``), which also turns nbgrader's
own ``validate_assignment`` extension off; if both are on, this one's handlers
are put first, so they win.

A notebook directory with more than :data:`COPY_LIMIT_BYTES` of other files
(a home directory, a dataset) is validated by nbgrader's stock ``Execute``
instead, still off the event loop: the warm path copies the directory's files
into the sandbox for every validation.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import sys
import threading
import traceback
from pathlib import Path

from .cli import register

#: the notebook's directory is copied into the sandbox per validation: above this, stock Execute
COPY_LIMIT_BYTES = 64 << 20
COPY_LIMIT_FILES = 2000


# ---------------------------------------------------------------------------- the warm executor


class ValidateService:
    """One warm zygote and the one thread that drives it (a zygote is not thread-safe).

    Every call runs in ``executor``'s single thread, which lives as long as the
    service: the zygote dies with the thread that started it (PR_SET_PDEATHSIG).
    """

    def __init__(self, idle_timeout: float | None = None):
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="autograder-validate")
        self.zygote = None
        self.idle_timeout = float(os.environ.get("AUTOGRADER_VALIDATE_IDLE", "1800")) \
            if idle_timeout is None else idle_timeout
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    # -- in the service's thread
    def _zygote(self):
        from .executor import OPTIM, Zygote

        if self.zygote is None:
            # the tests compute expected values with torch; ps5 trains with torch.optim
            self.zygote = Zygote(torch=OPTIM)
        if not self.zygote.alive():
            self.zygote.start()
        return self.zygote

    def _warm(self) -> None:
        self._zygote()._wait_ready()

    def _close(self) -> None:
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None

    def _idle(self) -> None:
        self.executor.submit(self._close)

    def _arm(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            if self.idle_timeout and self.idle_timeout > 0:
                self._timer = threading.Timer(self.idle_timeout, self._idle)
                self._timer.daemon = True
                self._timer.start()

    # -- from any thread
    def submit(self, fn, *args, **kwargs) -> concurrent.futures.Future:
        """Run ``fn(*args, **kwargs)`` in the service's thread (which holds the zygote)."""
        def job():
            try:
                return fn(*args, **kwargs)
            finally:
                self._arm()
        return self.executor.submit(job)

    def warm_up(self) -> concurrent.futures.Future:
        """Start the zygote now (returns at once): the next validation finds it warm."""
        return self.submit(self._warm)

    def run_cells(self, files_dir, cells, **kw) -> dict:
        """In the service's thread: ``cells`` ([(index, source)]) in a fresh fork, all student."""
        from .executor import ExecutorError

        z = self._zygote()
        try:
            return z.run(files_dir, cells, **kw)
        except ExecutorError:
            z.kill()
            raise

    def shutdown(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        try:
            self.executor.submit(self._close).result(timeout=30)
        except Exception:  # noqa: BLE001
            pass
        self.executor.shutdown(wait=False)


_SERVICE: ValidateService | None = None
_SERVICE_LOCK = threading.Lock()


def service() -> ValidateService:
    """This process's validation service (made on first use; the zygote starts later)."""
    global _SERVICE
    with _SERVICE_LOCK:
        if _SERVICE is None:
            _SERVICE = ValidateService()
            import atexit

            atexit.register(_SERVICE.shutdown)
        return _SERVICE


def _small_dir(path: Path) -> bool:
    """Whether the notebook's directory is small enough to copy into the sandbox per run."""
    total = files = 0
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if d != ".ipynb_checkpoints"]
        for f in filenames:
            if f.endswith(".ipynb"):
                continue
            files += 1
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
            if files > COPY_LIMIT_FILES or total > COPY_LIMIT_BYTES:
                return False
    return True


# ---------------------------------------------------------------------------- nbgrader's Validator


_CLASSES: dict = {}


def warm_validator_class():
    """nbgrader's ``Validator`` with its ``Execute`` step run in the warm zygote."""
    if "Validator" in _CLASSES:
        return _CLASSES["Validator"]
    from nbformat import current_nbformat, from_dict
    from nbformat import read as read_nb
    from nbgrader import utils
    from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, Execute
    from nbgrader.validator import Validator
    from traitlets import List

    from .executor import _language_info, apply_result
    from .grading import _cache_metadata_schema

    _cache_metadata_schema()  # CheckCellMetadata checks nbgrader's schema once, not per cell

    class WarmValidateExecute(Execute):
        """``Execute`` for validation: every code cell in one fresh fork of the warm zygote."""

        def preprocess(self, nb, resources=None, km=None):
            resources = resources if resources is not None else {}
            path = Path((resources.get("metadata") or {}).get("path") or os.getcwd())
            if not _small_dir(path):  # stock: a kernel in the notebook's own directory
                with utils.setenv(NBGRADER_VALIDATING="1", NBGRADER_EXECUTION="validate"):
                    return super().preprocess(nb, resources, km)
            todo = [(i, c.source) for i, c in enumerate(nb.cells)
                    if c.cell_type == "code" and c.source.strip()
                    and self.skip_cells_with_tag not in c.metadata.get("tags", [])]
            eot = dict(self.error_on_timeout or {})
            if eot:
                eot.setdefault("output_type", "error")
            from .i18n import notebook_language

            result = service().run_cells(path, todo, cell_timeout=self._get_timeout(None),
                                         notebook_timeout=None, error_on_timeout=eot or None,
                                         max_output_chars=10_000_000,
                                         lang=notebook_language(nb))  # the checks speak it
            apply_result(nb, todo, result)
            nb.metadata["language_info"] = from_dict(_language_info())
            return nb, resources

    class WarmValidator(Validator):
        """nbgrader's Validator; only the notebook's execution differs (and no chdir:
        the server is multi-threaded, the working directory is everyone's)."""

        preprocessors = List([CheckCellMetadata, ClearOutput, WarmValidateExecute])

        def _preprocess_at(self, nb, dirname: str):
            resources = {"metadata": {"path": dirname}}
            for preprocessor in self.preprocessors:
                pp = preprocessor(parent=self)
                nb, resources = pp.preprocess(nb, resources)
            return nb

        def validate(self, filename: str):  # Validator.validate, with absolute paths
            from nbconvert.filters import ansi2html

            filename = os.path.abspath(filename)
            self.log.info("Validating '%s'", filename)
            nb = read_nb(filename, as_version=current_nbformat)
            type_changed = self._get_type_changed_cells(nb)
            if type_changed:
                return {"type_changed": [{"source": cell.source.strip(),
                                          "old_type": cell.cell_type,
                                          "new_type": cell.metadata.nbgrader.cell_type}
                                         for cell in type_changed]}
            nb = self._preprocess_at(nb, os.path.dirname(filename))
            changed = self._get_changed_cells(nb)
            passed = self._get_passed_cells(nb)
            failed = self._get_failed_cells(nb)
            results = {}
            if not self.ignore_checksums and changed:
                results["changed"] = [{"source": cell.source.strip()} for cell in changed]
            elif self.invert:
                if passed:
                    results["passed"] = [{"source": cell.source.strip()} for cell in passed]
            elif failed:
                results["failed"] = [{"source": cell.source.strip(),
                                      "error": ansi2html(self._extract_error(cell)),
                                      "raw_error": self._extract_error(cell)} for cell in failed]
            if "failed" in results or not results:
                # here torch exists (the tests need it); when graded, these cells run where
                # it does not: say so now rather than in the grades
                for cell, why in torch_in_student_cells(nb):
                    results.setdefault("failed", []).append(
                        {"source": cell.source.strip(), "error": ansi2html(why), "raw_error": why})
            return results

    _CLASSES.update(Validator=WarmValidator, Execute=WarmValidateExecute)
    return WarmValidator


def torch_in_student_cells(nb) -> list[tuple]:
    """``[(cell, message)]``: the cells of a notebook graded without torch (metadata
    ``"autograder": {"student_torch": false}``: ps2, ps3, ps5) that run in the student's
    process when graded and name torch.

    Validation runs every cell in one process that has torch (the visible tests compute
    their expected values with it); grading runs these cells where torch does not exist
    (docs/security.md). Looked for in the code, not run: answer cells and the student's
    own cells, not the tests nor the instructor's locked cells.
    """
    from .i18n import _, notebook_language, using
    from .judge.runner import default_role

    own = nb.get("metadata", {}).get("autograder") or {}
    if not isinstance(own, dict) or own.get("student_torch", True) is not False:
        return []
    out = []
    with using(notebook_language(nb)):
        for cell in nb.get("cells", []):
            # the student's code: answers and cells of their own, not tests or locked cells
            if cell.get("cell_type") != "code" or default_role(cell) != "student":
                continue
            if _names_torch(cell.get("source") or ""):
                out.append((cell, _(
                    "This assignment is graded without torch: when your notebook is graded, "
                    "this cell runs in a Python where `import torch` fails (the cell stops "
                    "there, and what it would define after that line is missing). Use numpy "
                    "only in your answers.")))
    return out


def _names_torch(source: str) -> bool:
    """Whether code imports torch (or a package built on it) or uses the name ``torch``."""
    import ast

    from .judge.sandboxed import TORCH_MODULES

    # IPython's magics and shell escapes are not Python
    code = "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.splitlines())
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(a.name.split(".")[0] in TORCH_MODULES for a in node.names):
                return True
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").split(".")[0] in TORCH_MODULES:
                return True
        elif isinstance(node, ast.Name) and node.id == "torch":
            return True
        elif isinstance(node, ast.Constant) and node.value in TORCH_MODULES:
            return True  # __import__("torch"), importlib.import_module("torch")
    return False


def load_config(course_root: str | os.PathLike | None = None):
    """nbgrader's configuration as its Validate handler reads it (the course's nbgrader_config.py
    in ``course_root``, default the working directory, then Jupyter's config paths)."""
    from jupyter_core.paths import jupyter_config_path
    from nbgrader.apps import NbGrader

    paths = jupyter_config_path()
    paths.insert(0, str(course_root or os.getcwd()))
    app = NbGrader()
    app.config_file_paths.append(paths)
    app.load_config_file()
    return app.config


def validate(path: str | os.PathLike, config=None) -> dict:
    """Validate one notebook as nbgrader's Validate does; the result is nbgrader's dict
    (``failed``/``changed``/``type_changed``/``passed``; empty: success). Blocking: run it
    in :func:`service`'s thread (:func:`validate_async`), or from a command line."""
    cls = warm_validator_class()
    return cls(config=config if config is not None else load_config()).validate(str(path))


def handler_result(path: str, config) -> dict:
    """What nbgrader's handler answers: ``{"success": bool, "value": results or message}``."""
    from nbgrader.nbgraderformat import SchemaTooNewError, SchemaTooOldError

    try:
        result = validate(path, config)
    except SchemaTooOldError:
        msg = ("The notebook '{}' uses an old version of the nbgrader metadata format. Please "
               "**back up this notebook** and then update the metadata using:\n\nnbgrader "
               "update {}\n").format(path, path)
        return {"success": False, "value": msg}
    except SchemaTooNewError:
        msg = ("The notebook '{}' uses a newer version of the nbgrader metadata format. Please "
               "update your version of nbgrader to the latest version to be able to use this "
               "notebook.").format(path)
        return {"success": False, "value": msg}
    except Exception:  # noqa: BLE001  (as nbgrader: the traceback is the message)
        return {"success": False, "value": traceback.format_exc()}
    return {"success": True, "value": result}


# ---------------------------------------------------------------------------- the server extension


def _handlers():
    import asyncio

    from nbgrader.server_extensions.validate_assignment.handlers import (
        NbGraderVersionHandler,
        ValidateAssignmentHandler,
    )
    from tornado import web

    class WarmValidateHandler(ValidateAssignmentHandler):
        """nbgrader's handler, asynchronous: the validation runs in the service's thread."""

        @web.authenticated
        async def post(self):
            try:
                data = {"path": self.get_argument("path")}
            except web.MissingArgumentError:
                data = self.get_json_body()
            root = Path(self.root_dir).resolve()
            target = (root / data["path"]).resolve()
            if not target.is_relative_to(root):
                raise web.HTTPError(403, "Access denied: path outside allowed directory")
            svc = service()
            fut = svc.submit(self._validate, str(target))
            output = await asyncio.wrap_future(fut)
            if not output["success"]:
                self.log.error("validation of %s failed: %s", target,
                               str(output["value"])[-2000:])
            self.finish(json.dumps(output))

        def _validate(self, fullpath: str) -> dict:
            try:
                config = self.load_config()
            except Exception:  # noqa: BLE001
                return {"success": False, "value": traceback.format_exc()}
            return handler_result(fullpath, config)

    class WarmVersionHandler(NbGraderVersionHandler):
        """nbgrader's version check, which the Validate button sends first: start the zygote."""

        @web.authenticated
        def get(self):
            service().warm_up()
            return super().get()

    return [(r"/assignments/validate", WarmValidateHandler),
            (r"/nbgrader_version", WarmVersionHandler)]


def _jupyter_server_extension_points():
    return [{"module": "autograder.validate"}]


def _load_jupyter_server_extension(serverapp) -> None:
    from jupyter_server.utils import url_path_join

    webapp = serverapp.web_app
    webapp.settings["root_dir"] = serverapp.root_dir
    base = webapp.settings["base_url"]
    rules = webapp.default_router.rules
    wild = getattr(webapp, "wildcard_router", None)
    before, wild_before = list(rules), list(wild.rules) if wild is not None else []
    webapp.add_handlers(".*$", [(url_path_join(base, pat), h) for pat, h in _handlers()])
    # tornado tries host rules in the order they were added: put ours first, so they win
    # over nbgrader's validate_assignment extension if that one is enabled too
    for router, old in ((webapp.default_router, before), (wild, wild_before)):
        if router is None:
            continue
        ours = [r for r in router.rules if r not in old]
        router.rules[:] = ours + [r for r in router.rules if r in old]
    serverapp.log.info("autograder: Validate runs in a warm process, off the event loop")


load_jupyter_server_extension = _load_jupyter_server_extension


# ---------------------------------------------------------------------------- the command


def print_result(results: dict, stream=None, config=None) -> None:
    """Print ``results`` as ``nbgrader validate`` does."""
    cls = warm_validator_class()
    v = cls(config=config) if config is not None else cls()
    v.stream = stream or sys.stdout
    type_changed = results.get("type_changed", [])
    changed = results.get("changed", [])
    passed = results.get("passed", [])
    failed = results.get("failed", [])
    if type_changed:
        v._print_num_type_changed(len(type_changed))
        for cell in type_changed:
            v._print_type_changed(cell["old_type"], cell["new_type"], cell["source"])
    elif not v.ignore_checksums and changed:
        v._print_num_changed(len(changed))
        for cell in changed:
            v._print_changed(cell["source"])
    elif v.invert:
        v._print_num_passed(len(passed))
        for cell in passed:
            v._print_pass(cell["source"])
    else:
        v._print_num_failed(len(failed))
        for cell in failed:
            v._print_error(cell["source"], cell["raw_error"])


def validate_files(paths: list, course_root=None, stream=None) -> int:
    """``autograder validate`` / ``selfgrade --quick``: print each result; 1 if any failed."""
    from .course import repo_root

    try:
        root = course_root or repo_root()
    except FileNotFoundError:
        root = None
    config = load_config(root)
    bad = 0
    svc = service()
    for p in paths:
        results = svc.submit(validate, p, config).result()
        print_result(results, stream, config)
        bad += bool(results)
    return 1 if bad else 0


def _add_args(p) -> None:
    p.add_argument("notebook", nargs="+", help="notebook(s) to check against the visible tests")


def _run(args) -> int:
    missing = [p for p in args.notebook if not os.path.isfile(p)]
    if missing:
        print(f"autograder validate: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    return validate_files(args.notebook)


register("validate", "check a notebook against its visible tests, as JupyterLab's Validate "
         "button does (a warm process; prints nbgrader validate's report)", _add_args, _run)
