"""The course in other languages from one source (autograder/translate.py, docs/authoring.md).

Catalogs are complete and current, generated notebooks are in step and differ from the English
only in prose (their releases are checked with every other release, in
tests/test_assignments.py), and a translated assignment goes through real nbgrader like the
English one:
graded in the same batch and gradebook, the solution at full marks, the release at 0, feedback
in the notebook's language without hidden tests.
"""

from __future__ import annotations

import csv
import html as H
import io
import re
import subprocess
import sys
import tokenize

import nbformat
import pytest
from conftest import ROOT, hidden_lines, load_bugs

from autograder import course as C
from autograder import translate as T

LANG = "zh-CN"
PAIRS = T.pairs(LANG)


# ---------------------------------------------------------------------------- the machinery

def _cell(kind, source, cid="c1"):
    make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
    cell = make(source)
    cell.id = cid
    return cell


def test_markdown_units_skip_code_math_and_markup():
    src = ("# Title\n\nSome *prose* with `code` and $x^2$.\n\n```python\nx = 1  # not prose\n```"
           "\n\n$$\\frac{1}{2}$$\n\n<details>\n<summary>Model answer</summary>\n\n</details>")
    units = [u.text for u in T.markdown_units(src)]
    assert units == ["# Title", "Some *prose* with `code` and $x^2$.",
                     "<details>\n<summary>Model answer</summary>"]


def test_code_units_comments_docstrings_but_not_solutions_or_markers():
    src = ('def f(x):\n    """Square it, then halve it."""\n'
           "    # why we halve:\n    # the mean of two\n    y = x * x  # the square\n"
           "    ### BEGIN SOLUTION\n    # secret reasoning\n    return y / 2\n    ### END SOLUTION\n"
           "# YOUR CODE HERE\nz = 1  # noqa: F841\n%matplotlib inline\n")
    units = [(u.kind, u.text) for u in T.code_units(src)]
    assert units == [("docstring", "Square it, then halve it."),
                     ("comment", "why we halve:\nthe mean of two"),
                     ("trailing", "the square")]


def _code_only(src: str) -> list[tuple[int, str]]:
    """The cell's tokens without comments and docstrings: what must never change."""
    py = T._python_lines(src)
    out, prev = [], None
    for tok in tokenize.generate_tokens(io.StringIO(py).readline):
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                        tokenize.DEDENT):
            continue
        if tok.type == tokenize.STRING and prev in (None, ":"):
            continue   # a docstring (first statement after a colon or of the cell)
        out.append((tok.type, tok.string))
        prev = tok.string
    return out


def test_translating_a_cell_changes_prose_only():
    src = ('def f(x):\n    """Square it."""\n    # step one\n    # step two\n'
           '    return x * x  # done\n')
    cell = _cell("code", src)
    zh = {"Square it.": "求平方。", "step one\nstep two": "第一步\n第二步", "done": "完成"}
    out = T.translate_cell_source(cell, lambda u: zh.get(u.text))
    assert out == ('def f(x):\n    """求平方。"""\n    # 第一步\n    # 第二步\n'
                   '    return x * x  # 完成\n')
    assert _code_only(out) == _code_only(src)
    md = _cell("markdown", "## Heading\n\nText `x.grad` here.\n")
    out = T.translate_cell_source(md, lambda u: {"## Heading": "## 标题"}.get(u.text))
    assert out == "## 标题\n\nText `x.grad` here.\n"


def _mini_course(tmp_path, text):
    (tmp_path / "course").mkdir()
    (tmp_path / "source" / "psx").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [_cell("markdown", text, "intro")]
    nbformat.write(nb, tmp_path / "course" / "01_x.ipynb")
    nbformat.write(nb, tmp_path / "source" / "psx" / "psx.ipynb")
    (tmp_path / "source" / "psx" / "data.txt").write_text("data\n")
    return tmp_path


def test_catalog_round_trip_missing_then_stale(tmp_path):
    base = _mini_course(tmp_path, "Hello `x`.\n\nSecond paragraph.")
    T.update(LANG, base)
    found = T.problems(LANG, base)
    assert any("untranslated" in p and "Hello" in p for p in found), found
    entries = T.todo(LANG, "01_x", base)
    nums = re.findall(r"(?m)^=== (\d+)", entries)
    assert len(nums) == 2
    T.fill(LANG, "01_x", f"=== {nums[0]}\n你好 `x`。\n=== {nums[1]}\n第二段。\n", base)
    T.fill(LANG, "psx", f"=== {nums[0]}\n你好 `y`。\n=== {nums[1]}\n第二段。\n", base)
    found = T.problems(LANG, base)
    assert any("code spans or math differ" in p and "psx" in p for p in found), found
    T.fill(LANG, "psx", f"=== {nums[0]}\n你好 `x`。\n", base)
    assert any("out of step" in p for p in T.problems(LANG, base))
    T.build(LANG, base)
    assert T.problems(LANG, base) == []
    out = nbformat.read(base / "course" / LANG / "01_x.ipynb", as_version=4)
    assert out.cells[0].source == "你好 `x`。\n\n第二段。"
    assert out.metadata["autograder"]["lang"] == LANG
    assert (base / "source" / f"psx-{LANG}" / "data.txt").read_text() == "data\n"
    # the English changes: the entry is stale until a translator revises it
    nb = nbformat.read(base / "course" / "01_x.ipynb", as_version=4)
    nb.cells[0].source = "Hello `x`, again.\n\nSecond paragraph."
    nbformat.write(nb, base / "course" / "01_x.ipynb")
    assert any("stale: its English changed" in p for p in T.problems(LANG, base))
    stats = T.update(LANG, base)
    assert stats["01_x"]["fuzzy"] == 1
    assert any("stale (fuzzy)" in p for p in T.problems(LANG, base))
    assert "你好 `x`。" in T.todo(LANG, "01_x", base)   # the old translation, to revise


# ---------------------------------------------------------------------------- the real course

def test_every_catalog_is_complete_current_and_built():
    found = T.problems(LANG)
    assert not found, "\n".join(found[:40]) + f"\n... {len(found)} problem(s) in all"


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p.domain)
def test_translated_notebook_is_the_english_one_in_other_words(pair):
    en = nbformat.read(pair.english, as_version=4)
    zh = nbformat.read(pair.translated, as_version=4)
    assert zh.metadata["autograder"]["lang"] == LANG
    assert [c.get("id") for c in zh.cells] == [c.get("id") for c in en.cells]
    for a, b in zip(en.cells, zh.cells):
        assert a.cell_type == b.cell_type
        assert a.metadata == b.metadata, f"cell {a.get('id')}: metadata differs"
        if a.cell_type == "code":
            assert _code_only(b.source) == _code_only(a.source), \
                f"{pair.translated.name} cell {a.get('id')}: code differs from the English"
    assert sum(a.source != b.source for a, b in zip(en.cells, zh.cells)) > len(en.cells) // 3


@pytest.mark.slow
def test_zh_ps1_graded_with_the_english_in_one_gradebook(tmp_path):
    """`autograder grade ps1` grades ps1 and ps1-zh-CN submissions together: zh solution full
    marks, zh release 0, a zh bug's feedback in Chinese with its likely cause and no hidden test,
    one CSV with both languages."""
    en, zh = "ps1", f"ps1-{LANG}"
    course = C.copy_course(tmp_path / "course", en, zh, root=ROOT)
    for a in (en, zh):
        C.nbgrader(course, "generate_assignment", a, "--force")
    C.write_solution_submissions(course, en, {"alice": {}})
    bug = next(b for b in load_bugs(en) if b.edits)
    C.write_solution_submissions(course, zh, {"li": {}, "wang": bug.edits})
    rel = course / "release" / zh
    C.write_submission(course, zh, "zhao", {p.name: p for p in rel.iterdir() if p.is_file()})
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", en, "--course",
                           str(course), "--no-report", "--jobs", "2"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    en_scores, zh_scores = C.gradebook_scores(course, en), C.gradebook_scores(course, zh)
    full = en_scores["alice"]["auto_score"]
    assert full > 0 and zh_scores["li"]["auto_score"] == pytest.approx(full)
    assert zh_scores["zhao"]["auto_score"] == 0
    assert zh_scores["wang"]["auto_score"] < full
    # the same cells and points in both languages
    assert {k: v[1] for k, v in zh_scores["li"]["cells"].items()} == \
        {k: v[1] for k, v in en_scores["alice"]["cells"].items()}
    page = "\n".join(p.read_text(encoding="utf-8") for p in
                     sorted((course / "feedback" / "wang" / zh).glob("*.html")))
    text = H.unescape(re.sub(r"<[^>]+>", "", page))
    assert re.search(r"[\u4e00-\u9fff]{4}", text), "zh feedback has no Chinese"
    assert "可能原因" in text, "zh feedback does not give the likely cause in Chinese"
    hidden = hidden_lines(ROOT / "source" / zh / "ps1.ipynb", course / "release" / zh / "ps1.ipynb")
    assert hidden and not [ln for ln in hidden if ln in text], "zh feedback shows hidden tests"
    rows = list(csv.DictReader(open(course / "reports" / en / "grades-all-languages.csv")))
    assert {(r["assignment"], r["student_id"]) for r in rows} >= {
        (en, "alice"), (zh, "li"), (zh, "wang"), (zh, "zhao")}
