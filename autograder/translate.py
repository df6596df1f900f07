"""Translated notebooks from one source: English notebooks + gettext catalogs -> generated copies.

Code exists once. A translated notebook is generated from its English notebook and a catalog
(``i18n/<lang>/<domain>.po``, gettext's PO format, read and written with polib); only prose
changes: markdown paragraphs, comments and docstrings of code cells. Code, cell ids, nbgrader
metadata (grade_ids, points, checksums' inputs) are the English notebook's, so the tests and the
points are the same in every language.

What is translated, unit by unit (one catalog entry each, ``msgctxt`` = the cell's id):

* a markdown cell, block by block (a block is a run of non-blank lines); fenced code blocks and
  blocks with no words outside code spans, math and HTML tags are copied as they are;
* in a code cell, each run of full-line comments at one indentation, each trailing comment, and
  each docstring; never nbgrader's markers, ``YOUR CODE HERE``, ``noqa``, and nothing inside a
  solution or hidden-tests region (students never read those).

Where the copies go:

* ``course/<nb>.ipynb``       -> ``course/<lang>/<nb>.ipynb``          (catalog ``<nb stem>.po``)
* ``source/psN/<nb>.ipynb``   -> ``source/psN-<lang>/<nb>.ipynb`` with psN's other files
  (catalog ``psN.po``): a separate nbgrader assignment with the same cells, grade_ids, tests and
  points, released by ``bin/course release psN-<lang>`` like any other (docs/authoring.md).

Commands (``autograder i18n ...``):

* ``update``  add the English units that have no entry to each catalog; an entry whose English
  changed becomes *fuzzy* with its old translation kept to revise; entries no longer used go;
* ``todo DOMAIN`` / ``fill DOMAIN FILE``  list untranslated or fuzzy entries, numbered, and take
  translations back from a plain text file (``=== N`` then the translation);
* ``build``   write every translated notebook;
* ``check``   fail when a catalog lacks an entry, an entry is fuzzy (its English changed), code
  spans or math differ between English and translation, or a generated notebook is out of step.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import shutil
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

from .i18n import COURSE_LANGUAGES as LANGUAGES

_FENCE = re.compile(r"^\s*(```|~~~)")
_MARKER = re.compile(r"^\s*#+\s*(BEGIN|END)\s+(SOLUTION|HIDDEN TESTS)\b")
_SKIP_COMMENT = re.compile(r"^(#+\s*)?(YOUR CODE HERE|noqa\b|type:|pragma\b|!|%)", re.I)
_WORD = re.compile(r"[A-Za-z]{2,}")


def root() -> Path:
    from .course import repo_root

    return repo_root()


# --- units of one cell ---------------------------------------------------------------------

@dataclass
class Unit:
    """One translatable piece of a cell: its English text and how to put a translation back."""

    text: str
    kind: str            # "md" | "comment" | "trailing" | "docstring"
    first: int = 0       # first line (0-based) of the piece in the cell
    last: int = 0        # last line (inclusive)
    col: int = 0         # comment's column / indentation
    head: str = ""       # docstring: text before the content on its first line, tail after
    tail: str = ""


def _has_words(block: str) -> bool:
    """Prose somewhere outside code spans, math and HTML tags."""
    s = re.sub(r"`[^`]*`", " ", block)
    s = re.sub(r"\$\$.*?\$\$|\$[^$]*\$", " ", s, flags=re.S)
    s = re.sub(r"<[^>]*>", " ", s)
    s = re.sub(r"\]\([^)]*\)", "]", s)   # a link's target is not prose
    return bool(_WORD.search(s))


def markdown_units(src: str) -> list[Unit]:
    lines = src.split("\n")
    units, i, n = [], 0, len(lines)
    while i < n:
        if _FENCE.match(lines[i]):                       # a fenced block: copied as it is
            j = i + 1
            while j < n and not _FENCE.match(lines[j]):
                j += 1
            i = j + 1
            continue
        if not lines[i].strip():
            i += 1
            continue
        j = i
        while j + 1 < n and lines[j + 1].strip() and not _FENCE.match(lines[j + 1]):
            j += 1
        block = "\n".join(lines[i:j + 1])
        if _has_words(block):
            units.append(Unit(block, "md", i, j))
        i = j + 1
    return units


def _protected_lines(lines: list[str]) -> set[int]:
    """Lines inside solution / hidden-tests regions (markers included)."""
    out, inside = set(), False
    for k, line in enumerate(lines):
        m = _MARKER.match(line)
        if m and m.group(1) == "BEGIN":
            inside = True
        if inside or m:
            out.add(k)
        if m and m.group(1) == "END":
            inside = False
    return out


def _comment_text(tok: str) -> str | None:
    body = tok.lstrip("#")
    body = body[1:] if body.startswith(" ") else body
    if _MARKER.match(tok) or _SKIP_COMMENT.match(tok) or not _WORD.search(body):
        return None
    return body.rstrip()


def _python_lines(src: str) -> str:
    """Cell source with IPython magics and shell lines blanked, so tokenize and ast read it."""
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in src.split("\n"))


def code_units(src: str) -> list[Unit]:
    lines = src.split("\n")
    protected = _protected_lines(lines)
    py = _python_lines(src)
    comments: list[tuple[int, int, str, bool]] = []   # line, col, text, full-line
    try:
        for tok in tokenize.generate_tokens(io.StringIO(py).readline):
            if tok.type == tokenize.COMMENT:
                row, col = tok.start[0] - 1, tok.start[1]
                text = _comment_text(tok.string)
                if text is not None and row not in protected:
                    full = not lines[row][:col].strip()
                    comments.append((row, col, text, full))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        comments = []
    units: list[Unit] = []
    k = 0
    while k < len(comments):
        row, col, text, full = comments[k]
        if not full:
            units.append(Unit(text, "trailing", row, row, col))
            k += 1
            continue
        texts, last = [text], row
        while (k + 1 < len(comments) and comments[k + 1][3] and comments[k + 1][1] == col
               and comments[k + 1][0] == last + 1):
            k += 1
            last = comments[k][0]
            texts.append(comments[k][2])
        units.append(Unit("\n".join(texts), "comment", row, last, col))
        k += 1
    units.extend(_docstring_units(py, lines, protected))
    return sorted(units, key=lambda u: (u.first, u.col))


def _docstring_units(py: str, lines: list[str], protected: set[int]) -> list[Unit]:
    try:
        tree = ast.parse(py)
    except SyntaxError:
        return []
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        body = node.body
        if not (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            continue
        c = body[0].value
        first, last = c.lineno - 1, c.end_lineno - 1
        if first in protected or last in protected:
            continue
        literal = "\n".join(lines[first:last + 1])[c.col_offset:]
        literal = literal[: len(literal) - (len(lines[last]) - c.end_col_offset)]
        m = re.match(r'(?s)^([rRuU]?("""|\'\'\'))(\s*)(.*?)(\s*)\2$', literal)
        if not m or not _WORD.search(m.group(4)):
            continue
        head = lines[first][: c.col_offset] + m.group(1) + m.group(3)
        tail = m.group(5) + m.group(2) + lines[last][c.end_col_offset:]
        out.append(Unit(m.group(4), "docstring", first, last, c.col_offset, head, tail))
    return out


def cell_units(cell) -> list[Unit]:
    if cell.cell_type == "markdown":
        return markdown_units(cell.source)
    if cell.cell_type == "code":
        return code_units(cell.source)
    return []


def translate_cell_source(cell, lookup) -> str:
    """The cell's source with each unit replaced by ``lookup(unit)`` (None keeps the English)."""
    lines = cell.source.split("\n")
    # from the bottom up, so line numbers of earlier units stay right
    for u in sorted(cell_units(cell), key=lambda u: (u.first, u.col), reverse=True):
        t = lookup(u)
        if t is None or t == u.text:
            continue
        if u.kind == "md":
            lines[u.first:u.last + 1] = t.split("\n")
        elif u.kind == "trailing":
            lines[u.first] = lines[u.first][: u.col] + "# " + " ".join(t.split("\n"))
        elif u.kind == "comment":
            pad = lines[u.first][: u.col]
            lines[u.first:u.last + 1] = [pad + "# " + ln if ln else pad + "#" for ln in t.split("\n")]
        else:  # docstring: keep the quotes and what stood around the content
            new = (u.head + t + u.tail).split("\n")
            lines[u.first:u.last + 1] = new
    return "\n".join(lines)


# --- catalogs -----------------------------------------------------------------------------

@dataclass
class Pair:
    """One English notebook and its translated copy."""

    english: Path
    translated: Path
    domain: str
    assignment: str | None = None


def pairs(lang: str, base: Path | None = None) -> list[Pair]:
    base = base or root()
    out = []
    for nb in sorted((base / "course").glob("*.ipynb")):
        out.append(Pair(nb, base / "course" / lang / nb.name, nb.stem))
    for adir in sorted(p for p in (base / "source").iterdir() if p.is_dir()):
        if is_translation(adir.name):
            continue
        nbs = sorted(adir.glob("*.ipynb"))
        for nb in nbs:
            domain = adir.name if len(nbs) == 1 else f"{adir.name}.{nb.stem}"
            out.append(Pair(nb, base / "source" / f"{adir.name}-{lang}" / nb.name, domain,
                            adir.name))
    return out


def is_translation(assignment: str) -> bool:
    return any(assignment.endswith("-" + lang) for lang in LANGUAGES)


def translations_of(course: Path, assignment: str) -> list[str]:
    """The translated copies of ``assignment`` that ``course`` has in source/ (ps1 -> ps1-zh-CN)."""
    if is_translation(assignment):
        return []
    return [f"{assignment}-{lang}" for lang in LANGUAGES
            if (Path(course) / "source" / f"{assignment}-{lang}").is_dir()]


def catalog_path(lang: str, domain: str, base: Path | None = None) -> Path:
    return (base or root()) / "i18n" / lang / f"{domain}.po"


def _load(path: Path):
    import polib

    if path.exists():
        return polib.pofile(str(path), wrapwidth=0)
    po = polib.POFile(wrapwidth=0)
    return po


def english_entries(nb_path: Path) -> list[tuple[str, str, str]]:
    """(msgctxt, msgid, comment) of every unit of a notebook, in order, without repeats."""
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    seen, out = set(), []
    for cell in nb.cells:
        cid = cell.get("id") or ""
        for u in cell_units(cell):
            if (cid, u.text) not in seen:
                seen.add((cid, u.text))
                out.append((cid, u.text, f"{cell.cell_type} cell {cid}, {u.kind}"))
    return out


def update(lang: str, base: Path | None = None, only: str | None = None) -> dict[str, dict]:
    """Bring each catalog in step with its English notebook; returns counts per domain."""
    import polib

    stats = {}
    for pair in pairs(lang, base):
        if only and pair.domain != only:
            continue
        path = catalog_path(lang, pair.domain, base)
        old = _load(path)
        by_key = {(e.msgctxt or "", e.msgid): e for e in old if not e.obsolete}
        by_ctx: dict[str, list] = {}
        for e in old:
            if not e.obsolete:
                by_ctx.setdefault(e.msgctxt or "", []).append(e)
        wanted = english_entries(pair.english)
        keys = {(c, i) for c, i, _ in wanted}
        new = polib.POFile(wrapwidth=0)
        new.metadata = {
            "Project-Id-Version": f"autograd-course {pair.domain}",
            "Language": lang.replace("-", "_"),
            "MIME-Version": "1.0",
            "Content-Type": "text/plain; charset=UTF-8",
            "Content-Transfer-Encoding": "8bit",
        }
        added = fuzzy = 0
        for ctx, msgid, where in wanted:
            e = by_key.get((ctx, msgid))
            if e is not None:
                entry = polib.POEntry(msgctxt=ctx, msgid=msgid, msgstr=e.msgstr,
                                      flags=list(e.flags), previous_msgid=e.previous_msgid)
            else:
                # the English of this cell changed: keep the old translation to revise, fuzzy
                gone = [o for o in by_ctx.get(ctx, []) if (ctx, o.msgid) not in keys and o.msgstr]
                if gone:
                    entry = polib.POEntry(msgctxt=ctx, msgid=msgid, msgstr=gone[0].msgstr,
                                          flags=["fuzzy"], previous_msgid=gone[0].msgid)
                    by_ctx[ctx].remove(gone[0])
                    fuzzy += 1
                else:
                    entry = polib.POEntry(msgctxt=ctx, msgid=msgid, msgstr="")
                    added += 1
            entry.comment = where
            entry.occurrences = [(pair.english.relative_to(base or root()).as_posix(), "")]
            new.append(entry)
        path.parent.mkdir(parents=True, exist_ok=True)
        new.save(str(path))
        stats[pair.domain] = {"entries": len(new), "added": added, "fuzzy": fuzzy,
                              "translated": len([e for e in new if e.msgstr and not e.fuzzy])}
    return stats


# --- checks -----------------------------------------------------------------------------------

_SPAN = re.compile(r"`[^`\n]+`|\$\$.*?\$\$|\$[^$\n]+\$", re.S)


def protected_spans(text: str) -> list[str]:
    """Code spans and math: a translation keeps each of them exactly (a path may name the
    translated copy: ``release/ps1-zh-CN/ps1.ipynb`` stands for ``release/ps1/ps1.ipynb``)."""
    spans = _SPAN.findall(text)
    for lang in LANGUAGES:
        spans = [s.replace("-" + lang + "/", "/").replace(lang + "/", "") for s in spans]
    return sorted(spans)


def problems(lang: str, base: Path | None = None, build_check: bool = True) -> list[str]:
    """Everything wrong with ``lang``'s catalogs and generated notebooks (empty: all in step)."""
    base = base or root()
    out = []
    for pair in pairs(lang, base):
        path = catalog_path(lang, pair.domain, base)
        rel = path.relative_to(base).as_posix()
        if not path.exists():
            out.append(f"{rel}: missing (run: autograder i18n update)")
            continue
        po = _load(path)
        entries = {(e.msgctxt or "", e.msgid): e for e in po if not e.obsolete}
        ctx_ids: dict[str, list[str]] = {}
        for e in po:
            ctx_ids.setdefault(e.msgctxt or "", []).append(e.msgid)
        for ctx, msgid, _ in english_entries(pair.english):
            e = entries.get((ctx, msgid))
            short = msgid.split("\n")[0][:60]
            if e is None:
                why = ("stale: its English changed" if ctx_ids.get(ctx) else "no entry")
                out.append(f"{rel}: {why} for cell {ctx}: {short!r} (run: autograder i18n update)")
            elif e.fuzzy:
                out.append(f"{rel}: stale (fuzzy) entry for cell {ctx}: {short!r}")
            elif not e.msgstr.strip():
                out.append(f"{rel}: untranslated entry for cell {ctx}: {short!r}")
            elif protected_spans(msgid) != protected_spans(e.msgstr):
                out.append(f"{rel}: code spans or math differ in cell {ctx}: {short!r}")
        if build_check and pair.assignment:   # psN's other files, copied along
            src, dst = pair.english.parent, pair.translated.parent
            for f in _other_files(src):
                copy = dst / f.relative_to(src)
                if not copy.exists() or copy.read_bytes() != f.read_bytes():
                    out.append(f"{copy.relative_to(base).as_posix()}: out of step with "
                               f"{f.relative_to(base).as_posix()} (run: autograder i18n build)")
        if build_check:
            want = render(pair, lang, base)
            have = pair.translated.read_text(encoding="utf-8") if pair.translated.exists() else None
            if have != want:
                out.append(f"{pair.translated.relative_to(base).as_posix()}: out of step with "
                           f"{pair.english.relative_to(base).as_posix()} (run: autograder i18n build)")
    return out


def counts(lang: str, base: Path | None = None) -> dict[str, tuple[int, int]]:
    """domain -> (translated entries, entries)."""
    out = {}
    for pair in pairs(lang, base):
        path = catalog_path(lang, pair.domain, base)
        po = _load(path)
        live = [e for e in po if not e.obsolete]
        out[pair.domain] = (len([e for e in live if e.msgstr and not e.fuzzy]), len(live))
    return out


# --- generation ---------------------------------------------------------------------------------

def render(pair: Pair, lang: str, base: Path | None = None) -> str:
    """The translated notebook's file text (untranslated units stay English)."""
    po = _load(catalog_path(lang, pair.domain, base))
    table = {(e.msgctxt or "", e.msgid): e.msgstr for e in po
             if not e.obsolete and not e.fuzzy and e.msgstr.strip()}
    import nbformat

    nb = nbformat.read(pair.english, as_version=4)
    for cell in nb.cells:
        cid = cell.get("id") or ""
        cell.source = translate_cell_source(cell, lambda u, cid=cid: table.get((cid, u.text)))
        if cell.cell_type == "markdown":
            cell.source = _localize_fences(cell.source, lang)
    meta = nb.metadata.setdefault("autograder", {})
    meta["lang"] = lang
    meta["generated_from"] = pair.english.relative_to(base or root()).as_posix()
    return nbformat.writes(nb) + "\n"


def _localize_fences(src: str, lang: str) -> str:
    """Commands in a markdown cell's fenced blocks name the translated problem sets
    (``bin/course selfgrade release/ps1/ps1.ipynb`` -> ``release/ps1-zh-CN/ps1.ipynb``,
    ``../ps3/ps3.ipynb`` -> ``../ps3-zh-CN/ps3.ipynb``)."""
    lines, inside = src.split("\n"), False
    for k, line in enumerate(lines):
        if _FENCE.match(line):
            inside = not inside
        elif inside:
            line = re.sub(r"\brelease/(ps\d+)/", rf"release/\1-{lang}/", line)
            lines[k] = re.sub(r"(?<![\w-])\.\./(ps\d+)/", rf"../\1-{lang}/", line)
    return "\n".join(lines)


def _other_files(adir: Path) -> list[Path]:
    """An assignment's files besides its notebooks (data, ps5's engine)."""
    return [f for f in sorted(adir.rglob("*"))
            if f.is_file() and f.suffix != ".ipynb" and "__pycache__" not in f.parts
            and ".ipynb_checkpoints" not in f.parts]


def build(lang: str, base: Path | None = None, only: str | None = None) -> list[Path]:
    base = base or root()
    written = []
    for pair in pairs(lang, base):
        if only and pair.domain != only:
            continue
        pair.translated.parent.mkdir(parents=True, exist_ok=True)
        text = render(pair, lang, base)
        if not pair.translated.exists() or pair.translated.read_text(encoding="utf-8") != text:
            pair.translated.write_text(text, encoding="utf-8")
            written.append(pair.translated)
        if pair.assignment:   # the assignment's other files (data, engines) go along
            src = pair.english.parent
            for f in _other_files(src):
                dest = pair.translated.parent / f.relative_to(src)
                if not dest.exists() or dest.read_bytes() != f.read_bytes():
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(f, dest)
                    written.append(dest)
            for f in sorted(pair.translated.parent.rglob("*")):   # files psN no longer has
                if (f.is_file() and f.suffix != ".ipynb" and "__pycache__" not in f.parts
                        and not (src / f.relative_to(pair.translated.parent)).exists()):
                    f.unlink()
    return written


# --- translators' round trip ----------------------------------------------------------------------

def todo(lang: str, domain: str, base: Path | None = None, everything: bool = False) -> str:
    po = _load(catalog_path(lang, domain, base))
    out = []
    for k, e in enumerate(po):
        if e.obsolete or (not everything and e.msgstr.strip() and not e.fuzzy):
            continue
        out.append(f"=== {k}" + ("  (fuzzy; old English below, then old translation)" if e.fuzzy
                                   else ""))
        if e.fuzzy and e.previous_msgid:
            out.append("--- old English:\n" + e.previous_msgid + "\n--- old translation:\n"
                       + e.msgstr + "\n--- new English:")
        out.append(e.msgid)
    return "\n".join(out) + "\n"


def fill(lang: str, domain: str, text: str, base: Path | None = None) -> int:
    """Take translations ``=== N`` + text (N: the entry's number from ``todo``); returns count."""
    path = catalog_path(lang, domain, base)
    po = _load(path)
    entries = list(po)
    parts = re.split(r"(?m)^=== (\d+)[^\n]*\n", text)
    n = 0
    for k in range(1, len(parts), 2):
        idx, body = int(parts[k]), parts[k + 1].rstrip("\n")
        if not 0 <= idx < len(entries):
            raise SystemExit(f"entry {idx} does not exist in {path}")
        if not body.strip():
            continue
        e = entries[idx]
        e.msgstr = body
        if "fuzzy" in e.flags:
            e.flags.remove("fuzzy")
        e.previous_msgid = None
        n += 1
    po.save(str(path))
    return n


# --- command ----------------------------------------------------------------------------------

def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["update", "build", "check", "stats", "todo", "fill"])
    p.add_argument("domain", nargs="?", help="catalog name (todo/fill/update), e.g. ps1 or "
                   "01_tensor_vs_variable")
    p.add_argument("file", nargs="?", help="fill: the file of translations ('=== N' blocks)")
    p.add_argument("--lang", default="zh-CN", choices=LANGUAGES)
    p.add_argument("--all", action="store_true", help="todo: list translated entries too")


def _run(args) -> int:
    lang = args.lang
    if args.action == "update":
        for d, s in update(lang, only=args.domain).items():
            print(f"{d}: {s['entries']} entries, {s['translated']} translated, {s['added']} new, "
                  f"{s['fuzzy']} fuzzy")
        return 0
    if args.action == "build":
        for p in build(lang, only=args.domain):
            print(f"wrote {p.relative_to(root())}")
        return 0
    if args.action == "check":
        found = problems(lang)
        for line in found:
            print(line)
        print("catalogs and generated notebooks in step" if not found
              else f"{len(found)} problem(s)", file=sys.stderr)
        return 1 if found else 0
    if args.action == "stats":
        for d, (done, total) in counts(lang).items():
            print(f"{d:32s} {done:4d} / {total:4d}")
        return 0
    if not args.domain:
        raise SystemExit(f"i18n {args.action}: name the catalog, e.g. ps1")
    if args.action == "todo":
        sys.stdout.write(todo(lang, args.domain, everything=args.all))
        return 0
    if not args.file:
        raise SystemExit("i18n fill: give the file of translations")
    print(f"{fill(lang, args.domain, Path(args.file).read_text(encoding='utf-8'))} entries filled")
    return 0


def _register() -> None:
    from .cli import register

    register("i18n", "translated notebooks: update catalogs, build, check (docs/authoring.md)",
             _args, _run)


_register()
