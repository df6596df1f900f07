"""Feedback a student can act on: what failed and why, on top of the page.

nbgrader's feedback page starts with a list of links that all read "Test cell";
the check's message and its likely cause sit far down, under their cell. This
module puts a summary first, one row per graded cell in notebook order:

- the part it belongs to (the nearest markdown heading above it, or a title in
  the cell's metadata: ``metadata.autograder.title`` or ``metadata.title``) and
  the test's own name (the ``# Tests: ...`` comment that opens the cell, else
  its grade id);
- its points and whether it passed;
- for a failure, the first line of the failing check's message and its
  ``likely cause:`` line (:mod:`autograder.checks` writes both), and whether the
  check that failed is one of the hidden tests (their code is never shown: only
  the message, as in the cell's own output);
- a link to the cell, and the total.

The same rows feed three places, so that they always agree:

- the feedback page, through nbgrader's own ``GenerateFeedback`` with the
  course's config (``nbgrader_config.py``): :class:`FeedbackSummary` (a
  preprocessor, after ``GetGrades``) computes them, :class:`FeedbackExporter`
  (nbgrader's feedback template with the summary in place of its list of links,
  messages that wrap, and MathJax inlined from an installed package, so the page
  makes no network request) renders them. ``autograder grade`` and
  ``nbgrader generate_feedback`` both go through that config, so they write the
  same page;
- ``autograder selfgrade``'s terminal output (:func:`summary_text`);
- the instructor report's per-student section (:mod:`autograder.report`).

Everything is read from the autograded notebook (standard nbformat outputs:
``stream`` and ``error`` with ``ename``/``evalue``/``traceback``) and nbgrader's
scores, never from how the cells were run.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from nbconvert.exporters import HTMLExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution, is_task
from traitlets import Unicode, default

from .i18n import N_, _, cause_re, language, ngettext, notebook_language, tag, translator
from .i18n import using as using_language

log = logging.getLogger("autograder.feedback")

ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


CAUSE_RE = cause_re()  # English and the catalogs' labels (as shipped)
HEADING_RE = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
#: a heading's points at its end: "(3 points)", "(2 points, graded by hand)", "（2 分，由教师手动评分）"
POINTS_SUFFIX_RE = re.compile(r"\s*[(（]\s*\d+(?:\.\d+)?\s*(?:points?|分)\s*(?:[,，][^()（）]*)?[)）]\s*$",
                              re.I)
#: nbgrader's region markers, which in a markdown cell are headings to a markdown parser
NBGRADER_MARKERS = frozenset({"BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS",
                              "END HIDDEN TESTS"})
TESTS_COMMENT_RE = re.compile(r"^\s*#\s*tests?\s*:\s*(.+?)\s*$", re.I)
# where a traceback places the failing line of the cell: IPython 8 ("Cell In[12], line 14"),
# IPython 7 ("Input In [12], in <cell line: 14>()"), older ("<ipython-input-12-...> in <module>
# ... ----> 14"), or a plain "File "<cell>", line 14"
CELL_LINE_RES = (
    re.compile(r"Cell In\s*\[\d*\],\s*line (\d+)"),
    re.compile(r"<cell line:\s*(\d+)>"),
    re.compile(r"File \"<[^\"]*>\", line (\d+)"),
)
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
# the course's own check failures: their message says everything, the exception's name adds nothing
QUIET_ENAMES = {"AssertionError", "GradientMismatch"}


@dataclass
class Row:
    """One graded cell of the summary."""

    grade_id: str
    part: str            # the nearest heading (markdown inline text), or the metadata title
    label: str           # the test's own name ("" when the part says it all)
    score: float | None
    points: float
    manual: bool = False           # a written answer (graded by hand)
    message: str = ""              # first line of the first failing check's message
    cause: str = ""                # its likely cause (the first "likely cause:" line)
    more_causes: int = 0           # further "likely cause:" lines of that message
    has_hidden: bool = False       # the cell holds hidden tests
    hidden_failed: bool | None = None  # the failing check is a hidden one (None: cannot tell)

    @property
    def passed(self) -> bool:
        return (self.score or 0) >= self.points

    @property
    def status(self) -> str:
        if self.manual:
            return _("graded by hand")
        if self.passed:
            return _("passed")
        return _("partial credit") if (self.score or 0) > 0 else _("failed")

    @property
    def where(self) -> str:
        """Which tests failed, in words ("" when it passed or cannot be told)."""
        if self.manual or self.passed:
            return ""
        if self.hidden_failed:
            return _("a hidden test failed (its code is not shown, its message is)")
        if self.hidden_failed is False and self.has_hidden:
            return _("a visible test failed")
        if self.has_hidden:
            return _("a test failed (this cell also has hidden tests, whose code is not shown)")
        return ""

    @property
    def title(self) -> str:
        """Part and label as plain text (markdown marks removed)."""
        return plain(self.part + (f" · {self.label}" if self.label else ""))


@dataclass
class Summary:
    notebook: str
    rows: list[Row]
    score: float | None = None      # nbgrader's notebook score (late penalty taken off)
    max_score: float | None = None
    late_penalty: float = 0.0

    @property
    def total(self) -> float:
        return self.score if self.score is not None else sum(r.score or 0 for r in self.rows)

    @property
    def total_max(self) -> float:
        return self.max_score if self.max_score is not None else sum(r.points for r in self.rows)

    @property
    def failed(self) -> list[Row]:
        return [r for r in self.rows if not r.manual and not r.passed]


# ---------------------------------------------------------------------------- reading a notebook


def clean(text: str) -> str:
    return ANSI_RE.sub("", text or "")


CODE_SPAN_RE = re.compile(r"(`[^`]*`|\$[^$]+\$)")  # code spans, and maths (left to MathJax)
STRONG_RE = re.compile(r"(\*\*|__)(?!\s)(.+?)(?<!\s)\1")
EM_RE = re.compile(r"(?<![\w*])([*_])(?![\s*_])(.+?)(?<![\s*_])\1(?![\w*])")


def _inline(md: str, code, text, maths=lambda m: m) -> str:
    """Markdown inline text: ``code(span)`` for `code` spans, ``maths($..$)``, ``text(rest)``."""
    out = []
    for p in CODE_SPAN_RE.split(md):
        if len(p) >= 2 and p[0] == p[-1] == "`":
            out.append(code(p[1:-1]))
        elif len(p) >= 3 and p[0] == p[-1] == "$":
            out.append(maths(p))
        else:
            out.append(text(p))
    return "".join(out)


def plain(md: str) -> str:
    """Markdown inline text as plain text: `code`, *em* and **strong** marks dropped."""
    return _inline(md, lambda c: c, lambda t: EM_RE.sub(r"\2", STRONG_RE.sub(r"\2", t)))


def last_heading(markdown: str) -> str | None:
    """The last ATX heading of a markdown cell (outside code fences), its "(N points)" dropped;
    nbgrader's ``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines (in an instructor's written
    answer) are not headings."""
    found, fence = None, False
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
            continue
        m = None if fence else HEADING_RE.match(line)
        if m and m.group(2).strip() and m.group(2).strip() not in NBGRADER_MARKERS:
            found = POINTS_SUFFIX_RE.sub("", m.group(2).strip()) or m.group(2).strip()
    return found


def metadata_title(cell) -> str | None:
    meta = cell.get("metadata", {})
    own = meta.get("autograder") or {}
    title = (own.get("title") if isinstance(own, dict) else None) or meta.get("title")
    return title.strip() if isinstance(title, str) and title.strip() else None


def strip_hidden(source: str, note: str | None = None, begin: str = BEGIN_HIDDEN,
                 end: str = END_HIDDEN) -> str:
    """The visible part of a test cell's source: each hidden-test region (markers included)
    removed, or replaced by the line ``note`` at the indentation of its BEGIN marker.

    The one place that knows the regions' syntax: feedback (here and
    :class:`autograder.nbgrader_plugins.StripHiddenTests`) and the audit of edited cells
    (:mod:`autograder.sandbox`) use it.
    """
    out, hiding = [], False
    for line in source.splitlines():
        if begin in line:
            hiding = True
            if note is not None:
                out.append(line[: line.index(begin)] + note)
            continue
        if end in line:
            hiding = False
            continue
        if not hiding:
            out.append(line)
    return "\n".join(out)


def hidden_lines(source: str) -> set[int]:
    """1-based line numbers of ``source`` inside hidden-test regions (markers included)."""
    lines, hiding = set(), False
    for i, line in enumerate(source.splitlines(), 1):
        if BEGIN_HIDDEN in line:
            hiding = True
        if hiding:
            lines.add(i)
        if END_HIDDEN in line:
            hiding = False
    return lines


def test_label(cell, grade_id: str, notebook: str = "") -> str:
    """The test's own name: its opening ``# Tests: ...`` comment, else its grade id made short."""
    for line in strip_hidden(cell.get("source", "")).splitlines():
        if not line.strip():
            continue
        m = TESTS_COMMENT_RE.match(line)
        if m:
            # "part 4, backward() (with add only)": the part is the row's heading already
            return re.sub(r"^part\s+\d+\s*,\s*", "", m.group(1), flags=re.I)
        break
    words = grade_id.split("-")
    if words and (words[0] == notebook or re.fullmatch(r"[a-z]+\d+", words[0])):
        words = words[1:]
    words = [w for w in words if w.lower() not in ("test", "tests")]
    return "-".join(words) or grade_id


def failing_line(traceback: list[str]) -> int | None:
    """The line of the cell that the last exception came from, as its traceback tells it."""
    text = clean("\n".join(traceback or []))
    last = None
    for rx in CELL_LINE_RES:
        for m in rx.finditer(text):
            if last is None or m.start() > last[0]:
                last = (m.start(), int(m.group(1)))
    return last[1] if last else None


PRINT_RE = re.compile(r"""^\s*print\(\s*(["'])((?:(?!\1).)*)\1\s*\)\s*(?:#.*)?$""")


def visible_marker(source: str) -> str | None:
    """The text that the visible part of a test cell prints last, when it ends in ``print("...")``.

    If the cell failed after printing it, the visible checks had all passed: a hidden
    one failed; if it failed without printing it, a visible one did.
    """
    if BEGIN_HIDDEN not in source:
        return None
    last = None
    for line in source[: source.index(BEGIN_HIDDEN)].splitlines():
        if line.strip() and not line.strip().startswith("#"):
            last = line
    m = PRINT_RE.match(last or "")
    return m.group(2) if m and "\\" not in m.group(2) else None


def hidden_failed(source: str, outputs: list, line: int | None) -> bool | None:
    """Whether the check that failed is a hidden one (None: the outputs cannot tell)."""
    if BEGIN_HIDDEN not in source:
        return False
    if line is not None:  # the traceback says where
        return line in hidden_lines(source)
    marker = visible_marker(source)
    if marker is None:
        return None
    printed = "".join(o.get("text", "") for o in outputs or []
                      if o.get("output_type") == "stream" and o.get("name") == "stdout")
    return marker in clean(printed)


def first_failure(outputs: list, failed: bool) -> tuple[str, list[str], int | None]:
    """``(message line, likely causes, failing line)`` of a cell's outputs."""
    for out in outputs or []:
        if out.get("output_type") != "error":
            continue
        ename = out.get("ename") or "Error"
        evalue = clean(out.get("evalue", "")).strip()
        first = evalue.splitlines()[0].strip() if evalue else ""
        msg = first if (ename in QUIET_ENAMES and first) else (f"{ename}: {first}" if first else ename)
        return msg, cause_re().findall(evalue), failing_line(out.get("traceback", []))
    if failed:
        for out in outputs or []:
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = clean(out.get("text", "")).strip()
                line = text.splitlines()[0] if text else ""
                return (_("printed on stderr, which nbgrader counts as a failure: {line}").format(
                    line=line[:300]), [], None)
        return _("no message: the cell gave no error output"), [], None
    return "", [], None


def titles(nb) -> dict[str, tuple[str, str]]:
    """``{grade_id: (part, label)}`` for every graded cell of ``nb``."""
    out, heading = {}, ""
    name = (nb.get("metadata", {}).get("nbgrader") or {}).get("notebook", "")
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            h = last_heading(cell.source)
            if h:
                heading = h
        if not (is_grade(cell) or is_task(cell)):
            continue
        gid = cell.metadata["nbgrader"].get("grade_id", "")
        own = metadata_title(cell)
        if own:
            out[gid] = (own, "")
        elif cell.cell_type == "markdown" or is_solution(cell) or is_task(cell):
            h = last_heading(cell.source) if cell.cell_type == "markdown" else None
            out[gid] = (heading or h or _("Written answer"), _("written answer"))
        else:
            label = test_label(cell, gid, name)
            out[gid] = (heading or label, label if heading else "")
    return out


def summarize(nb, notebook: str = "", scores: dict | None = None) -> Summary:
    """The summary of an autograded notebook.

    Scores: ``scores[grade_id] = (score, points)`` (from the gradebook), else each
    cell's ``metadata.nbgrader.score``/``points`` (as nbgrader's ``GetGrades`` leaves them).
    """
    names = titles(nb)
    rows = []
    for cell in nb.cells:
        if not (is_grade(cell) or is_task(cell)):
            continue
        meta = cell.metadata["nbgrader"]
        gid = meta.get("grade_id", "")
        if scores is not None and gid in scores:
            score, points = scores[gid]
        else:
            score, points = meta.get("score"), meta.get("points", 0)
        points = float(points or 0)
        score = None if score is None else float(score)
        part, label = names.get(gid, (gid, ""))
        manual = cell.cell_type == "markdown" or is_solution(cell) or is_task(cell)
        row = Row(gid, part, label, score, points, manual=manual)
        if not manual:
            source = cell.get("source", "")
            row.has_hidden = BEGIN_HIDDEN in source
            msg, causes, line = first_failure(cell.get("outputs", []), not row.passed)
            row.message = msg
            row.cause = causes[0] if causes else ""
            row.more_causes = max(0, len(causes) - 1)
            if not row.passed and msg:
                row.hidden_failed = hidden_failed(source, cell.get("outputs", []), line)
        rows.append(row)
    return Summary(notebook, rows)


def summary_from_messages(notebook: str, cells, nb=None) -> Summary:
    """A summary from graded cells known only by their messages (``autograder selfgrade``).

    ``cells``: objects with ``grade_id, score, max_score, manual, messages`` (the
    ``ename: evalue`` of the cell's error); ``nb``: the assignment's notebook for the titles.
    """
    names = titles(nb) if nb is not None else {}
    hidden = {}
    if nb is not None:
        for cell in nb.cells:
            gid = (cell.metadata.get("nbgrader") or {}).get("grade_id")
            hidden[gid] = BEGIN_HIDDEN in cell.get("source", "")
    rows = []
    for c in cells:
        part, label = names.get(c.grade_id, (c.grade_id, ""))
        row = Row(c.grade_id, part, label, c.score, float(c.max_score or 0), manual=c.manual,
                  has_hidden=hidden.get(c.grade_id, False))
        if not c.manual and not row.passed:
            text = clean(c.messages[0]) if c.messages else ""
            ename, _sep, evalue = text.partition(": ")
            evalue = evalue if ename.isidentifier() else text
            first = evalue.strip().splitlines()[0] if evalue.strip() else ""
            row.message = (first if ename in QUIET_ENAMES and first else
                           text.strip().splitlines()[0] if text.strip() else
                           _("no message: the cell gave no error output"))
            causes = cause_re().findall(text)
            row.cause = causes[0] if causes else ""
            row.more_causes = max(0, len(causes) - 1)
        rows.append(row)
    return Summary(notebook, rows)


def assignment_notebook(assignment: str, name: str, root: Path | None = None):
    """The assignment's own notebook in ``source/`` (or ``release/``), for the parts' headings."""
    import nbformat

    from .course import repo_root

    for where in ("source", "release"):
        path = Path(root or repo_root()) / where / assignment / f"{name}.ipynb"
        if path.is_file():
            try:
                return nbformat.read(path, as_version=4)
            except Exception:  # noqa: BLE001  (no headings: the rows name their grade ids)
                return None
    return None


# ---------------------------------------------------------------------------- rendering


def fmt(x: float | None) -> str:
    return "–" if x is None else f"{round(float(x), 2):g}"


def inline_md(md: str) -> str:
    """Markdown inline text (a heading) as HTML: `code`, **strong**, *em*; maths left to MathJax."""
    def text(t: str) -> str:
        t = STRONG_RE.sub(r"<strong>\2</strong>", html.escape(t, quote=False))
        return EM_RE.sub(r"<em>\2</em>", t)

    return _inline(md, lambda c: f"<code>{html.escape(c)}</code>", text, html.escape)


def overview(s: Summary) -> str:
    tests = [r for r in s.rows if not r.manual]
    failed = s.failed
    if not tests:
        return _("No autograded tests.")
    if not failed:
        return _("All {tests} test cells passed.").format(tests=len(tests))
    lost = sum(r.points - (r.score or 0) for r in failed)
    return ngettext("{failed} of {tests} test cells did not pass ({lost} point lost).",
                    "{failed} of {tests} test cells did not pass ({lost} points lost).",
                    lost).format(failed=len(failed), tests=len(tests), lost=fmt(lost))


def summary_html(s: Summary) -> str:
    """The summary as HTML, for the top of the feedback page."""
    e = html.escape
    penalty = _("Late submission penalty: −{penalty}").format(penalty=fmt(s.late_penalty))
    late = f'<p class="ag-late">{e(penalty)}</p>' if s.late_penalty else ""
    total = _("{score} / {points} points").format(score=fmt(s.total), points=fmt(s.total_max))
    aria, links = _("Summary"), _("Each row links to its cell below.")
    L = [f'<section id="autograder-summary" class="ag-summary" aria-label="{e(aria)}"'
         f' lang="{e(tag(language()))}">',
         f'<h1 class="ag-title">{e(s.notebook)} '
         f'<span class="ag-total">{e(total)}</span></h1>',
         f'<p class="ag-overview">{e(overview(s))} {e(links)}</p>', late, '<ol class="ag-rows">']
    for r in s.rows:
        kind = "manual" if r.manual else "pass" if r.passed else \
            "partial" if (r.score or 0) > 0 else "fail"
        mark = {"pass": "✓", "fail": "✗", "partial": "◐", "manual": "✎"}[kind]
        label = f' <span class="ag-label">· {inline_md(r.label)}</span>' if r.label else ""
        L.append(f'<li class="ag-row ag-{kind}" data-grade-id="{e(r.grade_id)}">'
                 f'<a class="ag-link" href="#{e(r.grade_id)}">'
                 f'<span class="ag-mark" aria-hidden="true">{mark}</span>'
                 f'<span class="ag-name"><span class="ag-part">{inline_md(r.part)}</span>{label}</span>'
                 f'<span class="ag-score">{fmt(r.score)} / {fmt(r.points)}</span>'
                 f'<span class="ag-status">{e(r.status)}</span></a>')
        if r.message or r.where:
            L.append('<div class="ag-detail tex2jax_ignore">')
            if r.where:
                L.append(f'<span class="ag-where{" ag-hidden" if r.hidden_failed else ""}">'
                         f'{e(r.where)}</span>')
            if r.message:
                L.append(f'<code class="ag-message">{e(r.message)}</code>')
            if r.cause:
                n_more = _("(+{count} more in the cell)").format(count=r.more_causes)
                more = f' <span class="ag-more">{e(n_more)}</span>' if r.more_causes else ""
                L.append(f'<span class="ag-cause"><strong>{e(cause_label())}</strong> '
                         f'{e(r.cause)}{more}</span>')
            L.append("</div>")
        L.append("</li>")
    L += ["</ol>", "</section>"]
    return "\n".join(x for x in L if x)


def summary_text(s: Summary, indent: str = "  ", width: int = 100) -> list[str]:
    """The summary as terminal lines: one per cell, then the failure's message and cause."""
    import textwrap

    L = []
    for r in s.rows:
        if r.manual:
            by_hand = _("by hand")
            L.append(f"{indent}{by_hand:<7} {'-' if r.score is None else fmt(r.score):>4} / "
                     f"{fmt(r.points):<3} {r.title}  [{r.grade_id}]")
            continue
        mark = _("ok") if r.passed else _("FAILED") if (r.score or 0) <= 0 else _("PARTIAL")
        L.append(f"{indent}{mark:<7} {fmt(r.score or 0):>4} / {fmt(r.points):<3} {r.title}"
                 f"  [{r.grade_id}]")
        pad = indent + " " * 18
        for text in ([r.where] if r.where else []) + ([r.message] if r.message else []) + \
                ([_("likely cause: {hint}").format(hint=r.cause) + (
                    _(" (+{count} more)").format(count=r.more_causes) if r.more_causes else "")]
                 if r.cause else []):
            L += textwrap.wrap(text, width=max(40, width - len(pad)), initial_indent=pad,
                               subsequent_indent=pad + "  ", break_long_words=True,
                               break_on_hyphens=False)
    return L


# ---------------------------------------------------------------------------- nbgrader / nbconvert


class FeedbackSummary(NbGraderPreprocessor):
    """Compute the summary of the notebook being turned into feedback (after ``GetGrades``).

    Runs before ``HideHiddenTests``: it needs the hidden regions of the test
    cells (to tell whether a hidden check failed) and their full tracebacks (the
    failing line). It keeps only the message's first line and likely cause.
    """

    def preprocess(self, nb, resources):
        nbg = resources.get("nbgrader") or {}
        lang = notebook_language(nb)  # the page speaks the language of the student's notebook
        with using_language(lang):
            s = summarize(nb, notebook=nbg.get("notebook", ""))
            if "score" in nbg:
                s.score, s.max_score = nbg.get("score"), nbg.get("max_score")
                s.late_penalty = nbg.get("late_penalty") or 0.0
            resources["autograder_summary"] = s
            resources["autograder_summary_html"] = summary_html(s)
        resources["autograder_lang"] = lang
        return nb, resources


def cause_label() -> str:
    """``likely cause:``, the label of a hint, in the current language."""
    return _("likely cause: {hint}").split("{hint}")[0].strip()


@lru_cache(maxsize=1)
def mathjax_script() -> str:
    """MathJax 3 (TeX input, SVG output, every TeX extension) from the installed package.

    The ``django-static-mathjax`` distribution ships MathJax's ``es5`` build as
    package data (its ``mathjax`` package; no Django needed). The combined
    ``tex-svg-full.js`` needs no fonts and loads nothing more, so inlined it
    renders maths with no network and no file beside the page (nbgrader's
    ``release_feedback`` copies only the HTML file to students).
    """
    import importlib.util

    spec = importlib.util.find_spec("mathjax")
    for where in (spec.submodule_search_locations or []) if spec else []:
        path = Path(where) / "static" / "mathjax" / "es5" / "tex-svg-full.js"
        if path.is_file():
            return path.read_text(encoding="utf-8").replace("</script", "<\\/script")
    return ""


MATHJAX_CONFIG = r"""window.MathJax = {
  tex: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
        processEscapes: true, processEnvironments: true, tags: 'ams'},
  svg: {fontCache: 'global'},
  options: {ignoreHtmlClass: 'tex2jax_ignore', processHtmlClass: 'tex2jax_process',
            menuOptions: {settings: {assistiveMml: true}}},
  loader: {load: []},
  startup: {typeset: true}
};"""


def mathjax_html() -> str:
    js = mathjax_script()
    if not js:
        log.warning("MathJax is not installed (pip install django-static-mathjax): "
                    "feedback pages show maths as TeX source")
        return "<!-- MathJax not installed: maths shown as TeX source -->"
    return (f'<script type="text/javascript">\n{MATHJAX_CONFIG}\n</script>\n'
            f'<script type="text/javascript" id="MathJax-script">\n{js}\n</script>')


# nbconvert's classic template imports its ``mathjax()`` macro (a script from a CDN) from
# mathjax.html.j2; this one, found first, inlines the installed MathJax instead.
MATHJAX_TEMPLATE = """{%- macro mathjax(url=None) -%}
{{ autograder_mathjax() }}
{%- endmacro %}
"""

# nbgrader's feedback template with the summary in place of its list of "Test cell" links
FEEDBACK_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{%- block header -%}
{%- set extra -%}
<meta name="viewport" content="width=device-width, initial-scale=1" />
<style type="text/css">
/* messages wrap: no output line is cut off or needs scrolling sideways */
pre, div.output_area pre, div.output_text pre, .highlight pre {
  white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word; overflow-x: visible;
}
div.output_subarea { max-width: 100%; min-width: 0; overflow-x: visible; }
div.inner_cell, div.output_area, div.input_area { min-width: 0; }
div.output_area img, div.output_area svg { max-width: 100%; height: auto; }
/* a wide table or formula scrolls in its own box: the page never gets wider than the screen */
.rendered_html table, div.text_cell_render table { display: block; max-width: 100%;
  overflow-x: auto; }
mjx-container[display="true"] { display: block; max-width: 100%; overflow-x: auto;
  overflow-y: hidden; }
.ag-summary { margin: 0 0 0.5em 0; }
.ag-title { font-size: 1.6em; margin: 0.2em 0 0.3em 0; }
.ag-total { float: right; font-weight: 600; }
.ag-overview { margin: 0 0 0.6em 0; color: #333; }
.ag-late { color: #d2413a; }
.ag-rows { list-style: none; margin: 0; padding: 0; border-top: 1px solid #ddd; }
.ag-row { border-bottom: 1px solid #ddd; padding: 0; }
.ag-link { display: grid; grid-template-columns: 1.6em minmax(0, 1fr) auto 8.5em;
  gap: 0 0.6em; align-items: baseline; padding: 0.3em 0.4em; color: inherit; }
.ag-link:hover, .ag-link:focus { background: #f2f6fb; text-decoration: none; color: inherit; }
.ag-mark { font-weight: bold; text-align: center; }
.ag-pass .ag-mark { color: #2e7d32; }
.ag-fail .ag-mark { color: #c62828; }
.ag-partial .ag-mark { color: #b26a00; }
.ag-manual .ag-mark { color: #555; }
.ag-name { overflow-wrap: anywhere; }
.ag-label { color: #444; }
.ag-score { white-space: nowrap; font-variant-numeric: tabular-nums; text-align: right; }
.ag-status { white-space: nowrap; color: #555; }
.ag-fail, .ag-partial { background: #fdf3f2; }
.ag-fail .ag-status, .ag-partial .ag-status { color: #c62828; font-weight: 600; }
.ag-detail { padding: 0 0.6em 0.5em calc(2.2em + 0.4em); display: flex; flex-direction: column;
  gap: 0.15em; overflow-wrap: anywhere; }
.ag-where { font-size: 0.9em; color: #555; }
.ag-where.ag-hidden { color: #7a3e00; font-weight: 600; }
.ag-part code, .ag-label code { color: inherit; background: #eef1f4; padding: 0 3px; font-size: 90%; }
.ag-message { white-space: pre-wrap; overflow-wrap: anywhere; background: transparent;
  color: #222; padding: 0; }
.ag-cause { overflow-wrap: anywhere; }
.ag-more { color: #555; }
@media (max-width: 600px) {
  .container { padding-left: 6px; padding-right: 6px; }
  .ag-link { grid-template-columns: 1.4em minmax(0, 1fr) auto; }
  .ag-status { grid-column: 2 / 4; }
  .ag-pass .ag-status { display: none; }
  .ag-detail { padding-left: 0.6em; }
  .ag-total { float: none; display: block; }
  div.prompt { min-width: 0; }
  div.input, div.output_area { flex-direction: column; }
}
</style>
{%- endset -%}
{%- set lang = ag_tag(resources.autograder_lang) -%}
{{ super() | replace("</head>", extra ~ "\n</head>")
           | replace("<html>", '<html lang="' ~ lang ~ '">' if lang != "en" else "<html>") }}
{%- endblock header -%}

{#- nbgrader's per-cell headings and footers, in the notebook's language -#}
{% macro ag_score(cell) -%}
  <span class="pull-right">
      {{ ag_("Score: {score} / {points}", resources.autograder_lang).format(
           score=cell.metadata.nbgrader.score | float | round(2),
           points=cell.metadata.nbgrader.points | float | round(2)) }} <a href="#top">{{ ag_("(Top)", resources.autograder_lang) }}</a>
  </span>
{%- endmacro %}

{% macro ag_heading(cell) -%}
{%- set L = resources.autograder_lang -%}
{%- if cell.metadata.nbgrader.solution or cell.metadata.nbgrader.task -%}
<a name="comment-{{ cell.metadata.nbgrader.grade_id }}"></a>
{%- endif -%}
{%- if cell.metadata.nbgrader.grade -%}
<a name="{{ cell.metadata.nbgrader.grade_id }}"></a>
{%- endif -%}
<div class="panel-heading">
{%- if cell.metadata.nbgrader.solution -%}
  <span class="nbgrader-label">{{ ag_("Student's answer", L) }}</span>
  {%- if cell.metadata.nbgrader.grade  -%}
  {{ ag_score(cell) }}
  {%- else -%}
  <span class="pull-right"><a href="#top">{{ ag_("(Top)", L) }}</a></span>
  {%- endif -%}
{%- elif cell.metadata.nbgrader.task -%}
  <span class="nbgrader-label">{{ ag_("Student's task", L) }}</span>
  {{ ag_score(cell) }}
{%- elif cell.metadata.nbgrader.grade -%}
  <span class="nbgrader-label">{{ ag_("Grade cell:", L) }} <code>{{ cell.metadata.nbgrader.grade_id }}</code></span>
  {{ ag_score(cell) }}
{%- endif -%}
</div>
{%- endmacro %}

{% macro ag_footer(cell) -%}
{%- if (cell.metadata.nbgrader.solution and cell.metadata.nbgrader.comment) or (cell.metadata.nbgrader.task and cell.metadata.nbgrader.comment) -%}
<div class="panel-footer">
  <div>
    <b>{{ ag_("Comments:", resources.autograder_lang) }}</b> {{ cell.metadata.nbgrader.comment | markdown2html | ag_clean_html | strip_files_prefix }}
  </div>
</div>
{%- endif -%}
{%- endmacro %}

{#- a cell's rendered content: in nbgrader's panel (its score and heading) for an answer or
    test cell, else plain; ``area``: the class of the div that holds it -#}
{% macro ag_cell(cell, graded, area) -%}
  {%- if graded -%}
  <div class="panel panel-primary nbgrader_cell">
    {{ ag_heading(cell) }}
    <div class="panel-body">
      <div class="{{ area }}">
        {{ caller() }}
      </div>
    </div>
    {{ ag_footer(cell) }}
  </div>
  {%- else -%}
  <div class="inner_cell">
    <div class="{{ area }}">
      {{ caller() }}
    </div>
  </div>
  {%- endif -%}
{%- endmacro %}

{% block markdowncell scoped %}
<div class="cell border-box-sizing text_cell rendered">
  {{ self.empty_in_prompt() }}
  {%- set nbg = cell.metadata.nbgrader if 'nbgrader' in cell.metadata else {} -%}
  {%- call ag_cell(cell, nbg.solution or nbg.grade or nbg.task,
                   "text_cell_render border-box-sizing rendered_html") -%}
    {{ cell.source  | markdown2html | ag_clean_html | strip_files_prefix }}
  {%- endcall %}
</div>
{% endblock markdowncell %}

{% block input %}
  {%- set nbg = cell.metadata.nbgrader if 'nbgrader' in cell.metadata else {} -%}
  {%- call ag_cell(cell, nbg.solution or nbg.grade, "input_area") -%}
    {{ cell.source | highlight_code(metadata=cell.metadata) }}
  {%- endcall %}
{% endblock input %}

{% block body %}
{%- if resources.autograder_summary_html -%}
<body>
  <a name="top"></a>
  <div class="container">
    <div class="panel panel-default">
      <div class="panel-heading">
        {{ resources.autograder_summary_html }}
      </div>
      <div class="panel-body">
        <div id="notebook" class="border-box-sizing">
          <div class="container" id="notebook-container">
            {{ super.super() }}
          </div>
        </div>
      </div>
    </div>
  </div>
</body>
{%- else -%}
{{ super() }}
{%- endif -%}
{%- endblock body %}
"""


class FeedbackExporter(HTMLExporter):
    """nbgrader's feedback page with the summary on top, wrapping messages and offline maths.

    Plugged in by ``c.GenerateFeedback.exporter_class`` in the course's
    ``nbgrader_config.py``; the summary comes from :class:`FeedbackSummary` in
    the resources (without it, the page is nbgrader's own, with offline maths).
    """

    raw_template = Unicode(FEEDBACK_TEMPLATE).tag(affects_environment=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._highlighted: dict = {}  # pygments' results by source (:meth:`_remembered`)

    @default("template_name")
    def _template_name_default(self):
        return "feedback"

    @default("extra_loaders")
    def _extra_loaders_default(self):
        from jinja2 import DictLoader

        return [DictLoader({"mathjax.html.j2": MATHJAX_TEMPLATE})]

    def from_notebook_node(self, nb, resources=None, **kw):
        """HTMLExporter's page, with its accessibility pass done without re-parsing the page.

        nbconvert's ``HTMLExporter.from_notebook_node`` parses the rendered page with
        BeautifulSoup to give ``alt`` text to images that have none and ``tabindex`` to
        JupyterLab's cells, then re-serializes it: 0.5-0.7 s of a ps3 feedback page's ~1.2 s,
        nearly all of it spent on the 2.3 MB of inlined MathJax. The feedback template is
        nbconvert's classic one (no ``jp-`` cells), so only the ``alt`` text applies; it is
        added here to every ``<img>`` tag outside scripts, styles and comments, as nbconvert
        adds it. A page with JupyterLab's cells goes through nbconvert's own pass.
        """
        from nbconvert.exporters.templateexporter import TemplateExporter
        from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

        # HTMLExporter.from_notebook_node's filters, then the template (its parent's method)
        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        highlight_code = self.filters.get(
            "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self))
        resources = self._init_resources(resources)
        self.register_filter("highlight_code", self._remembered(highlight_code))
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources))
        page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        if "jp-Notebook" in page or "jp-Cell" in page:
            return super().from_notebook_node(nb, resources, **kw)
        page, missing = add_missing_alt(page)
        if missing:
            self.log.warning("Alternative text is missing on %s image(s).", missing)
        return page, resources

    def _remembered(self, highlight):
        """``highlight`` (pygments, about half of a page's rendering), remembering its last few
        thousand results: every student's page shows the same test and set-up cells."""
        if not isinstance(highlight, Highlight2HTML):
            return highlight
        cache = self._highlighted

        def highlighted(source, language=None, metadata=None):
            key = (source, language or highlight.pygments_lexer,
                   metadata.get("magics_language") if metadata else None,  # all pygments reads
                   repr(sorted(highlight.extra_formatter_options.items())))
            if key not in cache:
                if len(cache) >= 4096:
                    cache.clear()
                cache[key] = highlight(source, language, metadata)
            return cache[key]

        return highlighted

    def _create_environment(self):
        env = super()._create_environment()
        env.filters["ag_clean_html"] = clean_markdown_html
        env.globals["autograder_mathjax"] = mathjax_html
        env.globals["ag_"] = template_gettext
        env.globals["ag_tag"] = lambda lang: tag(lang if isinstance(lang, str) else language())
        return env


#: what a markdown cell's HTML may hold on a feedback page: what markdown itself makes
#: (the course's own cells use no raw HTML), never a script, a style, a frame or a handler
MARKDOWN_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s",
    "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"})
MARKDOWN_ATTRIBUTES = {"a": ["href", "title", "class"], "img": ["src", "alt", "title"],
                       "th": ["align"], "td": ["align"], "span": ["class"], "div": ["class"],
                       "pre": ["class"], "code": ["class"],
                       **{f"h{k}": ["id"] for k in range(1, 7)}}


def clean_markdown_html(html: str) -> str:
    """A markdown cell's HTML (``markdown2html``) for a feedback page, its raw HTML escaped.

    nbconvert's ``sanitize_html`` cleans cell outputs; markdown cells are the template's, and
    a student writes some of them (written answers, cells of their own): without this a
    ``<script>`` or a ``<style>`` that hides the failing rows of the summary ran in the page
    of whoever opened it.
    """
    import bleach

    return bleach.clean(str(html), tags=MARKDOWN_TAGS, attributes=MARKDOWN_ATTRIBUTES,
                        protocols=["http", "https", "mailto"], strip=False)


NO_ALT = "No description has been provided for this image"  # nbconvert's words
# what an HTML parser reads as raw text or no markup at all: no <img> tag inside is a tag
_OPAQUE_RE = re.compile(r"<!--.*?-->|<(script|style)\b[^>]*>.*?</\1\s*>", re.S | re.I)
_IMG_RE = re.compile(r"<img\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.I)
_ALT_RE = re.compile(r"(?:^|\s)alt(?:\s*=|\s|/?$)", re.I)


def add_missing_alt(page: str) -> tuple[str, int]:
    """``page`` with nbconvert's ``alt`` text given to each ``<img>`` tag that has no ``alt``
    attribute, and how many there were (scripts, styles and comments left as they are)."""
    missing = 0

    def img(m: re.Match) -> str:
        nonlocal missing
        names = re.sub(r"\"[^\"]*\"|'[^']*'", "", m.group(1))  # attribute names, values dropped
        if _ALT_RE.search(names):
            return m.group(0)
        missing += 1
        attrs = m.group(1)
        end = "/" if attrs.rstrip().endswith("/") else ""
        attrs = attrs.rstrip()[:-1] if end else attrs
        return f'<img{attrs.rstrip()} alt="{NO_ALT}"{" " + end if end else ""}>'

    out, at = [], 0
    for m in _OPAQUE_RE.finditer(page):
        out.append(_IMG_RE.sub(img, page[at:m.start()]))
        out.append(m.group(0))
        at = m.end()
    out.append(_IMG_RE.sub(img, page[at:]))
    return "".join(out), missing


# the words of nbgrader's per-cell headings, which FEEDBACK_TEMPLATE translates (ag_(...))
TEMPLATE_MESSAGES = (N_("Score: {score} / {points}"), N_("(Top)"), N_("Student's answer"),
                     N_("Student's task"), N_("Grade cell:"), N_("Comments:"))


def template_gettext(message: str, lang=None) -> str:
    """``message`` in ``lang`` (the notebook's, from :class:`FeedbackSummary`), else the current."""
    return translator(lang if isinstance(lang, str) and lang else None).gettext(message)
