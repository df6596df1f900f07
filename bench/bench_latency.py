"""Validate latency and server responsiveness, ours against stock nbgrader; grading start-up.

    .venv/bin/python bench/bench_latency.py                       # everything: Validate, server latency, grading start-up
    .venv/bin/python bench/bench_latency.py --presses 5 --no-grading   # a quick look
    .venv/bin/python bench/bench_latency.py --grading-n 4         # a smaller grading batch

Two JupyterLab servers on a private copy of the course, started as ``bin/course``
starts one (:func:`autograder.lab.lab_command`): *ours* (the Validate route served
by autograder/validate.py) and *stock* (the same command with nbgrader's own
``validate_assignment`` extension instead). For ps1 and ps3, a correct notebook
(the instructor's solution as a student would submit it) is validated through the
HTTP request the Validate button sends (``POST /assignments/validate``):

* Validate: p50/p95 over ``--presses`` presses (after one first press, shown apart:
  for ours it starts the warm process);
* responsiveness: a contents-API request (``GET /api/contents/<dir>``) sent while a
  validation is running (a third of the way into it), ``--probes`` times per server:
  its latency (a probe that finds the validation already finished is not counted);
* grading: ``bench/bench_grading.py -a ps3 -n N`` (stock ``nbgrader autograde``
  against ``autograder grade``): the first graded notebook and the whole-batch ratio.

It prints the numbers (and the machine's load average: on a busy machine every
number is pessimistic); it is not a test. Working files go to bench/out/latency/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from autograder import course as C  # noqa: E402
from autograder.lab import SERVER_EXTENSIONS, lab_command  # noqa: E402

TARGETS = {"validate_p50_ps3": 2.0, "contents_during_validate": 0.2, "first_graded": 3.0,
           "batch_ratio": 10.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, course: Path, out: Path, stock: bool):
        self.name = name
        self.port, self.token = _free_port(), os.urandom(12).hex()
        home = out / f"jupyter-{name}"
        shutil.rmtree(home, ignore_errors=True)
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"),
                   JUPYTER_DATA_DIR=str(home / "data"), AUTOGRADER_COURSE=str(course))
        os.environ["AUTOGRADER_COURSE"] = str(course)
        cmd = lab_command(self.port, token=self.token, open_browser=False)
        if stock:  # nbgrader's own handler: the same command with the extensions swapped
            cmd = [a for a in cmd if not a.startswith("--ServerApp.jpserver_extensions=")]
            cmd += [f"--ServerApp.jpserver_extensions={name}={not on}"
                    for name, on in SERVER_EXTENSIONS.items()]
        home.mkdir(parents=True)
        self.log = home / "jupyterlab.log"
        with open(self.log, "w") as f:
            self.proc = subprocess.Popen(cmd, cwd=course, env=env, stdout=f,
                                         stderr=subprocess.STDOUT)

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}{sep}token={self.token}"

    def wait(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited:\n{self.log.read_text()[-3000:]}")
            try:
                self.get("api/status", timeout=5)
                return
            except OSError:
                time.sleep(0.25)
        raise RuntimeError(f"{self.name} server did not answer within {timeout} s")

    def get(self, path: str, timeout: float = 600) -> dict:
        with urllib.request.urlopen(self.url(path), timeout=timeout) as r:
            return json.loads(r.read())

    def validate(self, rel: str) -> tuple[float, dict]:
        req = urllib.request.Request(
            self.url(f"assignments/validate?path={urllib.parse.quote(rel)}"), data=b"",
            method="POST")
        t0 = time.perf_counter()
        with urllib.request.urlopen(req, timeout=900) as r:
            body = json.loads(r.read())
        return time.perf_counter() - t0, body

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def build(out: Path, assignments: list[str]) -> Path:
    course = out / "course"
    shutil.rmtree(course, ignore_errors=True)
    C.copy_course(course, *assignments, root=ROOT, with_release=True)
    for a in assignments:
        release = course / "release" / a
        for nb in sorted(release.glob("*.ipynb")):
            d = course / "work" / a
            d.mkdir(parents=True, exist_ok=True)
            for extra in release.iterdir():
                if extra.is_file() and extra.suffix != ".ipynb":
                    shutil.copy2(extra, d / extra.name)
            nbformat.write(C.solution_submission(nb, course / "source" / a / nb.name),
                           d / nb.name)
    return course


def presses(srv: Server, rel: str, n: int) -> dict:
    first, body = srv.validate(rel)
    ok = body.get("success") and body.get("value") == {}
    times = []
    for _ in range(n):
        t, body = srv.validate(rel)
        ok = ok and body.get("success") and body.get("value") == {}
        times.append(t)
    return {"first": first, "p50": pct(times, 50), "p95": pct(times, 95), "n": n, "ok": ok}


def probe(srv: Server, rel: str, k: int, delay: float) -> list[float]:
    """Latency of GET /api/contents/<dir of rel>, sent ``delay`` s into each of k validations."""
    lat = []
    folder = urllib.parse.quote(str(Path(rel).parent))
    for _ in range(k):
        done = threading.Event()
        th = threading.Thread(target=lambda ev=done: (srv.validate(rel), ev.set()))
        th.start()
        time.sleep(delay)
        busy = not done.is_set()
        t0 = time.perf_counter()
        srv.get(f"api/contents/{folder}?content=1")
        t = time.perf_counter() - t0
        th.join()
        if busy:  # only a probe sent while the validation was still running counts
            lat.append(t)
    return lat


def grading(n: int, out: Path) -> dict:
    cmd = [sys.executable, str(ROOT / "bench" / "bench_grading.py"), "-a", "ps3", "-n", str(n),
           "--out", str(out / "grading")]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    print(proc.stdout.rstrip())
    if proc.returncode:
        print(proc.stderr[-3000:])
    res = {}
    for label, key in (("stock nbgrader autograde", "stock"), ("autograder grade", "ours")):
        m = re.search(rf"^{re.escape(label)}\s+([\d.]+)\s+([\d.]+)\s+([\d.]+) s", proc.stdout, re.M)
        if m:
            res[key] = {"seconds": float(m.group(1)), "first": float(m.group(3))}
    m = re.search(r"^speed-up: ([\d.]+)x", proc.stdout, re.M)
    res["ratio"] = float(m.group(1)) if m else float("nan")
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presses", type=int, default=20, help="Validate presses per notebook "
                                                            "and server (default 20)")
    ap.add_argument("--stock-presses", type=int, default=None,
                    help="presses for the stock server (default: --presses)")
    ap.add_argument("--probes", type=int, default=3, help="contents-API probes per server")
    ap.add_argument("--delay", type=float, default=None,
                    help="seconds into a validation at which a probe is sent (default: a third "
                         "of that server's p50 for the notebook)")
    ap.add_argument("--assignments", nargs="+", default=["ps1", "ps3"])
    ap.add_argument("--grading-n", type=int, default=40, help="ps3 submissions for the grading "
                                                               "part (default 40)")
    ap.add_argument("--no-grading", action="store_true", help="skip the grading part")
    ap.add_argument("--no-stock", action="store_true", help="our Validate only")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "latency"))
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f} (a busy machine makes every number "
          f"pessimistic)")
    course = build(out, args.assignments)
    kinds = [("ours", False)] + ([] if args.no_stock else [("stock", True)])
    results: dict = {}
    for name, stock in kinds:
        srv = Server(name, course, out, stock)
        try:
            srv.wait()
            n = args.presses if not stock else (args.stock_presses or args.presses)
            for a in args.assignments:
                rel = f"work/{a}/{a}.ipynb"
                r = presses(srv, rel, n)
                r["probe"] = probe(srv, rel, args.probes,
                                   args.delay if args.delay is not None else r["p50"] / 3)
                results[(name, a)] = r
                print(f"  {name:5s} {a}: first press {r['first']:.2f} s, p50 {r['p50']:.2f} s, "
                      f"p95 {r['p95']:.2f} s over {n}; contents API during a validation "
                      f"{', '.join(f'{x * 1000:.0f} ms' for x in r['probe']) or 'n/a'}"
                      f"{'' if r['ok'] else '  (NOT all Success!)'}", flush=True)
        finally:
            srv.stop()
    g = None if args.no_grading else grading(args.grading_n, out)

    print()
    print(f"{'':44s}{'ours':>12s}{'stock':>12s}{'target':>14s}")
    for a in args.assignments:
        o, s = results.get(("ours", a)), results.get(("stock", a))
        for key, label in (("p50", "p50"), ("p95", "p95")):
            tgt = "< 2 s" if (a == "ps3" and key == "p50") else ""
            print(f"{f'Validate {a} {label} (s)':44s}{o[key]:12.2f}"
                  f"{s[key] if s else float('nan'):12.2f}{tgt:>14s}")
    for a in args.assignments:
        o, s = results.get(("ours", a)), results.get(("stock", a))
        for label, f in (("median", lambda xs: pct(xs, 50)), ("max", max)):
            ms = lambda r: f(r["probe"]) * 1000 if r and r["probe"] else float("nan")  # noqa: E731,B023
            print(f"{f'contents API during Validate {a}, {label} (ms)':44s}{ms(o):12.0f}"
                  f"{ms(s):12.0f}{'< 200 ms':>14s}")
    if g:
        o, s = g.get("ours", {}), g.get("stock", {})
        print(f"{f'ps3 N={args.grading_n}: first graded notebook (s)':44s}"
              f"{o.get('first', float('nan')):12.1f}{s.get('first', float('nan')):12.1f}"
              f"{'< 3 s':>14s}")
        print(f"{f'ps3 N={args.grading_n}: whole batch (s)':44s}"
              f"{o.get('seconds', float('nan')):12.1f}{s.get('seconds', float('nan')):12.1f}")
        print(f"{f'ps3 N={args.grading_n}: whole-batch ratio':44s}{g['ratio']:11.1f}x"
              f"{'':12s}{'>= 10x':>14s}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
