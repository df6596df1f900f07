"""The grading sandbox: what student code can reach, how long it may run, whether its verdicts hold.

Design §6; the security model in plain words is ``docs/security.md``. Three layers:

1. **The OS sandbox** (:func:`wrap_zygote_argv`). Each grading slot's zygote runs
   under bubblewrap (``bwrap``): read-only binds of only what Python needs (the
   system's ``/usr``, a few files of ``/etc``, the interpreter, the virtual
   environment, the ``autograder`` package), its slot directory read-write (the
   only writable place besides a private ``/tmp``), no network and no other
   namespace shared with the host (``--unshare-all``), its own pid namespace,
   no capabilities, and it dies with the grader. The course directory,
   ``source/``, the gradebook and the other submissions are simply not there.
   Without bwrap the grader says so loudly (stderr and the report) and still
   applies layers 2 and 3.
2. **Limits** (:func:`limit_child`, :class:`Limits`). The forked child that runs
   one notebook gets rlimits on address space, CPU time, file size and core
   dumps; the zygote enforces the wall time per cell and per notebook and the
   output volume, and kills every process the notebook left behind (it is a
   subreaper, so even double-forked daemons come back to it).
3. **Verdict integrity** (:class:`Guard`). Student code and the tests share one
   Python process, as in stock nbgrader. Before any student code runs, the
   zygote records what the tests rely on (numpy, torch, ``autograder``,
   builtins, IPython's shell and the executor). Before each test cell the
   child puts back whatever a submission changed there and re-binds the names
   the instructor's cells defined (``np``, ``check_gradients`` ...); after each
   test cell it checks again and fails the cell, with a message, if student
   code changed them while the test ran. An audit hook (PEP 578, which cannot be
   removed once installed) refuses the introspection that would reach the
   grader's own state from student code (frames, ``gc`` walks, ``ctypes``,
   tracing, ``/proc/*/mem``), and the result channel to the zygote carries a
   per-notebook secret, so forged results are detected.

Bad input (:func:`audit_submission`, run by ``autograder grade`` before nbgrader):
a file that is not a notebook, invalid JSON, an unknown nbformat or nbgrader
schema, a wrong file name or a missing notebook stops that submission only,
with the reason in words; deleted, edited, retyped or reordered test cells,
changed points and stripped metadata become notes in the report, and
:func:`robust_overwrite_cells_class` puts missing test cells back even when their
neighbours are gone too.
"""

from __future__ import annotations

import functools
import operator
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import types
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Guard",
    "Limits",
    "bwrap_argv",
    "limit_child",
    "zygote_env",
    "sandbox_status",
    "unsandboxed_warning",
    "wrap_zygote_argv",
]

# ============================================================================ 1. OS sandbox

#: environment variables a zygote may inherit (everything else is cleared: the
#: grader's environment can hold a database URL with a password)
ENV_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "MPLBACKEND", "NO_COLOR", "TERM",
            "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED",
            "PYTHONWARNINGS", "PYTHONUNBUFFERED", "AUTOGRADER_LIMITS")

#: system paths bound read-only (symlinks such as /bin -> usr/bin are recreated as symlinks)
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: the few files of /etc that Python, numpy, torch and matplotlib read
ETC_PATHS = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
             "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/fonts",
             "/etc/alternatives", "/etc/matplotlibrc", "/etc/mime.types")


@dataclass(frozen=True)
class SandboxStatus:
    ok: bool
    reason: str  # why not, or a one-line description of what is on
    bwrap: str | None = None
    flags: tuple[str, ...] = ()


def _ns_flags(userns: bool) -> list[str]:
    flags = ["--unshare-all", "--die-with-parent", "--new-session"]
    if userns:
        # an unprivileged user inside (no capabilities), who cannot make new namespaces
        flags += ["--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns"]
    else:
        flags += ["--cap-drop", "ALL"]
    return flags


@functools.lru_cache(maxsize=None)
def sandbox_status() -> SandboxStatus:
    """Whether bubblewrap works here, and with which flags (probed once per process).

    ``AUTOGRADER_SANDBOX=off`` turns it off (for debugging; the grader then
    warns as loudly as when bwrap is missing).
    """
    if os.environ.get("AUTOGRADER_SANDBOX", "").lower() in ("off", "0", "no", "false"):
        return SandboxStatus(False, "turned off by AUTOGRADER_SANDBOX=off")
    if sys.platform != "linux":
        return SandboxStatus(False, f"bubblewrap needs Linux (this is {sys.platform})")
    path = shutil.which("bwrap") or ("/usr/bin/bwrap" if os.access("/usr/bin/bwrap", os.X_OK)
                                     else None)
    if not path:
        return SandboxStatus(False, "bubblewrap (bwrap) is not installed: run bin/setup, or "
                                    "apt-get install bubblewrap")
    errors = []
    with tempfile.TemporaryDirectory(prefix="autograder-probe-") as slot:
        for userns in (True, False):
            flags = tuple(_ns_flags(userns))
            argv = bwrap_argv([sys.executable, "-c", "import sys; sys.exit(0)"], slot,
                              bwrap=path, flags=flags, env={})
            try:
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            except (OSError, subprocess.TimeoutExpired) as e:
                errors.append(str(e))
                continue
            if proc.returncode == 0:
                what = "user namespace, uid 65534" if userns else "no user namespace, no capabilities"
                return SandboxStatus(True, f"bubblewrap sandbox on ({what})", path, flags)
            errors.append(proc.stderr.strip()[-300:] or f"exit code {proc.returncode}")
    return SandboxStatus(False, "bubblewrap does not work here: " + " | ".join(errors))


def unsandboxed_warning(reason: str) -> str:
    return (f"WARNING: grading WITHOUT the OS sandbox ({reason}). Student code can read "
            f"and write everything this user can (the course directory, source/, the "
            f"gradebook, other submissions) and use the network. Time, memory and output "
            f"limits, process clean-up and the verdict-integrity checks still apply. "
            f"See docs/security.md.")


_WARNED: set[str] = set()


def _warn_once(reason: str) -> None:
    if reason in _WARNED:
        return
    _WARNED.add(reason)
    bar = "!" * 78
    print(f"{bar}\n{unsandboxed_warning(reason)}\n{bar}", file=sys.stderr, flush=True)


def _forbidden_roots() -> list[Path]:
    """Directories student code must never see, even if they sit below a bound path."""
    roots = []
    try:
        from .course import repo_root

        roots.append(repo_root())
    except Exception:
        pass
    course = os.environ.get("AUTOGRADER_COURSE")
    if course:
        roots.append(Path(course).resolve())
    return roots


def _python_paths() -> list[str]:
    """What the interpreter needs: its prefixes, the venv, and the autograder package."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable))}
    try:
        import site

        paths.update(site.getsitepackages())
    except Exception:
        pass
    return sorted(p for p in paths if p and os.path.isdir(p))


def _is_under(path: str | Path, root: str | Path) -> bool:
    path, root = os.path.realpath(path), os.path.realpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def bwrap_argv(argv: list[str], slot_dir: str | os.PathLike, *, bwrap: str | None = None,
               flags: tuple[str, ...] | None = None, env: dict | None = None) -> list[str]:
    """The bubblewrap command line that runs ``argv`` with only ``slot_dir`` writable."""
    slot = os.path.realpath(slot_dir)
    out = [bwrap or "/usr/bin/bwrap", *(flags if flags is not None else _ns_flags(True))]
    env = {k: v for k, v in os.environ.items() if k in ENV_KEEP} if env is None else env
    out += ["--clearenv"]
    for k, v in sorted(env.items()):
        out += ["--setenv", k, v]
    out += ["--setenv", "HOME", slot, "--setenv", "TMPDIR", "/tmp",
            "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib", "--setenv", "PYTHONDONTWRITEBYTECODE", "1"]
    out += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    bound: list[str] = []
    for p in SYSTEM_PATHS:
        if os.path.islink(p):
            out += ["--symlink", os.readlink(p), p]
        elif os.path.isdir(p):
            out += ["--ro-bind", p, p]
            bound.append(p)
    for p in ETC_PATHS:
        out += ["--ro-bind-try", p, p]
    if os.path.isdir("/sys/devices/system/cpu"):  # torch and numpy count cores here
        out += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
    for p in _python_paths():
        if not any(_is_under(p, b) for b in bound):
            out += ["--ro-bind", p, p]
            bound.append(p)
    # a course directory below a bound path (a venv at /, a course inside the venv) is masked
    for root in _forbidden_roots():
        if any(_is_under(root, b) and not _is_under(b, root) for b in bound):
            out += ["--tmpfs", str(root), "--remount-ro", str(root)]
    pkg = str(Path(__file__).resolve().parent)  # the autograder package itself (no solutions)
    if not any(_is_under(pkg, b) for b in bound):
        out += ["--ro-bind", pkg, pkg]
    out += ["--bind", slot, slot, "--chdir", slot]
    return out + ["--", *argv]


#: what a zygote started WITHOUT bwrap also keeps: where Python finds its packages and a
#: home; never the grader's other variables (a database URL, tokens)
ENV_KEEP_UNSANDBOXED = ("HOME", "TMPDIR", "PYTHONPATH", "LD_LIBRARY_PATH", "AUTOGRADER_SANDBOX")


def zygote_env() -> dict[str, str]:
    """The environment to start a zygote's process with (``Popen(env=...)``), never the grader's.

    Under bubblewrap that process is bwrap itself, which becomes pid 1 of the sandbox:
    its environment is readable there as ``/proc/1/environ``, so it gets only ``PATH``
    (bwrap ``--clearenv``s and ``--setenv``s the allow-list :data:`ENV_KEEP` for the
    zygote). Without bwrap the zygote gets :data:`ENV_KEEP` and
    :data:`ENV_KEEP_UNSANDBOXED` only.
    """
    path = os.environ.get("PATH") or os.defpath
    if sandbox_status().ok:
        return {"PATH": path}
    keep = set(ENV_KEEP) | set(ENV_KEEP_UNSANDBOXED)
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PATH"] = path
    return env


def torch_paths() -> list[str]:
    """Where torch and its companions are installed (hidden in a sandbox without torch)."""
    import importlib.util

    out = []
    for name in ("torch", "functorch", "torchgen"):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        for loc in (spec.submodule_search_locations or []) if spec else []:
            if os.path.isdir(loc):
                out.append(os.path.realpath(loc))
    return out


def wrap_zygote_argv(argv: list[str], slot_dir: str | os.PathLike, *,
                     torch: bool = True) -> list[str]:
    """``argv`` under the OS sandbox, or unchanged (with a loud warning) where bwrap is unavailable.

    ``torch=False``: torch's package directories are covered by empty read-only
    directories, so that in the sandbox torch does not exist.
    """
    st = sandbox_status()
    if not st.ok:
        _warn_once(st.reason)
        return list(argv)
    wrapped = bwrap_argv(argv, slot_dir, bwrap=st.bwrap, flags=st.flags)
    if not torch:
        hide = []
        for p in torch_paths():
            hide += ["--tmpfs", p, "--remount-ro", p]
        i = wrapped.index("--")
        wrapped[i:i] = hide
    # the executor starts the zygote with cwd=slot_dir/work: keep that inside too
    i = wrapped.index("--chdir")
    wrapped[i + 1] = os.path.join(os.path.realpath(slot_dir), "work")
    return wrapped


# ============================================================================ 2. limits


@dataclass(frozen=True)
class Limits:
    """Per-notebook resource limits of the forked child (``AUTOGRADER_LIMITS`` overrides).

    ``AUTOGRADER_LIMITS="memory_mb=2048,cpu_s=60"`` changes them for one run.
    """

    memory_mb: int = 3072  # address space; torch alone maps ~650 MB of it
    cpu_s: int = 300  # CPU seconds per notebook (SIGXCPU, then SIGKILL 5 s later)
    file_mb: int = 64  # largest file the notebook may write
    procs: int = 64  # processes of this user at once, where the kernel counts them (non-root)
    output_chars: int = 100_000  # output kept per cell (a 50 MB line becomes 100 kB + a note)

    @classmethod
    def from_env(cls) -> Limits:
        spec = os.environ.get("AUTOGRADER_LIMITS", "")
        kw = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            k, _, v = part.partition("=")
            if k in cls.__dataclass_fields__:
                kw[k] = int(v)
        return cls(**kw)


def _setrlimit(which: int, soft: int, hard: int | None = None) -> None:
    hard = soft if hard is None else hard
    try:
        cur_soft, cur_hard = resource.getrlimit(which)
        if cur_hard != resource.RLIM_INFINITY:
            hard = min(hard, cur_hard)
            soft = min(soft, hard)
        resource.setrlimit(which, (soft, hard))
    except (ValueError, OSError):
        pass


def limit_child(limits: Limits | None = None) -> Limits:
    """Apply rlimits in the forked child that runs one notebook (call before any student code)."""
    lim = limits or Limits.from_env()
    mb = 1 << 20
    _setrlimit(resource.RLIMIT_AS, lim.memory_mb * mb)
    _setrlimit(resource.RLIMIT_CPU, lim.cpu_s, lim.cpu_s + 5)
    _setrlimit(resource.RLIMIT_FSIZE, lim.file_mb * mb)
    _setrlimit(resource.RLIMIT_CORE, 0)
    if os.getuid() != 0:  # the kernel counts per real user and exempts root
        _setrlimit(resource.RLIMIT_NPROC, _user_processes() + lim.procs)
    return lim


def _user_processes() -> int:
    uid, n = os.getuid(), 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.stat(f"/proc/{d}").st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n


def describe_signal(sig: int, limits: Limits | None = None) -> str:
    """Why a notebook's process died of signal ``sig``, in words for the report."""
    import signal

    lim = limits or Limits.from_env()
    if sig == signal.SIGXCPU:
        return f"used more than its {lim.cpu_s} s of CPU time"
    if sig == signal.SIGXFSZ:
        return f"wrote a file larger than {lim.file_mb} MB"
    if sig == signal.SIGKILL:
        return "was killed (SIGKILL: out of memory, the CPU limit, or the notebook killed itself)"
    try:
        return f"was killed by {signal.Signals(sig).name}"
    except ValueError:
        return f"was killed by signal {sig}"


# ============================================================================ 3. verdict integrity

#: modules whose callables the tests rely on; checked entry by entry
GUARDED_MODULES = (
    "builtins", "math", "operator", "functools", "json", "sys", "gc", "os", "io",
    "numpy", "numpy.linalg", "numpy.random", "numpy.testing", "numpy._core.numeric",
    "numpy._core.fromnumeric", "numpy._core.multiarray", "numpy._core.umath",
    "torch", "torch.autograd", "torch.autograd.grad_mode", "torch.nn.functional",
    "torch.testing", "torch._tensor",
    "autograder", "autograder.checks", "autograder.sandbox", "autograder.executor",
    "IPython", "IPython.core.interactiveshell", "IPython.core.displayhook",
    "IPython.core.displaypub", "IPython.core.compilerop", "IPython.core.ultratb",
    "IPython.core.events", "IPython.core.inputtransformer2", "threading", "_thread",
)
#: names in ``sys`` that IPython and the executor legitimately change
SYS_VOLATILE = {"stdout", "stderr", "stdin", "displayhook", "excepthook", "ps1", "ps2", "ps3",
                "last_type", "last_value", "last_traceback", "last_exc", "path_importer_cache",
                "modules", "path", "meta_path", "path_hooks", "argv", "flags"}
#: shared mutable hooks whose contents must not change under student code
_SHARED_LISTS = (("gc", "callbacks"), ("sys", "meta_path"), ("sys", "path_hooks"))
STUDENT_PREFIX = "<student-cell-"  # filename of code compiled from a student's cell
_FRAME_ATTRS = {"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"}
_DENY_ANYWHERE_ON_STACK = {
    "sys._current_frames", "sys.settrace", "sys.setprofile", "sys.addaudithook",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents", "code.__new__",
    "function.__new__", "ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.cdata",
    "ctypes.cdata/buffer", "ctypes.addressof", "ctypes.string_at", "ctypes.wstring_at",
    "ctypes.call_function", "ctypes.set_errno", "ctypes.get_errno",
    "cpython.PyInterpreterState_Clear", "cpython.run_command",
}
_PROC_MEM = re.compile(r"^/proc/[^/]+/(task/[^/]+/)?(mem|map_files.*|pagemap)$")


def _is_callable_like(v) -> bool:
    return callable(v) or isinstance(v, types.ModuleType)


def _mutable_class(c) -> bool:
    return isinstance(c, type) and not (c.__flags__ & (1 << 8))  # Py_TPFLAGS_IMMUTABLETYPE


def _qual(owner, name: str) -> str:
    if isinstance(owner, types.ModuleType):
        return f"{owner.__name__}.{name}"
    return f"{getattr(owner, '__module__', '?')}.{getattr(owner, '__qualname__', owner)}.{name}"


class Guard:
    """What the tests rely on, recorded in the zygote before any student code runs.

    In the child: :meth:`arm` installs the audit hook and the cell-name scheme,
    :meth:`begin_cell` restores what a submission changed (and re-binds the
    instructor's names in the user namespace) before a test cell,
    :meth:`end_cell` reports what changed while a test cell ran.
    """

    def __init__(self, shell=None, modules: tuple[str, ...] = GUARDED_MODULES,
                 namespaces: tuple[dict, ...] = ()):
        """``namespaces``: module dicts to guard as well (the executor's own globals)."""
        _settle_lazy_imports()
        self._modules: list[tuple[types.ModuleType, dict]] = []
        self._classes: list[tuple[type, dict, frozenset]] = []
        self._funcs: dict[int, tuple] = {}
        self._sysmods: dict[str, types.ModuleType] = {}
        self._modtypes: dict[str, type] = {}
        self._watched: list[tuple[object, type, dict]] = []
        self._signals: dict[int, object] = {}
        self._lists: list[tuple[str, list, list]] = []
        self._shell = shell
        seen_cls: set[int] = set()
        for name in modules:
            mod = sys.modules.get(name)
            if mod is None:
                continue
            self._sysmods[name] = mod
            self._modtypes[name] = type(mod)
            entries = {k: v for k, v in vars(mod).items()
                       if _is_callable_like(v) and not (name == "sys" and k in SYS_VOLATILE)}
            self._modules.append((mod, entries))
            for v in entries.values():
                self._note_func(v)
                if _mutable_class(v) and id(v) not in seen_cls and \
                        str(getattr(v, "__module__", "")).split(".")[0] in (
                            "autograder", "torch", "numpy", "IPython", "builtins"):
                    seen_cls.add(id(v))
                    self._note_class(v)
        self._namespaces = []
        for ns in namespaces:
            self._namespaces.append((ns, {k: v for k, v in ns.items() if _is_callable_like(v)}))
            for v in ns.values():
                if _mutable_class(v) and id(v) not in seen_cls:
                    seen_cls.add(id(v))
                    self._note_class(v)
        if shell is not None:
            for klass in type(shell).__mro__:
                if _mutable_class(klass) and id(klass) not in seen_cls:
                    seen_cls.add(id(klass))
                    self._note_class(klass)
            self._shell_attrs = {k: v for k, v in vars(shell).items() if callable(v)}
            for obj in (shell.compile, shell.displayhook, shell.display_pub):
                klass = type(obj)
                if _mutable_class(klass) and id(klass) not in seen_cls:
                    seen_cls.add(id(klass))
                    self._note_class(klass)
        for modname, attr in _SHARED_LISTS:
            lst = getattr(sys.modules[modname], attr)
            self._lists.append((f"{modname}.{attr}", lst, list(lst)))
        self._trusted_ns: dict[str, object] = {}
        self._student_counts: set[int] = set()
        self._secret = os.urandom(8).hex()

    def _note_func(self, f) -> None:
        # code objects of the grader's own functions; the audit hook refuses to student code
        # any change of __code__/__defaults__ of the others (reading them all per cell is slow)
        if isinstance(f, types.FunctionType) and \
                str(getattr(f, "__module__", "")).startswith("autograder"):
            self._funcs[id(f)] = (f, f.__code__, f.__defaults__, f.__kwdefaults__)

    def _note_class(self, c: type) -> None:
        entries = {}
        for k, v in vars(c).items():
            if k in ("__dict__", "__weakref__", "__doc__", "__annotations__"):
                continue
            raw = v.__func__ if isinstance(v, (staticmethod, classmethod)) else v
            if callable(raw) or isinstance(v, (property, staticmethod, classmethod)):
                entries[k] = v
                self._note_func(raw)
        self._classes.append((c, entries, frozenset(c.__dict__)))

    # ------------------------------------------------------------------ comparisons

    def changes(self, restore: bool = False) -> list[str]:
        """What differs from the record (and, with ``restore``, put it back)."""
        out: list[str] = []
        for name, mod in self._sysmods.items():
            if sys.modules.get(name) is not mod:
                out.append(f"sys.modules[{name!r}] was replaced")
                if restore:
                    sys.modules[name] = mod
            if type(mod) is not self._modtypes[name]:
                out.append(f"the class of the module {name} was changed")
                if restore:
                    try:
                        mod.__class__ = self._modtypes[name]
                    except TypeError:
                        pass
        for mod, entries in [*self._modules, *self._namespaces]:
            d = mod if isinstance(mod, dict) else vars(mod)
            if all(map(operator.is_, map(d.get, entries), entries.values())):
                continue  # the common case, checked at C speed
            for k, v in entries.items():
                if d.get(k, _MISSING) is not v:
                    where = f"the grader's {k}" if isinstance(mod, dict) else _qual(mod, k)
                    out.append(f"{where} was {'deleted' if k not in d else 'replaced'}")
                    if restore:
                        d[k] = v
        for c, entries, keys in self._classes:
            d = c.__dict__
            if len(d) != len(keys):  # an added attribute that hides an inherited one?
                for k in [k for k in d if k not in keys and not k.startswith("_abc_")
                          and any(k in vars(b) for b in c.__mro__[1:])]:
                    out.append(f"{_qual(c, k)} was added over the inherited one")
                    if restore:
                        try:
                            delattr(c, k)
                        except (TypeError, AttributeError):
                            pass
            if all(map(operator.is_, map(d.get, entries), entries.values())):
                continue
            for k, v in entries.items():
                if d.get(k, _MISSING) is not v:
                    out.append(f"{_qual(c, k)} was {'deleted' if k not in d else 'replaced'}")
                    if restore:
                        try:
                            setattr(c, k, v)
                        except (TypeError, AttributeError):
                            pass
        for f, code, defaults, kwdefaults in self._funcs.values():
            if f.__code__ is not code or f.__defaults__ is not defaults or \
                    f.__kwdefaults__ is not kwdefaults:
                out.append(f"the code of {getattr(f, '__module__', '?')}.{f.__qualname__} "
                           f"was changed")
                if restore:
                    f.__code__, f.__defaults__, f.__kwdefaults__ = code, defaults, kwdefaults
        for name, lst, items in self._lists:
            if len(lst) != len(items) or any(a is not b for a, b in zip(lst, items)):
                out.append(f"{name} was changed")
                if restore:
                    lst[:] = items
        for obj, klass, attrs in self._watched:
            if type(obj) is not klass:
                out.append(f"the grader's {klass.__name__} object was changed")
                if restore:
                    try:
                        obj.__class__ = klass
                    except TypeError:
                        pass
            d = vars(obj)
            for k in [k for k, v in d.items() if callable(v) and attrs.get(k, _MISSING) is not v]:
                out.append(f"the grader's {klass.__name__}.{k} was replaced")
                if restore:
                    if k in attrs:
                        d[k] = attrs[k]
                    else:
                        del d[k]
        if self._signals:
            import signal

            for sig, handler in self._signals.items():
                try:
                    now = signal.getsignal(sig)
                except (ValueError, OSError):
                    continue
                if now is not handler:
                    out.append(f"the handler of {signal.Signals(sig).name} was changed")
                    if restore:
                        try:
                            signal.signal(sig, handler)
                        except (ValueError, OSError, TypeError):
                            pass
            for timer in (signal.ITIMER_VIRTUAL, signal.ITIMER_PROF):
                if signal.getitimer(timer) != (0.0, 0.0):
                    out.append("an interval timer was started")
                    if restore:
                        signal.setitimer(timer, 0)
        for name, holder, key, items in getattr(self, "_hook_items", ()):
            now = getattr(holder, key) if key else holder
            if len(now) != len(items) or any(a is not b for a, b in zip(now, items)):
                out.append(f"IPython's {name} was changed")
                if restore:
                    if key and isinstance(now, tuple):
                        setattr(holder, key, items)
                    else:
                        now[:] = items
        if self._shell is not None:
            d = vars(self._shell)
            for k, v in self._shell_attrs.items():
                if d.get(k, _MISSING) is not v:
                    out.append(f"the IPython shell's {k} was replaced")
                    if restore:
                        d[k] = v
            for k, v in d.items():
                if k not in self._shell_attrs and callable(v) and hasattr(type(self._shell), k):
                    out.append(f"the IPython shell's {k} was overridden")
                    if restore:
                        del d[k]
                        break
        return out

    # ------------------------------------------------------------------ the child

    def arm(self, shell, watch: tuple = ()) -> None:
        """In the forked child, before any cell: name cells by kind and install the audit hook.

        Student cells compile to ``<student-cell-N>``, the instructor's to a
        name with a secret in it that student code cannot make up. ``watch``:
        the executor's own objects (its output sink) whose methods must not be
        replaced.
        """
        secret, student_counts = self._secret, self._student_counts
        compiler = shell.compile
        orig = type(compiler).get_code_name

        def get_code_name(raw_code, transformed_code, number):
            if number in student_counts:
                return f"{STUDENT_PREFIX}{number}>"
            return f"<cell-{secret}-{orig(compiler, raw_code, transformed_code, number)[1:]}"

        compiler.get_code_name = get_code_name
        _refuse_student_threads()
        # the executor set up the child (sys.stdout, builtins.input ...): that is the record now
        self._modules = [(mod, {k: vars(mod).get(k, v) for k, v in entries.items()})
                         for mod, entries in self._modules]
        # the executor's globals, all of them (its output sink, its error tap ...)
        self._namespaces = [(ns, {k: v for k, v in ns.items() if not k.startswith("__")})
                            for ns, _ in self._namespaces]
        self._shell_attrs = {k: v for k, v in vars(shell).items() if callable(v)}
        self._compiler_attrs = {k: v for k, v in vars(compiler).items() if callable(v)}
        self._initial_ns = dict(shell.user_ns)
        for obj in (*watch, shell.displayhook, shell.display_pub):
            if hasattr(obj, "__dict__"):
                self._watched.append((obj, type(obj), dict(vars(obj))))
        import signal

        for sig in signal.valid_signals():
            try:
                self._signals[sig] = signal.getsignal(sig)
            except (ValueError, OSError):
                pass
        self._builtins_ref = shell.user_ns.get("__builtins__")
        self._hooks = _shell_hooks(shell)
        self._hook_items = [(name, holder, key, tuple(getattr(holder, key) if key else holder))
                            for name, holder, key in self._hooks]
        _install_audit_hook()

    def begin_cell(self, shell, kind: str) -> list[str]:
        """Call before running a cell of ``kind``; returns what was restored before a test cell."""
        count = shell.execution_count
        if kind == "student":
            self._student_counts.add(count)
            return []
        fixed = self._restore_compiler(shell)
        if kind == "test":
            fixed += self.changes(restore=True)
            ns = shell.user_ns
            for k, v in self._trusted_ns.items():
                if ns.get(k, _MISSING) is not v:
                    fixed.append(f"the name {k!r} (defined by the assignment) was rebound")
                    ns[k] = v
            if ns.get("__builtins__") is not self._builtins_ref:
                fixed.append("__builtins__ was replaced")
                ns["__builtins__"] = self._builtins_ref
            import builtins

            for k in [k for k, v in ns.items() if k in vars(builtins) and not k.startswith("_")
                      and callable(v) and v is not vars(builtins)[k]
                      and k not in self._trusted_ns
                      and self._initial_ns.get(k, _MISSING) is not v]:
                fixed.append(f"the built-in {k!r} was shadowed")
                del ns[k]
        self._ns_before = dict(shell.user_ns)
        return fixed

    def end_cell(self, shell, kind: str) -> list[str]:
        """Call after a cell; returns what student code changed while a test cell ran."""
        if kind == "student":
            return []
        problems = self._restore_compiler(shell)
        ns, before = shell.user_ns, getattr(self, "_ns_before", {})
        for k, v in ns.items():  # names the instructor's cell (re)bound: modules, functions, classes
            if before.get(k, _MISSING) is not v and not k.startswith("_") and \
                    (isinstance(v, types.ModuleType) or callable(v)):
                self._trusted_ns[k] = v
        if kind == "test":
            import gc

            gc.collect()  # run pending finalizers of student objects now, before the check
            problems += self.changes(restore=True)
        return problems

    def _restore_compiler(self, shell) -> list[str]:
        d = vars(shell.compile)
        bad = [k for k, v in self._compiler_attrs.items() if d.get(k, _MISSING) is not v]
        for k in bad:
            d[k] = self._compiler_attrs[k]
        return [f"IPython's compiler ({k}) was changed" for k in bad]


_MISSING = object()


def _shell_hooks(shell) -> list[tuple[str, object, str | None]]:
    """IPython's hook lists through which code could rewrite or silence the next cells.

    (name, holder, attribute) with attribute None when ``holder`` is the list itself:
    AST and input transformers (they could delete a test's asserts), custom
    exception handlers (they could swallow its failure), event callbacks
    (``post_run_cell`` runs after a failure was recorded).
    """
    out: list[tuple[str, object, str | None]] = [
        ("ast_transformers", shell, "ast_transformers"),
        ("input_transformers_post", shell, "input_transformers_post"),
        ("custom_exceptions", shell, "custom_exceptions"),
    ]
    mgr = getattr(shell, "input_transformer_manager", None)
    for attr in ("cleanup_transforms", "line_transforms", "token_transformers"):
        if isinstance(getattr(mgr, attr, None), list):
            out.append((f"input transformers ({attr})", mgr, attr))
    events = getattr(getattr(shell, "events", None), "callbacks", {})
    for ev, lst in events.items():
        if isinstance(lst, list):
            out.append((f"{ev!r} event callbacks", lst, None))
    return [(n, h, k) for n, h, k in out
            if isinstance(getattr(h, k) if k else h, (list, tuple))]


#: modules that change torch's namespace when first imported (torch._dynamo wraps
#: torch.manual_seed when an optimizer is first built): imported before the record, so
#: that honest code importing them later does not look like tampering (and pays nothing)
LAZY_PATCHERS = ("torch._dynamo", "torch.optim")


def _settle_lazy_imports() -> None:
    if "torch" not in sys.modules:
        return
    import importlib

    for name in LAZY_PATCHERS:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001  (an optional speed-up and de-noising)
            pass


def _student_frame(frame, depth: int | None) -> bool:
    """Whether one of the ``depth`` innermost Python frames (all, if None) is student code."""
    n = 0
    while frame is not None and (depth is None or n < depth):
        fn = frame.f_code.co_filename
        if fn.startswith(STUDENT_PREFIX) or (fn.startswith("<") and not fn.startswith("<cell-")
                                             and not fn.startswith("<frozen")):
            return True
        frame = frame.f_back
        n += 1
    return False


def _refuse_student_threads() -> None:
    """Threads started by student code could change what a test uses between two checks.

    ``_thread.start_new_thread`` (which ``threading`` uses) refuses when student code is on
    the stack; libraries cope (tqdm, for one, turns its monitor thread off).
    """
    import _thread
    import threading

    orig = _thread.start_new_thread
    getframe = sys._getframe

    def start_new_thread(function, args, kwargs=None):
        if _student_frame(getframe(1), None):
            raise RuntimeError("grading sandbox: submitted code may not start threads while "
                               "it is graded")
        return orig(function, args, kwargs or {})

    _thread.start_new_thread = _thread.start_new = start_new_thread
    threading._start_new_thread = start_new_thread


def _frame_leakers() -> frozenset:
    """Code of the standard helpers that return frame objects to their caller."""
    import inspect
    import traceback

    out = set()
    for f in (inspect.currentframe, inspect.stack, inspect.trace, inspect.getouterframes,
              inspect.getinnerframes, traceback.walk_stack, traceback.walk_tb):
        code = getattr(f, "__code__", None)
        if code is not None:
            out.add(code)
    return frozenset(out)


def _install_audit_hook() -> None:
    """Refuse, to student code, what would reach the grader's own state (cannot be undone)."""
    import sys as _sys

    getframe = _sys._getframe
    busy = [False]
    deny_stack = frozenset(_DENY_ANYWHERE_ON_STACK)
    frame_attrs = frozenset(_FRAME_ATTRS)
    proc_mem = _PROC_MEM
    leakers = _frame_leakers()

    def hook(event, args):
        if busy[0]:
            return
        if event == "open":
            path = args[0]
            if isinstance(path, (str, bytes)) and proc_mem.match(os.fsdecode(path)):
                raise PermissionError(f"grading sandbox: opening {os.fsdecode(path)} is not allowed")
            return
        if event in deny_stack:
            depth = None
        elif event == "sys._getframe" or (event == "object.__getattr__" and len(args) > 1
                                           and args[1] in frame_attrs):
            depth = "frames"
        elif event == "object.__setattr__" and len(args) > 1 and isinstance(args[0], types.FunctionType) \
                and args[1] in ("__code__", "__defaults__", "__kwdefaults__", "__globals__"):
            depth = None
            if args[0].__code__.co_filename.startswith(STUDENT_PREFIX):
                return  # a student may change their own functions
        elif event == "compile" and len(args) > 1 and isinstance(args[1], str) and \
                not args[1].startswith("<"):
            depth = 2  # student code compiling code that claims to live in a real file
        else:
            return
        busy[0] = True
        try:
            caller = getframe(1)
            if depth == "frames":
                # a frame object handed to student code: asked for by it, or by one of the
                # helpers that return frames (inspect.currentframe ...) on its behalf;
                # libraries that only look at frames (warnings, logging, matplotlib) may
                student = _student_frame(caller, 1) or (
                    caller is not None and caller.f_code in leakers
                    and _student_frame(caller.f_back, 2))
            else:
                student = _student_frame(caller, depth)
        finally:
            busy[0] = False
        if student:
            raise PermissionError(f"grading sandbox: {event} is not allowed in submitted code")

    _sys.addaudithook(hook)


# ============================================================================ bad input


def notebook_problem(path: str | os.PathLike) -> str | None:
    """Why the file at ``path`` cannot be graded as a notebook, or None if it can.

    Checks, in order: it exists and is a file, it is UTF-8 JSON, it is a
    notebook (an object with ``cells``), its nbformat is 4, its nbgrader
    metadata has a known ``schema_version``.
    """
    import json

    p = Path(path)
    if not p.exists():
        return "missing: the notebook was not submitted"
    if not p.is_file():
        return "not a file"
    try:
        raw = p.read_bytes()
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "not a notebook: the file is not UTF-8 text (a binary file?)"
    except json.JSONDecodeError as e:
        return f"not a notebook: invalid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
    if not isinstance(data, dict) or not ("cells" in data or "worksheets" in data):
        return "not a notebook: valid JSON, but it has no cells"
    major = data.get("nbformat")
    if major != 4:
        return (f"old or unknown notebook format (nbformat {major!r}; this course grades "
                f"nbformat 4: open it in JupyterLab and save it again)")
    known = {1, 2, 3}
    for cell in data.get("cells", []):
        if not isinstance(cell, dict):
            return "not a notebook: a cell is not an object"
        nbg = (cell.get("metadata") or {}).get("nbgrader")
        if isinstance(nbg, dict) and "schema_version" in nbg and nbg["schema_version"] not in known:
            return (f"unknown nbgrader schema_version {nbg['schema_version']!r} in cell "
                    f"{nbg.get('grade_id', cell.get('id'))!r} (metadata edited by hand?)")
    return None


def audit_submission(course: str | os.PathLike, assignment: str, student: str,
                     db_url: str, submission_dir: str | os.PathLike | None = None,
                     ) -> tuple[str | None, list[dict]]:
    """Check one student's submission against the gradebook before nbgrader grades it.

    Returns ``(fatal, notes)``: ``fatal`` is why nothing can be graded (no usable
    notebook), or None; ``notes`` are incidents for the report (a wrong file
    name, an old format, deleted, edited, retyped or reordered test cells,
    changed points, stripped metadata), each ``{"kind", "notebook", "grade_id",
    "detail"}``. Reads only; the submission is never changed. ``submission_dir``: read
    the submission there instead (``autograder grade`` passes its cleaned staging copy,
    :mod:`autograder.submissions`, so no link is ever followed).
    """
    import json

    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.utils import compute_checksum

    sub = Path(submission_dir) if submission_dir else \
        Path(course) / "submitted" / student / assignment
    notes: list[dict] = []

    def note(kind, detail, notebook="", grade_id=None):
        notes.append({"kind": kind, "notebook": notebook, "grade_id": grade_id, "detail": detail})

    with Gradebook(db_url) as gb:
        try:
            nbs = gb.find_assignment(assignment).notebooks
        except MissingEntry:
            return None, notes
        expected = {nb.name: nb for nb in nbs}
        present = sorted(p.name[:-6] for p in sub.glob("*.ipynb")) if sub.is_dir() else []
        strays = [n for n in present if n not in expected]
        missing = [n for n in expected if n not in present]
        for n in strays:
            note("file", f"{n}.ipynb is not part of the assignment (it has "
                         f"{', '.join(e + '.ipynb' for e in expected)}): not graded", n)
        for n in missing:
            hint = f" (found {', '.join(s + '.ipynb' for s in strays)}: renamed?)" if strays else ""
            note("file", f"missing: {n}.ipynb was not submitted{hint}", n)
        usable = []
        for n in expected:
            if n not in present:
                continue
            path = sub / f"{n}.ipynb"
            problem = notebook_problem(path)
            if problem and not problem.startswith("old or unknown notebook format (nbformat 3"):
                note("file", f"{n}.ipynb: {problem}", n)
                continue
            if problem:
                note("file", f"{n}.ipynb: nbformat 3 (an old format): converted to 4 for grading", n)
            usable.append(n)
            try:
                import nbformat

                nbk = nbformat.read(path, as_version=4)
            except Exception as e:  # noqa: BLE001  (nbgrader will report it too)
                note("file", f"{n}.ipynb cannot be read: {type(e).__name__}: {e}", n)
                continue
            _audit_cells(gb, assignment, n, nbk, Path(course), note, compute_checksum, json)
        if not usable:
            others = [p.name for p in sorted(sub.iterdir())] if sub.is_dir() else []
            bad = [d["detail"] for d in notes if d["kind"] == "file"]
            reason = "; ".join(bad) or "no notebook"
            if not present:
                reason = (f"no notebook submitted (expected "
                          f"{', '.join(e + '.ipynb' for e in expected)}; found "
                          f"{', '.join(others) or 'nothing'})")
                if strays:
                    reason = "; ".join(bad)
            return reason, notes
    return None, notes


def _visible(source: str) -> str:
    """A cell's source as released: hidden test regions removed, trailing space ignored."""
    out, hiding = [], False
    for line in (source or "").splitlines():
        if "### BEGIN HIDDEN TESTS" in line:
            hiding = True
        elif "### END HIDDEN TESTS" in line:
            hiding = False
        elif not hiding:
            out.append(line.rstrip())
    return "\n".join(out).strip()


def _audit_cells(gb, assignment, n, nbk, course, note, compute_checksum, json) -> None:
    from nbgrader.api import MissingEntry

    cells = {}
    order = []
    for c in nbk.cells:
        meta = c.metadata.get("nbgrader") or {}
        gid = meta.get("grade_id")
        if gid:
            if gid in cells:
                note("cells", f"grade_id {gid!r} appears twice (a copied cell?)", n, gid)
            cells[gid] = c
            order.append(gid)
    source = gb.find_notebook(n, assignment)
    src_order = [c.name for c in source.source_cells]
    src_path = course / "source" / assignment / f"{n}.ipynb"
    if src_path.is_file():
        try:
            src_nb = json.loads(src_path.read_text())
            src_order = [(c.get("metadata", {}).get("nbgrader") or {}).get("grade_id")
                         for c in src_nb.get("cells", [])]
            src_order = [g for g in src_order if g]
        except (OSError, ValueError):
            pass
    with_meta = sum(1 for c in nbk.cells if c.metadata.get("nbgrader"))
    if not with_meta and src_order:
        note("cells", "all nbgrader metadata was removed from the notebook: its test cells "
                      "were restored from the gradebook and graded", n)
    for gc in source.grade_cells:
        gid = gc.name
        try:
            sc = gb.find_source_cell(gid, n, assignment)
        except MissingEntry:
            continue
        c = cells.get(gid)
        if c is None:
            if with_meta:
                note("cells", f"{'test' if sc.cell_type == 'code' else 'graded'} cell {gid!r} is "
                              f"missing (deleted, or its nbgrader metadata removed): restored "
                              f"from the gradebook and graded", n, gid)
            continue
        if c.cell_type != sc.cell_type:
            note("cells", f"cell {gid!r} was changed from {sc.cell_type} to {c.cell_type} "
                          f"(cell_type): restored as {sc.cell_type}", n, gid)
        pts = (c.metadata.get("nbgrader") or {}).get("points")
        try:
            changed_pts = pts is not None and float(pts) != float(gc.max_score)
        except (TypeError, ValueError):
            changed_pts = True
        if changed_pts:
            note("cells", f"points of {gid!r} changed to {pts!r}: the gradebook's "
                          f"{gc.max_score:g} are used", n, gid)
        if sc.locked and c.cell_type == sc.cell_type and \
                _visible(c.source) != _visible(sc.source):  # the release has no hidden tests
            note("cells", f"read-only cell {gid!r} was edited: the original was restored", n, gid)
    # order: the submission's grade ids must follow the source's order
    pos = {g: i for i, g in enumerate(src_order)}
    seen = [g for g in order if g in pos]
    for a, b in zip(seen, seen[1:]):
        if pos[a] > pos[b]:
            note("cells", f"cells out of order: {a!r} comes before {b!r} in the submission "
                          f"(cells run top to bottom, so a test placed before its answer fails)",
                 n, a)
            break


@functools.lru_cache(maxsize=None)
def robust_overwrite_cells_class():
    """nbgrader's OverwriteCells, able to put back test cells whose neighbours are gone too.

    Stock ``add_missing_grade_cells`` inserts a missing grade cell after the
    previous cell of the source notebook and fails with a ``KeyError`` when that
    cell is missing as well (all nbgrader metadata stripped, or an answer cell
    deleted with its test). Here a missing cell goes after the nearest earlier
    source cell that is present, or at the end of the notebook if none is, so
    the tests still run after the student's code.
    """
    from nbgrader import utils
    from nbgrader.preprocessors import OverwriteCells

    class RobustOverwriteCells(OverwriteCells):
        def add_missing_grade_cells(self, nb, resources):
            source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
            source_ids = [c.name for c in source_nb.source_cells]
            grade_cells = {c.name: c for c in source_nb.grade_cells}
            solution_ids = {c.name for c in source_nb.solution_cells}

            def present():
                return {c["metadata"]["nbgrader"]["grade_id"]: k for k, c in enumerate(nb.cells)
                        if (utils.is_grade(c) or utils.is_solution(c))
                        and c["metadata"]["nbgrader"].get("grade_id")}

            for gid in source_ids:
                if gid not in grade_cells or gid in present():
                    continue
                self.log.warning(f"Missing grade cell {gid} encountered, adding to notebook")
                idx = source_ids.index(gid)
                cell = self.missing_cell_transform(
                    source_nb.source_cells[idx], grade_cells[gid].max_score,
                    is_solution=gid in solution_ids)
                where = present()
                before = [where[p] for p in source_ids[:idx] if p in where]
                nb.cells.insert(max(before) + 1 if before else len(nb.cells), cell)
            return nb, resources

    return RobustOverwriteCells
