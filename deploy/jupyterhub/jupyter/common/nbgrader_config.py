"""nbgrader settings for every account on the course's hub (students and instructors).

The hub puts this directory on each user's Jupyter config path (``JUPYTER_CONFIG_PATH``,
deploy/jupyterhub/jupyterhub_config.py); on another hub, /etc/jupyter/nbgrader_config.py
is the usual place.
"""
import os

from nbgrader.auth import JupyterHubAuthPlugin

c = get_config()  # noqa: F821

c.CourseDirectory.course_id = "autograd-course"
# The exchange: one directory that every user's server reaches (sticky, world-writable).
c.Exchange.root = os.environ.get("AUTOGRADER_EXCHANGE", "/srv/nbgrader/exchange")
# nbgrader asks JupyterHub which courses a user belongs to: the hub groups
# nbgrader-autograd-course (students) and formgrade-autograd-course (graders).
c.Authenticator.plugin_class = JupyterHubAuthPlugin
# as nbgrader's docs advise with that plugin: fetched work goes to ~/autograd-course/ps1/
c.Exchange.path_includes_course = True
