"""nbgrader settings for the autograd course. The repository root is the course directory."""
import os

c = get_config()  # noqa: F821  (nbgrader injects get_config)

here = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "autograd-course"
c.CourseDirectory.root = here
# Student names are free-form in the formgrader; keep ids simple.
c.CourseDirectory.student_id_exclude = ".ipynb_checkpoints"

# Exchange (nbgrader's release/collect mailbox). A directory of the course that
# exists and is writable; on JupyterHub point it at a shared volume instead
# (docs/instructor-guide.md).
exchange = os.environ.get("AUTOGRADER_EXCHANGE", os.path.join(here, ".exchange"))
os.makedirs(exchange, exist_ok=True)
c.Exchange.root = exchange

# SQLite gradebook, with a generous lock timeout so parallel graders wait rather than fail.
c.CourseDirectory.db_url = os.environ.get(
    "AUTOGRADER_DB_URL", "sqlite:///" + os.path.join(here, "gradebook.db") + "?timeout=60"
)

# Execution: a cell that runs longer than this fails (an infinite loop costs one cell, not the batch).
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# Torch prints warnings on stderr; nbgrader gives 0 to any grade cell with stderr output.
# Drop stderr chunks that are Python warnings (file:line: SomethingWarning: ...), so a
# correct answer never loses points to noise. tests/test_nbgrader_config.py proves it.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(?m)^.*:\d+: \w*Warning: "

# Output limits (nbgrader's LimitOutput): also cap a single huge line (see autograder.nbgrader_plugins).
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100

# Feedback never shows hidden test code: stock feedback renders the autograded
# notebook, whose test cells hold the hidden tests and whose tracebacks quote them.
# FeedbackSummary (before the hiding: it needs the hidden regions and tracebacks to tell
# whether a hidden check failed) puts a summary on top of the page: per graded cell its
# part, points, pass/fail, and for a failure the check's message line and likely cause.
# FeedbackExporter renders it in nbgrader's feedback template, with messages that wrap and
# MathJax inlined from an installed package (no network): autograder/feedback.py.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.nbgrader_plugins.FeedbackSummary",
    "autograder.nbgrader_plugins.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
c.GenerateFeedback.exporter_class = "autograder.nbgrader_plugins.FeedbackExporter"
# A student's own HTML, Markdown or JavaScript outputs are cleaned in the feedback page
# (nbconvert's bleach filter): no <style> or <script> can hide the summary or fake a score.
c.HTMLExporter.sanitize_html = True

# The formgrader's "Current configuration" panel prints the Jupyter server's whole config,
# secrets included (a token or password given as an option): keep it off.
# tests/test_browser.py checks that the formgrader page never shows the login token.
c.FormgradeExtension.debug = False
