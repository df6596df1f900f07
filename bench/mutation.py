"""Mutation testing: do the assignments' tests catch every one-bug version of the solution?

    .venv/bin/python bench/mutation.py ps3              # grade ps3's mutants, print survivors
    .venv/bin/python bench/mutation.py all --guide      # all five; rewrite the guide's table
    .venv/bin/python bench/mutation.py ps1 --only hand-mean-square-over-2 --ast 0
    .venv/bin/python bench/mutation.py ps3 --list       # list the mutants, grade nothing

For each assignment the mutants are one-bug versions of the instructor's solution:

* hand-written, realistic mistakes for the assignment's topic, in
  ``bench/mutants/<assignment>.py`` (``MUTANTS = {name: {grade_id: [(old, new)]}}``,
  the declarative one-edit style of ``tests/bugs_<assignment>.py``);
* automatic AST mutations of the solution regions (between ``### BEGIN/END
  SOLUTION``): operators swapped, comparisons negated or moved off their boundary,
  constants changed, statements dropped, arguments and operands swapped,
  conditions negated; ``--ast N`` of them chosen by a fixed seed (a hash of the
  seed and the edit, so one changed line does not reshuffle the others).

All of them, and the solution itself as the control, are graded as submissions by
the course's own grader (``autograder.grading.grade``) in one batch per
assignment, in a private copy of the course under ``bench/out/mutation/``. A mutant
is *killed* when it scores below the solution (or cannot be graded at all). A
survivor that behaves exactly as torch does on every input the contract allows may
be listed in the registry's ``EQUIVALENT = {name: reason}``; it then does not count.
The kill rate is killed / (mutants - equivalent). Exit status 1 when a survivor is
not marked equivalent, or when the solution itself loses points.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import hashlib
import importlib.util
import io
import json
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from autograder import course as C  # noqa: E402

ASSIGNMENTS = ["ps1", "ps2", "ps3", "ps4", "ps5"]
DEFAULT_AST = 25
DEFAULT_SEED = 13
MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*$")
GUIDE = ROOT / "docs" / "instructor-guide.md"
TABLE_BEGIN = "<!-- mutation-table: begin (bench/mutation.py all --guide) -->"
TABLE_END = "<!-- mutation-table: end -->"


@dataclass
class Mutant:
    name: str
    kind: str                      # "hand" or "ast"
    edits: dict                    # {grade_id: [(old, new), ...]}
    equivalent: str = ""           # why it cannot be told from the solution, if so


@dataclass
class Outcome:
    name: str
    kind: str
    killed: bool
    score: float | None
    lost: list = field(default_factory=list)     # grade ids of the cells that lost points
    error: str = ""                                # the grader's reason, if it could not grade
    equivalent: str = ""


# ---------------------------------------------------------------------------- the solution


def answer_cells(assignment: str, root: Path = ROOT) -> dict[str, str]:
    """``{grade_id: source with the solution markers}`` of the code answer cells."""
    import nbformat

    out = {}
    for nb_path in C.assignment_notebooks(root, assignment):
        for cell in nbformat.read(nb_path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("solution"):
                out[meta["grade_id"]] = cell.source
    return out


def solution_lines(source: str) -> tuple[str, set[int]]:
    """(the cell as a student submits it, the 1-based line numbers in it that were solution)."""
    out, lines, inside = [], set(), False
    for line in source.splitlines(keepends=True):
        if MARKER.match(line.rstrip("\n")):
            inside = line.strip().startswith("### BEGIN")
            continue
        out.append(line)
        if inside:
            lines.add(len(out))
    text = "".join(out)
    assert text == C.strip_solution_markers(source), "solution markers parsed differently"
    return text, lines


# ---------------------------------------------------------------------------- AST mutants


@dataclass
class _Candidate:
    grade_id: str
    op: str
    line: int
    new_text: str


class _Offsets:
    """(line, utf-8 column) of ast nodes to character offsets in the text."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for ln in self.lines:
            self.starts.append(self.starts[-1] + len(ln))

    def at(self, line: int, col: int) -> int:
        raw = self.lines[line - 1].encode()
        return self.starts[line - 1] + len(raw[:col].decode())

    def span(self, node) -> tuple[int, int]:
        return self.at(node.lineno, node.col_offset), self.at(node.end_lineno, node.end_col_offset)

    def seg(self, node) -> str:
        a, b = self.span(node)
        return self.text[a:b]


_BINOP = {ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "/"), ast.Div: ("/", "*"),
          ast.Pow: ("**", "*"), ast.MatMult: ("@", "*"), ast.FloorDiv: ("//", "/")}
_AUG = {ast.Add: ("+=", "-="), ast.Sub: ("-=", "+="), ast.Mult: ("*=", "/="), ast.Div: ("/=", "*=")}
_NEGATE = {ast.Gt: (">", "<="), ast.GtE: (">=", "<"), ast.Lt: ("<", ">="), ast.LtE: ("<=", ">"),
           ast.Eq: ("==", "!="), ast.NotEq: ("!=", "=="), ast.Is: ("is", "is not"),
           ast.IsNot: ("is not", "is"), ast.In: ("in", "not in"), ast.NotIn: ("not in", "in")}
_BOUNDARY = {ast.Gt: (">", ">="), ast.GtE: (">=", ">"), ast.Lt: ("<", "<="), ast.LtE: ("<=", "<")}
_LOOSE = (ast.BinOp, ast.BoolOp, ast.Compare, ast.UnaryOp, ast.IfExp, ast.Lambda, ast.NamedExpr)
_SIMPLE_STMT = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Return, ast.Raise,
                ast.Delete)


def _paren(text: str, node) -> str:
    return f"({text})" if isinstance(node, _LOOSE) else text


def _replace_in_gap(text: str, a: int, b: int, old: str, new: str) -> tuple[int, int, str] | None:
    """The operator ``old`` written between offsets a and b (parentheses aside), as a replacement."""
    gap = text[a:b]
    if gap.replace("(", "").replace(")", "").split() != old.split():
        return None
    i = gap.find(old.split()[0])
    j = gap.find(old.split()[-1], i) + len(old.split()[-1])
    return a + i, a + j, new


def _candidates(grade_id: str, text: str, sol: set[int]) -> list[_Candidate]:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    off = _Offsets(text)
    parent = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parent[child] = node
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                docstrings.add(first)

    def in_solution(node) -> bool:
        return all(ln in sol for ln in range(node.lineno, node.end_lineno + 1))

    def in_while(node) -> bool:
        p = parent.get(node)
        while p is not None:
            if isinstance(p, ast.While):
                return True
            p = parent.get(p)
        return False

    out: list[_Candidate] = []

    def add(op: str, node, *reps: tuple[int, int, str]):
        new = text
        for a, b, r in sorted(reps, reverse=True):
            new = new[:a] + r + new[b:]
        if new != text:
            out.append(_Candidate(grade_id, op, node.lineno, new))

    for node in ast.walk(tree):
        if not hasattr(node, "lineno") or not in_solution(node):
            continue
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOP:
            sym, other = _BINOP[type(node.op)]
            rep = _replace_in_gap(text, off.span(node.left)[1], off.span(node.right)[0], sym, other)
            if rep:
                add(f"binop {sym} -> {other}", node, rep)
            if isinstance(node.op, (ast.Sub, ast.Div, ast.Pow, ast.MatMult)):
                left, right = off.seg(node.left), off.seg(node.right)
                if left != right:
                    a, b = off.span(node)
                    add(f"operands of {sym} swapped", node,
                        (a, b, f"{_paren(right, node.right)} {sym} {_paren(left, node.left)}"))
        elif isinstance(node, ast.AugAssign) and type(node.op) in _AUG:
            sym, other = _AUG[type(node.op)]
            rep = _replace_in_gap(text, off.span(node.target)[1], off.span(node.value)[0], sym, other)
            if rep:
                add(f"augmented {sym} -> {other}", node, rep)
        elif isinstance(node, ast.Compare) and len(node.ops) == 1:
            a = off.span(node.left)[1]
            b = off.span(node.comparators[0])[0]
            kind = type(node.ops[0])
            if kind in _NEGATE:
                sym, other = _NEGATE[kind]
                rep = _replace_in_gap(text, a, b, sym, other)
                if rep:
                    add(f"comparison {sym} -> {other}", node, rep)
            if kind in _BOUNDARY:
                sym, other = _BOUNDARY[kind]
                rep = _replace_in_gap(text, a, b, sym, other)
                if rep:
                    add(f"boundary {sym} -> {other}", node, rep)
        elif isinstance(node, ast.BoolOp) and len(node.values) == 2:
            sym, other = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
            rep = _replace_in_gap(text, off.span(node.values[0])[1], off.span(node.values[1])[0],
                                  sym, other)
            if rep:
                add(f"{sym} -> {other}", node, rep)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
            seg = off.seg(node)
            sym = "-" if isinstance(node.op, ast.USub) else "not"
            if seg.startswith(sym):
                a, b = off.span(node)
                add(f"unary {sym} dropped", node, (a, b, seg[len(sym):].lstrip()))
        elif isinstance(node, ast.Constant) and not isinstance(node.value, (str, bytes)) \
                and node.value is not None and node.value is not Ellipsis:
            v = node.value
            if isinstance(v, bool):
                new = repr(not v)
            elif isinstance(v, (int, float)):
                new = repr(type(v)(v + 1))
            else:
                continue
            a, b = off.span(node)
            add(f"constant {off.seg(node)} -> {new}", node, (a, b, new))
        elif isinstance(node, ast.Call) and len(node.args) >= 2 \
                and not any(isinstance(x, ast.Starred) for x in node.args[:2]):
            s0, s1 = off.seg(node.args[0]), off.seg(node.args[1])
            if s0 != s1:
                (a0, b0), (a1, b1) = off.span(node.args[0]), off.span(node.args[1])
                add("arguments 1 and 2 swapped", node, (a0, b0, s1), (a1, b1, s0))
        if isinstance(node, (ast.If, ast.While, ast.IfExp)) and in_solution(node.test):
            a, b = off.span(node.test)
            add("condition negated", node, (a, b, f"not ({off.seg(node.test)})"))
        if isinstance(node, _SIMPLE_STMT) and node not in docstrings and not in_while(node):
            a, b = off.span(node)
            line_start = off.starts[node.lineno - 1]
            rest = off.lines[node.end_lineno - 1][len(off.lines[node.end_lineno - 1].encode()[
                :node.end_col_offset].decode()):]
            if text[line_start:a].strip() == "" and (rest.strip() == "" or rest.strip().startswith("#")):
                what = type(node).__name__.lower()
                add(f"{what} statement dropped", node, (a, b, "pass"))
    return out


def _edit_for(text: str, new_text: str) -> tuple[str, str]:
    """The smallest (old, new) pair of whole lines, unique in ``text``, turning it into ``new_text``."""
    old_lines = text.splitlines(keepends=True)
    new_lines = new_text.splitlines(keepends=True)
    i = 0
    while i < min(len(old_lines), len(new_lines)) and old_lines[i] == new_lines[i]:
        i += 1
    j = 0
    while (j < min(len(old_lines), len(new_lines)) - i
           and old_lines[-1 - j] == new_lines[-1 - j]):
        j += 1
    lo, hi_old, hi_new = i, len(old_lines) - j, len(new_lines) - j
    while True:
        old = "".join(old_lines[lo:hi_old])
        if old and text.count(old) == 1:
            return old, "".join(new_lines[lo:hi_new])
        if lo > 0:
            lo -= 1
        elif hi_old < len(old_lines):
            hi_old += 1
            hi_new += 1
        else:
            return text, new_text


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


def ast_mutants(assignment: str, n: int = DEFAULT_AST, seed: int = DEFAULT_SEED,
                root: Path = ROOT) -> list[Mutant]:
    """``n`` AST mutants of the solution regions, chosen by a hash of ``seed`` and each edit."""
    pool: dict[str, Mutant] = {}
    for gid, source in answer_cells(assignment, root).items():
        text, sol = solution_lines(source)
        seen = {text}
        for cand in _candidates(gid, text, sol):
            if cand.new_text in seen:
                continue
            try:
                ast.parse(cand.new_text)
            except SyntaxError:
                continue
            seen.add(cand.new_text)
            old, new = _edit_for(text, cand.new_text)
            digest = hashlib.sha1(f"{gid}\0{old}\0{new}".encode()).hexdigest()
            name = f"ast-{gid.removeprefix(assignment + '-')}-{_slug(cand.op)}-{digest[:6]}"
            pool[name] = Mutant(name, "ast", {gid: [(old, new)]})

    def rank(m: Mutant) -> str:
        return hashlib.sha1(f"{seed}\0{m.name}".encode()).hexdigest()

    # round robin over the answer cells, each in its hashed order: every cell gets its share
    queues: dict[str, list[Mutant]] = {}
    for m in sorted(pool.values(), key=rank):
        queues.setdefault(next(iter(m.edits)), []).append(m)
    chosen: list[Mutant] = []
    while len(chosen) < n and any(queues.values()):
        for gid in sorted(queues):
            if queues[gid] and len(chosen) < n:
                chosen.append(queues[gid].pop(0))
    return sorted(chosen, key=lambda m: m.name)


# ---------------------------------------------------------------------------- hand-written mutants


def registry(assignment: str, root: Path = ROOT):
    path = root / "bench" / "mutants" / f"{assignment}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"mutants_{assignment}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def hand_mutants(assignment: str, root: Path = ROOT) -> list[Mutant]:
    mod = registry(assignment, root)
    if mod is None:
        return []
    return [Mutant(f"hand-{name}", "hand", edits) for name, edits in mod.MUTANTS.items()]


def all_mutants(assignment: str, n_ast: int = DEFAULT_AST, seed: int = DEFAULT_SEED,
                root: Path = ROOT) -> list[Mutant]:
    mutants = hand_mutants(assignment, root) + ast_mutants(assignment, n_ast, seed, root)
    cells = answer_cells(assignment, root)
    for m in mutants:  # the checks of course.solution_submission, before any grading
        for gid, edits in m.edits.items():
            if gid not in cells:
                raise ValueError(f"{assignment} mutant {m.name}: no answer cell {gid!r}")
            text = C.strip_solution_markers(cells[gid])
            for old, _new in edits:
                if text.count(old) != 1:
                    raise ValueError(f"{assignment} mutant {m.name}: {old!r} occurs "
                                     f"{text.count(old)} times in {gid} (must be exactly once)")
    mod = registry(assignment, root)
    equivalent = dict(getattr(mod, "EQUIVALENT", {}) or {}) if mod else {}
    for m in mutants:
        m.equivalent = equivalent.get(m.name, "")
    return mutants


def diff(assignment: str, m: Mutant, root: Path = ROOT) -> str:
    """The mutant as a unified diff of the answer cells it changes."""
    cells = answer_cells(assignment, root)
    out = []
    for gid, edits in m.edits.items():
        text = C.strip_solution_markers(cells[gid])
        new = text
        for old, rep in edits:
            new = new.replace(old, rep)
        out.extend(difflib.unified_diff(text.splitlines(keepends=True), new.splitlines(keepends=True),
                                        f"{gid} (solution)", f"{gid} ({m.name})", n=1))
    return "".join(x if x.endswith("\n") else x + "\n" for x in out)


# ---------------------------------------------------------------------------- grading


def build(dest: Path, assignment: str, mutants: list[Mutant], root: Path = ROOT) -> Path:
    """A private course with the solution (student ``solution``) and one submission per mutant."""
    if dest.exists():
        shutil.rmtree(dest)
    course = C.copy_course(dest, assignment, root=root)
    C.nbgrader(course, "generate_assignment", assignment, "--force")
    C.write_solution_submissions(course, assignment,
                                 {"solution": {}, **{m.name: m.edits for m in mutants}})
    return course


def grade_mutants(assignment: str, mutants: list[Mutant], out: Path, jobs: int | None = None,
                  progress: bool = True, root: Path = ROOT) -> tuple[dict, list[Outcome]]:
    """Grade the solution and every mutant in one batch; (the solution's scores, outcomes)."""
    from autograder.grading import grade

    course = build(out / assignment, assignment, mutants, root)
    run = grade(course, assignment, jobs=jobs, feedback=False, report=False,
                progress=progress and sys.stderr.isatty(), stream=sys.stderr)
    scores = C.gradebook_scores(course, assignment)
    reasons = {r.student: r.reason for r in run.results if not r.ok}
    ref = scores.get("solution")
    if ref is None or "solution" in reasons:
        raise RuntimeError(f"the solution could not be graded: {reasons.get('solution')}")
    outcomes = []
    for m in mutants:
        s = scores.get(m.name)
        if s is None or m.name in reasons:  # the grader failed: inconclusive, neither killed nor survived
            outcomes.append(Outcome(m.name, m.kind, False, None, [], reasons.get(m.name, "not graded"),
                                    m.equivalent))
            continue
        lost = sorted(g for g, (sc, _mx) in s["cells"].items()
                      if (sc or 0) < (ref["cells"].get(g, (0, 0))[0] or 0) - 1e-9)
        outcomes.append(Outcome(m.name, m.kind, bool(lost), s["auto_score"], lost, "", m.equivalent))
    return ref, outcomes


# ---------------------------------------------------------------------------- reporting


def rates(outcomes: list[Outcome]) -> dict:
    ungraded = [o.name for o in outcomes if o.error]
    counted = [o for o in outcomes if not o.error and not (o.equivalent and not o.killed)]
    killed = sum(o.killed for o in counted)
    by_kind = {}
    for kind in ("hand", "ast"):
        ks = [o for o in counted if o.kind == kind]
        by_kind[kind] = (sum(o.killed for o in ks), len(ks))
    return {"mutants": len(outcomes), "equivalent": len(outcomes) - len(counted) - len(ungraded),
            "killed": killed, "counted": len(counted),
            "rate": killed / len(counted) if counted else 1.0, "by_kind": by_kind,
            "survivors": [o.name for o in counted if not o.killed], "ungraded": ungraded}


def report(assignment: str, ref: dict, outcomes: list[Outcome], mutants: list[Mutant],
           root: Path = ROOT) -> str:
    r = rates(outcomes)
    by = {m.name: m for m in mutants}
    buf = io.StringIO()
    hk, hn = r["by_kind"]["hand"]
    ak, an = r["by_kind"]["ast"]
    auto = [(sc, mx) for sc, mx in ref["cells"].values() if sc is not None]
    print(f"{assignment}: {r['killed']}/{r['counted']} killed ({100 * r['rate']:.1f}%): "
          f"hand-written {hk}/{hn}, AST {ak}/{an}; {r['equivalent']} marked equivalent"
          f"{'; %d NOT GRADED' % len(r['ungraded']) if r['ungraded'] else ''}; the solution "
          f"scores {sum(sc for sc, _ in auto):g}/{sum(mx for _, mx in auto):g} in the autograded cells",
          file=buf)
    for o in outcomes:
        if o.equivalent and not o.killed:
            print(f"  equivalent {o.name}: {o.equivalent}", file=buf)
    for o in outcomes:
        if o.equivalent and o.killed:
            print(f"  NOTE {o.name} is marked equivalent but was killed (cells {o.lost}): "
                  f"remove it from EQUIVALENT", file=buf)
    for o in outcomes:
        if o.error:
            print(f"  NOT GRADED {o.name} (the grader failed, not the tests; grade again): {o.error}",
                  file=buf)
    for name in r["survivors"]:
        print(f"\n  SURVIVOR {name} (full marks):", file=buf)
        print("    " + diff(assignment, by[name], root).replace("\n", "\n    ").rstrip(), file=buf)
    return buf.getvalue()


def table(results: dict[str, dict]) -> str:
    """The guide's markdown table from ``{assignment: rates(...)}``."""
    lines = ["| assignment | mutants | hand-written killed | AST killed | equivalent | kill rate |",
             "|---|---|---|---|---|---|"]
    for a in sorted(results):
        r = results[a]
        hk, hn = r["by_kind"]["hand"]
        ak, an = r["by_kind"]["ast"]
        lines.append(f"| {a} | {r['mutants']} | {hk}/{hn} | {ak}/{an} | {r['equivalent']} | "
                     f"{100 * r['rate']:.1f}% |")
    return "\n".join(lines)


def update_guide(text_table: str, path: Path = GUIDE) -> None:
    doc = path.read_text()
    if TABLE_BEGIN not in doc or TABLE_END not in doc:
        raise RuntimeError(f"{path}: no {TABLE_BEGIN!r} ... {TABLE_END!r} block to rewrite")
    head, rest = doc.split(TABLE_BEGIN, 1)
    _, tail = rest.split(TABLE_END, 1)
    path.write_text(f"{head}{TABLE_BEGIN}\n{text_table}\n{TABLE_END}{tail}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("assignment", help="ps1 ... ps5, or 'all'")
    ap.add_argument("--ast", type=int, default=DEFAULT_AST,
                    help=f"AST mutants per assignment (default {DEFAULT_AST})")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"(default {DEFAULT_SEED})")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="grade only these mutants")
    ap.add_argument("--list", action="store_true", help="list the mutants with their diffs, grade nothing")
    ap.add_argument("--jobs", "-j", type=int, default=0, help="grading workers (default: cores)")
    ap.add_argument("--guide", action="store_true",
                    help="rewrite the kill-rate table in docs/instructor-guide.md (needs 'all')")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "mutation"), help="working directory")
    ap.add_argument("--saved", action="store_true",
                    help="report the last run's grades again (from --out), with the registries' "
                         "current EQUIVALENT, without grading")
    args = ap.parse_args(argv)

    names = ASSIGNMENTS if args.assignment == "all" else [args.assignment]
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results, status = {}, 0
    for a in names:
        mutants = all_mutants(a, args.ast, args.seed)
        if args.only:
            mutants = [m for m in mutants if m.name in set(args.only)]
            missing = set(args.only) - {m.name for m in mutants}
            if missing and args.assignment != "all":
                ap.error(f"no mutants named {sorted(missing)} in {a}")
        if args.list:
            for m in mutants:
                print(f"{m.name}" + (f"  [equivalent: {m.equivalent}]" if m.equivalent else ""))
                print("  " + diff(a, m).replace("\n", "\n  ").rstrip())
            continue
        if not mutants:
            continue
        t0 = time.perf_counter()
        if args.saved:
            saved = json.loads((out / f"{a}.json").read_text())
            ref, outcomes = saved["solution"], [Outcome(**o) for o in saved["outcomes"]]
            by = {m.name: m for m in mutants}
            missing = [o.name for o in outcomes if o.name not in by]
            if missing or len(outcomes) != len(mutants):
                raise SystemExit(f"{a}: the saved run graded other mutants than these "
                                 f"(e.g. {missing[:3]}): grade again without --saved")
            for o in outcomes:
                o.equivalent = by[o.name].equivalent
        else:
            ref, outcomes = grade_mutants(a, mutants, out, jobs=args.jobs or None)
        short = sorted(g for g, (sc, mx) in ref["cells"].items() if sc is not None and sc < mx)
        if short:
            print(f"{a}: THE SOLUTION LOSES POINTS in {short}: the control is broken")
            status = 1
        print(report(a, ref, outcomes, mutants), end="")
        r = rates(outcomes)
        results[a] = r
        if not args.saved:
            print(f"  ({len(mutants) + 1} submissions graded in {time.perf_counter() - t0:.0f} s)")
            (out / f"{a}.json").write_text(json.dumps(
                {"rates": r, "solution": ref, "outcomes": [asdict(o) for o in outcomes]}, indent=1))
        if r["survivors"] or r["ungraded"]:
            status = 1
    if results and len(results) > 1:
        print()
        print(table(results))
    if args.guide:
        if args.assignment != "all" or args.only or args.ast != DEFAULT_AST or args.seed != DEFAULT_SEED:
            ap.error("--guide needs 'all' with the default --ast and --seed, and no --only")
        bad = [a for a, r in results.items() if r["ungraded"]]
        if bad:
            raise SystemExit(f"not writing the table: mutants of {', '.join(bad)} could not be graded")
        update_guide(table(results))
        print(f"\nwrote the table into {GUIDE.relative_to(ROOT)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
