"""An instructor's nbgrader settings on the hub: the course directory in their home.

The Formgrader (and nbgrader's commands run anywhere) use the course directory
``~/autograd-course`` (``AUTOGRADER_COURSE``, set by the hub), with that course's own
nbgrader_config.py: the same settings as on one machine, the exchange taken from
``AUTOGRADER_EXCHANGE``.
"""
import os

c = get_config()  # noqa: F821

course = os.environ.get("AUTOGRADER_COURSE") or os.path.expanduser("~/autograd-course")
if os.path.isfile(os.path.join(course, "nbgrader_config.py")):
    load_subconfig(os.path.join(course, "nbgrader_config.py"))  # noqa: F821
    c.CourseDirectory.root = course
