"""The language of what a learner reads: check messages, hints, feedback pages.

Messages are written in English in the code and marked for translation::

    from .i18n import _, ngettext

    _("{what}: does not match torch.autograd").format(what=what)

Placeholders are named, and numbers, shapes and code are filled in after the
lookup, so they stay as they are in every language. The translations live in
gettext catalogs, ``autograder/locale/<ll_CC>/LC_MESSAGES/autograder.po``
(read with polib, no compiled ``.mo`` files), extracted with Babel into
``autograder/locale/autograder.pot`` (``tests/test_i18n_messages.py`` keeps
both in step with the code). An entry that is untranslated or fuzzy, or a
language with no catalog, falls back to the English.

Which language, first match wins:

1. inside ``with using(lang):`` (how one notebook's feedback is rendered in its
   own language: :func:`notebook_language`);
2. :func:`set_language` (``None`` clears it);
3. the environment variable ``AUTOGRADER_LANG`` (``zh-CN``, ``zh_CN``, ``zh``; ``en``);
4. ``JPY_SESSION_NAME``, the path of the notebook a Jupyter kernel runs for,
   when one of its folders is a language or ends in one (``course/zh-CN/02_....ipynb``,
   ``release/ps1-zh-CN/ps1.ipynb``);
5. English.
"""

from __future__ import annotations

import contextlib
import contextvars
import gettext as _gettext
import math
import os
import re
import threading
from pathlib import Path
from typing import Any, Iterator

__all__ = [
    "DOMAIN",
    "N_",
    "ENGLISH",
    "LOCALE_DIR",
    "Translator",
    "_",
    "all_translations",
    "available_languages",
    "gettext",
    "language",
    "ngettext",
    "normalize",
    "notebook_language",
    "set_language",
    "tag",
    "translator",
    "using",
]

DOMAIN = "autograder"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
ENGLISH = "en"
ENV_VAR = "AUTOGRADER_LANG"

#: the languages the course's notebooks are translated into (autograder/translate.py), as tags
COURSE_LANGUAGES = ("zh-CN",)

# short names of the languages the course is translated into
_ALIASES = {"zh": "zh_CN", "zh_hans": "zh_CN", "zh_hans_cn": "zh_CN", "zh_sg": "zh_CN"}

_forced: str | None = None  # set_language()
_scoped: contextvars.ContextVar[str | None] = contextvars.ContextVar("autograder_lang",
                                                                    default=None)


def normalize(lang: str | None) -> str:
    """A language tag as a catalog folder's name: ``zh-CN``, ``zh_cn.UTF-8``, ``zh`` -> ``zh_CN``.

    English (``en``, ``en_US``, ``C``, ``POSIX``, empty) -> ``"en"``.
    """
    if not lang:
        return ENGLISH
    s = str(lang).strip().split(".")[0].split("@")[0].replace("-", "_")
    if not s or s.upper() in ("C", "POSIX"):
        return ENGLISH
    low = s.lower()
    if low in _ALIASES:
        return _ALIASES[low]
    parts = low.split("_")
    if parts[0] == ENGLISH:
        return ENGLISH
    if len(parts) == 1:
        return parts[0]
    return f"{parts[0]}_{parts[-1].upper()}"


def tag(lang: str | None) -> str:
    """The BCP 47 spelling of a language, as notebooks' metadata and folders write it: ``zh-CN``."""
    return normalize(lang).replace("_", "-")


def available_languages() -> list[str]:
    """The languages with a catalog, normalized (``["zh_CN"]``), English not included."""
    if not LOCALE_DIR.is_dir():
        return []
    return sorted(p.name for p in LOCALE_DIR.iterdir()
                  if (p / "LC_MESSAGES" / f"{DOMAIN}.po").is_file())


# ---------------------------------------------------------------------------- choosing the language


def set_language(lang: str | None) -> None:
    """Use ``lang`` from now on in this process (``None``: back to the environment's choice)."""
    global _forced
    _forced = None if lang is None else normalize(lang)


@contextlib.contextmanager
def using(lang: str | None) -> Iterator[str]:
    """Messages made inside the block are in ``lang`` (``None``: leave the choice as it is)."""
    if lang is None:
        yield language()
        return
    token = _scoped.set(normalize(lang))
    try:
        yield language()
    finally:
        _scoped.reset(token)


def _from_session_path(path: str | None) -> str | None:
    """The language a notebook's path names by one of its folders.

    A folder named after the language (the lessons: ``course/zh-CN/01_....ipynb``) or an
    assignment's folder ending in it (``release/ps1-zh-CN/ps1.ipynb``, also a student's
    ``~/ps1-zh-CN/ps1.ipynb`` fetched through nbgrader's exchange: autograder/translate.py).
    """
    if not path:
        return None
    known = set(available_languages())
    folders = re.split(r"[\\/]+", path)[:-1]
    for seg in reversed(folders):
        m = re.search(r"(?:^|-)([A-Za-z]{2,3}[-_][A-Za-z]{2,4})$", seg)
        if m and normalize(m.group(1)) in known:
            return normalize(m.group(1))
    return None


def language() -> str:
    """The language messages are made in now (normalized: ``"en"``, ``"zh_CN"``)."""
    scoped = _scoped.get()
    if scoped:
        return scoped
    if _forced:
        return _forced
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return normalize(env)
    found = _from_session_path(os.environ.get("JPY_SESSION_NAME"))
    return found or ENGLISH


def notebook_language(nb: Any) -> str:
    """The language of a notebook, from its metadata ``"autograder": {"lang": "zh-CN"}``.

    ``nb``: a notebook (nbformat node or plain dict) or a path to one. English when
    the metadata says nothing or the file cannot be read. Normalized (``"zh_CN"``).
    """
    if isinstance(nb, (str, os.PathLike)):
        import json

        try:
            with open(nb, encoding="utf-8") as f:
                nb = json.load(f)
        except (OSError, ValueError):
            return ENGLISH
    try:
        meta = nb.get("metadata") or {}
        own = meta.get("autograder") or {}
        lang = own.get("lang") if isinstance(own, dict) else None
    except AttributeError:
        return ENGLISH
    return normalize(lang) if isinstance(lang, str) else ENGLISH


# ---------------------------------------------------------------------------- catalogs


class Translator:
    """The messages of one language (an empty catalog for English)."""

    def __init__(self, lang: str, messages: dict[str, str] | None = None,
                 plurals: dict[str, list[str]] | None = None, plural_forms: str | None = None):
        self.lang = lang
        self.messages = messages or {}
        self.plurals = plurals or {}
        self._plural = _plural_function(plural_forms)

    def gettext(self, message: str) -> str:
        return self.messages.get(message) or message

    def ngettext(self, singular: str, plural: str, n: float) -> str:
        forms = self.plurals.get(singular)
        if forms:
            k = self._plural(_as_count(n))
            if 0 <= k < len(forms) and forms[k]:
                return forms[k]
        return singular if n == 1 else plural

    def __len__(self) -> int:
        return len(self.messages) + len(self.plurals)

    def __repr__(self) -> str:
        return f"<Translator {self.lang}: {len(self)} messages>"


def _as_count(n: float) -> int:
    """gettext's plural rules take integers: 1.5 points count as 2."""
    try:
        return int(n) if float(n).is_integer() else math.ceil(abs(float(n)))
    except (TypeError, ValueError, OverflowError):
        return 2


def _plural_function(plural_forms: str | None):
    m = re.search(r"plural\s*=\s*([^;]+)", plural_forms or "")
    if m:
        try:
            return _gettext.c2py(m.group(1).strip())
        except (ValueError, SyntaxError):
            pass
    return lambda n: int(n != 1)


_lock = threading.Lock()
_cache: dict[tuple[str, str], tuple[float, Translator]] = {}


def _catalog_path(lang: str, domain: str) -> Path | None:
    for name in (lang, lang.split("_")[0]):
        p = LOCALE_DIR / name / "LC_MESSAGES" / f"{domain}.po"
        if p.is_file():
            return p
    return None


def translator(lang: str | None = None, domain: str = DOMAIN) -> Translator:
    """The catalog of ``lang`` (default: :func:`language`), read once (again if the file changed)."""
    lang = normalize(lang) if lang is not None else language()
    if lang == ENGLISH:
        return _ENGLISH
    path = _catalog_path(lang, domain)
    if path is None:
        return _ENGLISH
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return _ENGLISH
    key = (lang, domain)
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] == mtime:
            return hit[1]
    t = _load(path, lang)
    with _lock:
        _cache[key] = (mtime, t)
    return t


def _load(path: Path, lang: str) -> Translator:
    import polib

    po = polib.pofile(str(path), encoding="utf-8")
    messages: dict[str, str] = {}
    plurals: dict[str, list[str]] = {}
    for e in po:
        if e.obsolete or "fuzzy" in e.flags or e.msgctxt:
            continue
        if e.msgid_plural:
            forms = [e.msgstr_plural[k] for k in sorted(e.msgstr_plural)]
            if forms and all(forms):
                plurals[e.msgid] = forms
        elif e.msgstr:
            messages[e.msgid] = e.msgstr
    return Translator(lang, messages, plurals, po.metadata.get("Plural-Forms"))


_ENGLISH = Translator(ENGLISH)


def gettext(message: str) -> str:
    """``message`` in the current language (itself when it has no translation)."""
    return translator().gettext(message)


def ngettext(singular: str, plural: str, n: float) -> str:
    """The form of a message for the count ``n`` in the current language."""
    return translator().ngettext(singular, plural, n)


_ = gettext


def N_(message: str) -> str:
    """Mark ``message`` for the catalog without translating it now (translated where it is shown)."""
    return message


def cause_re() -> re.Pattern:
    """A check message's ``likely cause:`` lines, in English or any language with a catalog
    (feedback and the report read the hints with it; the judge marks such lines in a
    student's own exception messages: autograder.judge.wire.decode_exception)."""
    if _CAUSE_RE[0] is None:
        labels = [re.escape(p.split("{hint}")[0].strip())
                  for p in all_translations("likely cause: {hint}")]
        _CAUSE_RE[0] = re.compile(r"^\s*(?:%s)\s*(.+?)\s*$" % "|".join(labels), re.M)
    return _CAUSE_RE[0]


_CAUSE_RE: list = [None]


def all_translations(message: str) -> list[str]:
    """``message`` in English and in every language with a catalog (for recognising a label)."""
    out = [message]
    for lang in available_languages():
        t = translator(lang).gettext(message)
        if t not in out:
            out.append(t)
    return out


# ---------------------------------------------------------------------------- maintaining the catalogs

POT = LOCALE_DIR / f"{DOMAIN}.pot"
_USES_I18N = re.compile(r"^\s*from\s+(?:\.+|autograder\.)i18n\s+import\s", re.M)
_FIELD = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)?((?:![rsa])?(?::[^{}]*)?)\}(?!\})")


def placeholders(message: str) -> list[str]:
    """The ``{name}`` / ``{name:.3g}`` fields of a message, sorted (what a translation must keep)."""
    return sorted(m.group(0) for m in _FIELD.finditer(message))


def message_sources() -> list[Path]:
    """The modules of the package whose messages are in the catalog: those that import this one."""
    root = Path(__file__).resolve().parent
    return sorted(p for p in root.rglob("*.py")
                  if p.name != "i18n.py" and _USES_I18N.search(p.read_text(encoding="utf-8")))


def extract():
    """The template catalog (a ``polib.POFile``) of the messages marked in :func:`message_sources`.

    Babel's Python extractor, keywords ``_``, ``gettext``, ``ngettext``, ``N_``; an entry
    lists the files it comes from (no line numbers: they would go stale with every edit).
    """
    import polib
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file

    pot = polib.POFile(wrapwidth=100)
    pot.metadata = {
        "Project-Id-Version": "autograder",
        "Report-Msgid-Bugs-To": "",
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Transfer-Encoding": "8bit",
        "Generated-By": "python -m autograder.i18n extract (Babel)",
    }
    pot.header = ("Messages of the autograder package that a learner reads (check messages,\n"
                  "likely causes, Try-it cells, feedback pages, selfgrade).\n"
                  "Regenerate: python -m autograder.i18n extract; then python -m autograder.i18n "
                  "update\nTerms: docs/glossary.md")
    root = Path(__file__).resolve().parent.parent
    seen: dict[str, Any] = {}
    for path in message_sources():
        rel = path.relative_to(root).as_posix()
        for _lineno, message, _comments, _context in extract_from_file(
                "python", str(path), keywords=DEFAULT_KEYWORDS, strip_comment_tags=True):
            if isinstance(message, tuple):
                msgid, plural = message[0], message[1]
            else:
                msgid, plural = message, ""
            if not msgid:
                continue
            e = seen.get(msgid)
            if e is None:
                e = polib.POEntry(msgid=msgid, msgstr="", occurrences=[])
                if plural:
                    e.msgid_plural = plural
                    e.msgstr_plural = {0: "", 1: ""}
                if placeholders(msgid):
                    e.flags.append("python-brace-format")
                seen[msgid] = e
                pot.append(e)
            if (rel, "") not in e.occurrences:
                e.occurrences.append((rel, ""))
    return pot


def write_template(path: Path = POT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    extract().save(str(path))
    return path


def update_catalogs() -> list[Path]:
    """Merge the template into every language's catalog (new entries untranslated, gone ones obsolete)."""
    import polib

    pot = polib.pofile(str(POT))
    out = []
    for lang in available_languages():
        path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        po = polib.pofile(str(path), wrapwidth=100)
        po.merge(pot)
        po.save(str(path))
        out.append(path)
    return out


def stats(lang: str) -> dict[str, int]:
    """Entries of a language's catalog: total, translated, fuzzy, untranslated."""
    import polib

    path = _catalog_path(normalize(lang), DOMAIN)
    if path is None:
        return {"total": 0, "translated": 0, "fuzzy": 0, "untranslated": 0}
    po = polib.pofile(str(path))
    live = [e for e in po if not e.obsolete]
    return {"total": len(live), "translated": len(po.translated_entries()),
            "fuzzy": len(po.fuzzy_entries()), "untranslated": len(po.untranslated_entries())}


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m autograder.i18n",
                                description="maintain the message catalogs (autograder/locale/)")
    p.add_argument("command", choices=["extract", "update", "stats"],
                   help="extract: write the .pot from the code; update: merge it into each .po; "
                        "stats: count the translated entries")
    args = p.parse_args(argv)
    if args.command == "extract":
        print(write_template())
    elif args.command == "update":
        for path in update_catalogs():
            print(path)
    else:
        for lang in available_languages():
            print(lang, stats(lang))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
