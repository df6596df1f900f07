"""The learner's messages in Simplified Chinese: catalogs complete and current, real checks in zh.

- the template ``autograder/locale/autograder.pot`` is what Babel extracts from the code now,
  and every message the code marks (``_("...")`` anywhere, f-strings included) is in it;
- every entry has a zh-CN translation that is not fuzzy, with the English's placeholders;
- a real check (torch computes the gradient, the engine or the student's numbers are wrong)
  speaks Chinese under ``AUTOGRADER_LANG=zh-CN``, English by default, with the same numbers;
- the feedback page of a notebook whose metadata says ``"lang": "zh-CN"`` is in Chinese
  (summary, nbgrader's per-cell headings, likely cause), through nbconvert's real exporter.
"""

from __future__ import annotations

import ast
import re
import string
import subprocess
import sys
from pathlib import Path

import numpy as np
import polib
import pytest
import torch
from conftest import ROOT
from tiny_engine import Tiny

from autograder import i18n
from autograder.checks import GradientMismatch, assert_grad_close, check_gradients

PO = i18n.LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
ZH = i18n.translator("zh-CN")
GETTEXT_NAMES = {"_", "gettext", "ngettext", "N_"}


@pytest.fixture(autouse=True)
def _no_language_from_outside(monkeypatch):
    """Each test chooses its language itself: not from the shell or the Jupyter kernel it runs in."""
    monkeypatch.delenv("AUTOGRADER_LANG", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    i18n.set_language(None)
    yield
    i18n.set_language(None)


def _ids(entries) -> set[tuple[str, str]]:
    return {(e.msgid, e.msgid_plural or "") for e in entries if e.msgid and not e.obsolete}


# ---------------------------------------------------------------------------- the catalogs


def test_the_template_is_what_the_code_marks_now():
    extracted = _ids(i18n.extract())
    shipped = _ids(polib.pofile(str(i18n.POT)))
    assert extracted, "no message extracted: is Babel's extractor finding the modules?"
    assert not extracted - shipped, (
        f"messages missing from {i18n.POT.name} (run: python -m autograder.i18n extract && "
        f"python -m autograder.i18n update): {sorted(extracted - shipped)}")
    assert not shipped - extracted, (
        f"stale entries in {i18n.POT.name} (their English changed or is gone; re-extract): "
        f"{sorted(shipped - extracted)}")


def _marked_calls(tree):
    """``(first argument, node)`` of every call of a gettext name, f-strings' insides included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in GETTEXT_NAMES and node.args:
            yield node.args[0], node


def test_every_marked_message_is_a_plain_literal_and_in_the_template():
    """What Babel cannot see (a call inside an f-string, an f-string as the message) is a bug."""
    shipped = {m for m, _ in _ids(polib.pofile(str(i18n.POT)))}
    sources = i18n.message_sources()
    names = {p.name for p in sources}
    assert {"checks.py", "feedback.py", "tryit.py", "selfgrade.py"} <= names, names
    problems = []
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for arg, node in _marked_calls(tree):
            where = f"{path.name}:{node.lineno}"
            if isinstance(arg, ast.JoinedStr):
                problems.append(f"{where}: an f-string cannot be translated; use named "
                                f"placeholders and .format()")
            elif isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                if arg.value not in shipped:
                    problems.append(f"{where}: {arg.value!r} is not in the template")
    assert not problems, "\n".join(problems)


def test_every_message_has_a_zh_translation():
    pot = polib.pofile(str(i18n.POT))
    po = polib.pofile(str(PO))
    entries = {(e.msgid, e.msgid_plural or ""): e for e in po if not e.obsolete}
    problems = []
    for key in sorted(_ids(pot)):
        e = entries.get(key)
        if e is None:
            problems.append(f"missing: {key[0]!r}")
        elif "fuzzy" in e.flags:
            problems.append(f"fuzzy (its English changed; check the translation): {key[0]!r}")
        elif not (all(e.msgstr_plural.values()) if e.msgid_plural else e.msgstr):
            problems.append(f"untranslated: {key[0]!r}")
    assert not problems, f"{PO.relative_to(ROOT)}:\n" + "\n".join(problems)
    assert po.metadata.get("Language") == "zh_CN"
    assert "nplurals=1" in po.metadata.get("Plural-Forms", "")


def _sample(field: str):
    """A value that a placeholder like ``{name}``, ``{n:g}`` or ``{t!r}`` accepts."""
    spec = field.split(":", 1)[1] if ":" in field else ""
    return 1.5 if spec else "X"


def test_translations_keep_the_placeholders_of_the_english():
    po = polib.pofile(str(PO))
    problems = []
    for e in po.translated_entries():
        english = [e.msgid] + ([e.msgid_plural] if e.msgid_plural else [])
        targets = list(e.msgstr_plural.values()) if e.msgid_plural else [e.msgstr]
        want = set(i18n.placeholders(e.msgid))
        for t in targets:
            if set(i18n.placeholders(t)) != want:
                problems.append(f"{e.msgid!r}: {sorted(want)} vs {sorted(set(i18n.placeholders(t)))}"
                                f" in {t!r}")
                continue
            # and it formats with the values the English takes (no stray or broken braces)
            fields = {f[1:-1].split(":")[0].split("!")[0]: f for f in want}
            values = {k: _sample(f) for k, f in fields.items()}
            for text in english + [t]:
                try:
                    text.format(**values)
                except (KeyError, ValueError, IndexError) as err:
                    problems.append(f"{text!r} does not format: {err!r}")
            literal = "".join(lit for lit, *_ in string.Formatter().parse(t))
            if "{" in literal.replace("{{", "") or "}" in literal.replace("}}", ""):
                problems.append(f"stray brace in {t!r}")
    assert not problems, "\n".join(problems)


def test_code_in_the_english_stays_code_in_the_translation():
    """Identifiers, calls and formulas of a message are not translated (docs/glossary.md)."""
    code = re.compile(r"`[^`]+`|[A-Za-z_][\w.]*\(\)|\.(?:grad|sum|T)\b|requires_grad=True|"
                      r"next_functions|AccumulateGrad|keepdims=True|d mean\(x\*x\)/dx = 2x/N|"
                      r"dL/d[a-z] = [\w.]+ @ [\w.]+")
    problems = []
    for e in polib.pofile(str(PO)).translated_entries():
        for token in code.findall(e.msgid):
            if token not in e.msgstr and not e.msgid_plural:
                problems.append(f"{token!r} of {e.msgid!r} is not in {e.msgstr!r}")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------- choosing the language


def test_the_language_comes_from_using_then_set_language_then_the_environment(monkeypatch):
    assert i18n.language() == "en" and i18n.gettext("passed") == "passed"
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/course/zh-CN/ps1/ps1.ipynb")
    assert i18n.language() == "zh_CN" and i18n.gettext("passed") == ZH.gettext("passed") != "passed"
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/ps1-zh-CN/ps1.ipynb")  # an assignment
    assert i18n.language() == "zh_CN"
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/course/ps1/zh-CN-notes.ipynb")
    assert i18n.language() == "en"  # a folder names it, not a file's name
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/zh-CNx/ps1.ipynb")
    assert i18n.language() == "en"
    for spelling in ("zh-CN", "zh_CN", "zh", "zh_CN.UTF-8"):
        monkeypatch.setenv("AUTOGRADER_LANG", spelling)
        assert i18n.language() == "zh_CN", spelling
    monkeypatch.setenv("AUTOGRADER_LANG", "en")
    monkeypatch.setenv("JPY_SESSION_NAME", "course/zh-CN/ps1/ps1.ipynb")
    assert i18n.language() == "en"  # the variable wins over the notebook's path
    i18n.set_language("zh-CN")
    assert i18n.language() == "zh_CN"
    with i18n.using("en"):
        assert i18n.gettext("passed") == "passed"
        with i18n.using("zh"):
            assert i18n.language() == "zh_CN"
        assert i18n.language() == "en"
    assert i18n.language() == "zh_CN"
    i18n.set_language("fr")  # no catalog: English
    assert i18n.gettext("passed") == "passed"


def test_plural_forms():
    one = "{failed} of {tests} test cells did not pass ({lost} point lost)."
    many = "{failed} of {tests} test cells did not pass ({lost} points lost)."
    assert i18n.ngettext(one, many, 1) == one and i18n.ngettext(one, many, 2.5) == many
    with i18n.using("zh-CN"):
        zh = i18n.ngettext(one, many, 1)
        assert zh == i18n.ngettext(one, many, 3) != one  # Chinese has one form


def test_untranslated_and_fuzzy_entries_fall_back_to_english(tmp_path, monkeypatch):
    po = polib.POFile()
    po.metadata = {"Content-Type": "text/plain; charset=utf-8", "Language": "xx_YY"}
    po.append(polib.POEntry(msgid="passed", msgstr="PASS-XX"))
    po.append(polib.POEntry(msgid="failed", msgstr="FAIL-XX", flags=["fuzzy"]))
    po.append(polib.POEntry(msgid="partial credit", msgstr=""))
    (tmp_path / "xx_YY" / "LC_MESSAGES").mkdir(parents=True)
    po.save(str(tmp_path / "xx_YY" / "LC_MESSAGES" / "autograder.po"))
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    t = i18n.translator("xx-YY")
    assert [t.gettext(m) for m in ("passed", "failed", "partial credit")] == \
        ["PASS-XX", "failed", "partial credit"]


def test_notebook_language_reads_the_metadata(tmp_path):
    import nbformat
    from nbformat.v4 import new_notebook

    nb = new_notebook(metadata={"autograder": {"lang": "zh-CN"}})
    assert i18n.notebook_language(nb) == "zh_CN"
    assert i18n.notebook_language(new_notebook()) == "en"
    path = tmp_path / "ps1.ipynb"
    nbformat.write(nb, path)
    assert i18n.notebook_language(path) == "zh_CN"
    assert i18n.notebook_language(tmp_path / "missing.ipynb") == "en"


# ---------------------------------------------------------------------------- real checks


def _numbers(text: str) -> list[str]:
    return re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)


def _ps1_message(monkeypatch, lang: str | None) -> str:
    """ps1's first check on a real mistake: backward() twice without zeroing .grad (torch's own 2x)."""
    if lang:
        monkeypatch.setenv("AUTOGRADER_LANG", lang)
    else:
        monkeypatch.delenv("AUTOGRADER_LANG", raising=False)
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    expected = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    torch.mean(expected * expected).backward()
    for _ in range(2):  # the student's loop that forgets x.grad.zero_()
        torch.mean(x * x).backward()
    with pytest.raises(GradientMismatch) as e:
        assert_grad_close(x.grad, expected.grad, "x.grad", n=4)
    return str(e.value)


def test_a_ps1_check_speaks_chinese_under_autograder_lang(monkeypatch):
    en = _ps1_message(monkeypatch, None)
    zh = _ps1_message(monkeypatch, "zh-CN")
    assert en.splitlines()[0] == "x.grad: does not match torch.autograd"
    assert "  likely cause: exactly 2x torch's: the gradient was accumulated twice" in en
    twice = ("exactly 2x torch's: the gradient was accumulated twice (backward() called twice "
             "without zeroing .grad, or a node visited twice: double counting).")
    assert zh.splitlines()[0] == ZH.gettext("{what}: does not match torch.autograd").format(
        what="x.grad") != en.splitlines()[0]
    assert "  " + ZH.gettext("likely cause: {hint}").format(hint=ZH.gettext(twice)) in zh
    assert "可能原因：" in zh and "梯度被累加了两次" in zh
    assert "likely cause" not in zh and "does not match" not in zh
    # numbers, shapes, indices and code stay as they are (a sentence may put them in another order)
    assert sorted(_numbers(zh)) == sorted(_numbers(en))
    for code in ("x.grad", "backward()", "(0, 0)", "(2, 2)", "[[1., 2.],", "atol=1e-08"):
        assert code in zh and code in en, code


def test_an_engine_check_and_its_localised_bug_in_chinese(monkeypatch):
    """check_gradients against torch with an engine that runs a node's backward twice."""
    monkeypatch.setattr(Tiny, "double_backward", True)
    x = np.array([0.5, -1.25, 2.0])

    def run():
        with pytest.raises(GradientMismatch) as e:
            check_gradients(lambda u: (u * u + u * 3).sum(), [x], Tiny, name="x used twice",
                            input_names=["x"])
        return str(e.value)

    en = run()
    with i18n.using("zh-CN"):
        zh = run()
    assert en.startswith("x used twice: gradient of x: does not match torch.autograd")
    assert zh.startswith("x used twice：x 的梯度：与 torch.autograd 的结果不一致")
    en_causes = [ln for ln in en.splitlines() if ln.startswith("  likely cause: ")]
    zh_causes = [ln for ln in zh.splitlines() if ln.startswith("  可能原因：")]
    assert en_causes and len(zh_causes) == len(en_causes), (en, zh)
    assert "重复计数" in zh or "2 倍" in zh, zh
    assert sorted(_numbers(zh)) == sorted(_numbers(en))


def test_a_problem_set_check_and_its_likely_cause_in_chinese():
    """ps3's order check (autograder.problems) on a real graph, torch's own, and a student's
    topological_order that forgets to reverse its depth-first post-order."""
    from autograder.feedback import cause_re
    from autograder.problems import ps3

    def post_order(root):  # the bug: the post-order itself, not reversed
        order, seen = [], set()

        def visit(node):
            if node is None or node in seen:
                return
            seen.add(node)
            for child, _index in node.next_functions:
                visit(child)
            order.append(node)

        visit(root)
        return order

    def message():
        x = torch.tensor([0.5, -1.25, 2.0], dtype=torch.float64, requires_grad=True)
        xt = torch.tensor([0.5, -1.25, 2.0], dtype=torch.float64, requires_grad=True)
        with pytest.raises(AssertionError) as e:
            ps3.check_topological_order(post_order, (x * 2.0 + x).sum(), (xt * 2.0 + xt).sum(),
                                        "x * 2 + x")
        return str(e.value)

    en = message()
    with i18n.using("zh-CN"):
        zh = message()
    what = "topological_order(root) for x * 2 + x"
    assert en.splitlines() == [
        f"{what} starts with AccumulateGrad, not with root (SumBackward0): the output's node passes "
        "gradients to every other node, so it comes first",
        "  likely cause: the depth-first post-order was not reversed"]
    first = ZH.gettext("{what} starts with {first}, not with root ({root}): the output's node "
                       "passes gradients to every other node, so it comes first")
    cause = ZH.gettext("the depth-first post-order was not reversed")
    assert zh.splitlines() == [
        first.format(what=ZH.gettext("topological_order(root) for {label}").format(
            label="x * 2 + x"), first="AccumulateGrad", root="SumBackward0"),
        "  可能原因：" + cause]
    assert zh.startswith("对 x * 2 + x 调用的 topological_order(root) 以 AccumulateGrad 开头") and "后序遍历" in cause
    assert not re.search(r"likely cause|starts with|not reversed", zh)
    # feedback reads the cause in either language; node names and code stay as they are
    assert cause_re().search(zh).group(1) == cause
    assert cause_re().search(en).group(1) == "the depth-first post-order was not reversed"
    for code in ("AccumulateGrad", "SumBackward0", "topological_order(root)", "x * 2 + x"):
        assert code in zh, code


def test_a_try_it_cell_in_chinese(monkeypatch, capsys):
    from autograder.tryit import try_it

    monkeypatch.setenv("AUTOGRADER_LANG", "zh-CN")
    with try_it(...):
        raise AssertionError("never shown")
    with try_it([[0.5, 1.0], [1.5, 2.0]]):
        assert_grad_close([[1.0, 2.0], [3.0, 4.0]], np.array([[0.5, 1.0], [1.5, 2.0]]), "x.grad")
    with try_it(1):
        pass
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "… 尚未作答：把上面的每个 ... 换成你的答案，然后重新运行这个单元格。"
    assert out[1].startswith("✗ 还不对：x.grad：与 torch.autograd 的结果不一致")
    assert out[-1] == "✓ 正确"


def test_a_kernel_started_for_a_zh_notebook_speaks_chinese():
    """JPY_SESSION_NAME, as Jupyter sets it for a kernel, in a fresh interpreter."""
    code = ("import numpy as np\nfrom autograder import assert_grad_close\n"
            "try:\n    assert_grad_close(-np.ones(3), np.ones(3), 'g')\n"
            "except AssertionError as e:\n    print(e)\n")
    env = {"PATH": "/usr/bin:/bin",
           "JPY_SESSION_NAME": str(ROOT / "release" / "ps1-zh-CN" / "ps1.ipynb")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "可能原因：符号相反" in out.stdout, out.stdout


# ---------------------------------------------------------------------------- the feedback page


def _graded_notebook(lang: str | None, evalue: str):
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    def grade(cid, points, score, **more):
        return {"nbgrader": {"grade": True, "solution": False, "grade_id": cid, "points": points,
                             "score": score, "schema_version": 3, **more}}

    meta = {"autograder": {"lang": lang}} if lang else {}
    return new_notebook(metadata=meta, cells=[
        new_markdown_cell("# ps1\n\n## Part 1: `x.grad`"),
        new_code_cell("x.grad", metadata={"nbgrader": {"grade": False, "solution": True,
                                                       "grade_id": "ps1-x", "schema_version": 3}}),
        new_code_cell("# Tests: x.grad\nassert_grad_close(x.grad, expected, 'x.grad', n=4)",
                      metadata=grade("ps1-x-test", 2, 0),
                      outputs=[new_output("error", ename="GradientMismatch", evalue=evalue,
                                          traceback=["Cell In[3], line 2\n", "GradientMismatch"])]),
        new_code_cell("assert True", metadata=grade("ps1-ok-test", 1, 1)),
    ])


def _page(nb) -> tuple[str, object]:
    from nbgrader.converters import generate_feedback

    from autograder.feedback import FeedbackExporter, FeedbackSummary

    formgrader = Path(generate_feedback.__file__).parent.parent / "server_extensions" / "formgrader"
    resources = {"nbgrader": {"notebook": "ps1", "score": 1.0, "max_score": 3.0,
                              "late_penalty": 0.0}}
    nb, resources = FeedbackSummary().preprocess(nb, resources)
    # the exporter as nbgrader's GenerateFeedback configures it
    exporter = FeedbackExporter(
        extra_template_basedirs=[str(formgrader / "templates")],
        extra_template_paths=[str(formgrader / "static" / "node_modules" / "bootstrap" / "dist"
                                  / "css")])
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body, resources["autograder_summary"]


def test_the_feedback_page_of_a_zh_notebook_is_in_chinese(monkeypatch):
    with i18n.using("zh-CN"):  # the judge ran the check in the notebook's language
        zh_message = _ps1_message(monkeypatch, None)
    en_message = _ps1_message(monkeypatch, None)
    zh_page, zh_summary = _page(_graded_notebook("zh-CN", zh_message))
    en_page, en_summary = _page(_graded_notebook(None, en_message))
    for words in ("得分：", "（回到顶部）", "学生的答案", "评分单元格：", "可能原因：",
                  "2 个测试单元格中有 1 个没有通过（扣 2 分）。", "点击每一行可跳转到下面对应的单元格。",
                  "1 / 3 分", "未通过", '<html lang="zh-CN">'):
        assert words in zh_page, words
    for words in ("Score:", "(Top)", "Student's answer", "Grade cell:", "likely cause:",
                  "1 of 2 test cells did not pass (2 points lost).", "1 / 3 points"):
        assert words in en_page, words
        assert words not in zh_page, words
    assert '<html lang="' not in en_page
    # the same rows, the summary's cause read from the zh message
    (zh_row,) = zh_summary.failed
    (en_row,) = en_summary.failed
    assert zh_row.cause.startswith("正好是 torch 的 2 倍") and en_row.cause.startswith("exactly 2x")
    assert zh_row.message == "x.grad：与 torch.autograd 的结果不一致"
    assert zh_row.status == "failed"  # read outside the page's language: English again
    # the page's language is the notebook's, whatever the grader's own language is
    monkeypatch.setenv("AUTOGRADER_LANG", "zh-CN")
    en_again, _ = _page(_graded_notebook("en", en_message))
    assert "Score:" in en_again and "得分：" not in en_again


def test_selfgrade_text_and_the_report_read_zh_likely_causes(monkeypatch):
    from autograder import feedback as F
    from autograder.report import HINT_RE, hint_key

    zh = _ps1_message(monkeypatch, "zh-CN")
    causes = HINT_RE.findall(zh)
    assert [hint_key(c) for c in causes][0] == "正好是 torch 的 2 倍"
    assert len(causes) == len(HINT_RE.findall(_ps1_message(monkeypatch, None))) >= 1
    nb = _graded_notebook("zh-CN", zh)
    with i18n.using(i18n.notebook_language(nb)):
        text = "\n".join(F.summary_text(F.summarize(nb, "ps1")))
    assert "未通过" in text and "可能原因：正好是 torch 的 2 倍" in text


def test_the_catalogs_ship_with_the_package():
    """pyproject's package data names the catalogs: a student's pip install gets the zh messages."""
    import fnmatch

    import tomllib

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["autograder"]
    pkg = ROOT / "autograder"
    for path in (i18n.POT, PO):
        rel = path.relative_to(pkg).as_posix()
        assert any(fnmatch.fnmatch(rel, g) for g in globs), (rel, globs)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "polib==1.2.0" in project["dependencies"]
    assert "jupyterlab-language-pack-zh-CN==4.5.post3" in project["dependencies"]
