"""nbgrader preprocessors that the course's nbgrader_config.py plugs in."""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution
from traitlets import Unicode

from .feedback import FeedbackExporter, FeedbackSummary  # noqa: F401  (named by nbgrader_config.py)

HIDDEN_NOTE = "# (hidden tests: their code is not shown; their messages appear below)"


def hidden_note() -> str:
    """The note in place of hidden test code, in the feedback's language."""
    from .i18n import _

    return "# " + _("(hidden tests: their code is not shown; their messages appear below)")


class HideHiddenTests(NbGraderPreprocessor):
    """Strip hidden test code from the notebook before feedback is rendered.

    Stock ``nbgrader generate_feedback`` renders the autograded notebook, whose
    test cells hold the hidden tests (restored from the gradebook), and whose
    tracebacks quote the failing line. This removes each
    ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region and cuts the
    tracebacks of test cells down to their last line, the exception and its
    message, which is all a student needs (the course's checks put the
    diagnosis in the message).
    """

    begin = Unicode("### BEGIN HIDDEN TESTS").tag(config=True)
    end = Unicode("### END HIDDEN TESTS").tag(config=True)

    def preprocess(self, nb, resources):
        from .i18n import notebook_language, using

        with using(notebook_language(nb)):   # the note speaks the notebook's language
            return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or not (is_grade(cell) and not is_solution(cell)):
            return cell, resources
        cell.source = strip_hidden(cell.source, self.begin, self.end)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                out["traceback"] = [f"\x1b[0;31m{out.get('ename', 'Error')}\x1b[0m: "
                                    f"{out.get('evalue', '')}"]
        return cell, resources


def strip_hidden(source: str, begin: str = "### BEGIN HIDDEN TESTS",
                 end: str = "### END HIDDEN TESTS") -> str:
    """Replace every hidden-test region of ``source`` by a one-line note."""
    from .feedback import strip_hidden as strip

    return strip(source, hidden_note(), begin, end)
