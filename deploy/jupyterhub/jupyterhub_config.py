"""JupyterHub for the autograd course: one course (``autograd-course``), instructors and students.

Follows nbgrader's documented JupyterHub set-up ("one class, one grader", with
nbgrader's ``JupyterHubAuthPlugin``; see docs/jupyterhub.md):

- every account is a local unix user, logged in with its own password (PAM), and gets its
  own single-user JupyterLab, spawned as that user (``LocalProcessSpawner``), from the
  course's shared environment (``deploy/jupyterhub/setup-env``: torch, nbgrader, the
  ``autograder`` package);
- students are the hub group ``nbgrader-autograd-course``, instructors
  ``formgrade-autograd-course``: nbgrader asks the hub (``JupyterHubAuthPlugin``) which
  courses a user is in, so a student sees this course's assignments;
- students get nbgrader's *Assignment List* and *Validate* (its route served by the course's
  warm, asynchronous handler, ``autograder.validate``, instead of nbgrader's; set in
  ``jupyter/student/jupyter_server_config.json``); instructors also get the
  *Formgrader*, on the course directory in their home (``~/autograd-course``), and
  grade there with ``bin/course grade``;
- nbgrader's exchange is one directory every user reaches (``AUTOGRADER_EXCHANGE``).

Everything site-specific comes from the environment, so one file serves the demo
(``bin/course hub``), the tests (tests/test_hub.py) and a real server:

==============================  =====================================================
``AUTOGRADER_HUB_DIR``          the hub's state: database, cookie secret, proxy pid,
                                ``roster.json`` and ``jupyter/`` (per-role Jupyter
                                config, copied from deploy/jupyterhub/jupyter/).
                                Default ``/srv/autograd-course/hub``
``AUTOGRADER_HUB_ENV``          the course environment. Default ``/opt/autograd-course/env``
``AUTOGRADER_EXCHANGE``         nbgrader's exchange. Default ``/srv/nbgrader/exchange``
``AUTOGRADER_HUB_IP``/``_PORT`` where the hub listens. Default ``127.0.0.1:8000``
``AUTOGRADER_HUB_API_PORT``     the hub's internal API (127.0.0.1). Default 8081
``AUTOGRADER_HUB_PROXY_PORT``   the proxy's API (127.0.0.1). Default 8001
==============================  =====================================================

``roster.json``: ``{"instructors": ["prof"], "students": ["alice", "bob"]}``, unix
user names (``bin/course hub`` writes it and creates the users).

Start it as root (the spawner switches to each user): ``jupyterhub -f this-file``.
"""

import json
import os

c = get_config()  # noqa: F821  (JupyterHub injects get_config)

COURSE = "autograd-course"
hub_dir = os.environ.get("AUTOGRADER_HUB_DIR", "/srv/autograd-course/hub")
env = os.environ.get("AUTOGRADER_HUB_ENV", "/opt/autograd-course/env")
exchange = os.environ.get("AUTOGRADER_EXCHANGE", "/srv/nbgrader/exchange")
jupyter_config = os.path.join(hub_dir, "jupyter")

with open(os.path.join(hub_dir, "roster.json")) as f:
    roster = json.load(f)
instructors = list(roster.get("instructors", []))
students = list(roster.get("students", []))

# ---------------------------------------------------------------- network: loopback only
c.JupyterHub.ip = os.environ.get("AUTOGRADER_HUB_IP", "127.0.0.1")
c.JupyterHub.port = int(os.environ.get("AUTOGRADER_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("AUTOGRADER_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = (
    f"http://127.0.0.1:{int(os.environ.get('AUTOGRADER_HUB_PROXY_PORT', '8001'))}")
c.ConfigurableHTTPProxy.command = [os.path.join(env, "bin", "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = os.path.join(hub_dir, "proxy.pid")
c.Spawner.ip = "127.0.0.1"  # single-user servers, too

# ---------------------------------------------------------------- state
c.JupyterHub.db_url = "sqlite:///" + os.path.join(hub_dir, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(hub_dir, "jupyterhub_cookie_secret")

# ---------------------------------------------------------------- accounts
# Local unix users with their own passwords. On a hub with a campus login, swap the
# authenticator (OAuth, LDAP ...): the rest stays as is.
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False
c.Authenticator.allowed_users = set(instructors) | set(students)
# nbgrader's JupyterHubAuthPlugin reads these groups: "formgrade-<course>" are the
# course's graders, "nbgrader-<course>" its students.
c.JupyterHub.load_groups = {
    f"formgrade-{COURSE}": {"users": instructors},
    f"nbgrader-{COURSE}": {"users": students},
}
# What a user's server (and so nbgrader inside it) may ask the hub: its own user model,
# groups included, which is what JupyterHubAuthPlugin reads. Nothing about other users.
c.Spawner.server_token_scopes = [
    "users:activity!user",
    "access:servers!server",
    "read:users:name!user",
    "read:users:groups!user",
]

# ---------------------------------------------------------------- single-user servers
c.Spawner.cmd = [os.path.join(env, "bin", "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 180  # first start on a busy machine: JupyterLab, nbgrader
c.Spawner.http_timeout = 180
c.Spawner.environment = {
    # the course environment first; never the hub operator's own PATH or virtualenv
    "PATH": os.pathsep.join([os.path.join(env, "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
    "VIRTUAL_ENV": env,
    "AUTOGRADER_EXCHANGE": exchange,
    "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
}


def _role_config(spawner):
    """Instructors and students get different nbgrader extensions and nbgrader config.

    ``JUPYTER_CONFIG_PATH`` adds the role's directory and the common one (exchange,
    course id, auth plugin) to the Jupyter config path of the user's server, ahead of
    the environment's own (which enables every nbgrader extension).
    """
    role = "instructor" if spawner.user.name in instructors else "student"
    spawner.environment["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
        [os.path.join(jupyter_config, role), os.path.join(jupyter_config, "common")])
    if role == "instructor":
        # the course directory in the instructor's home: the Formgrader's, and
        # `bin/course` reads it (autograder.course.repo_root)
        spawner.environment["AUTOGRADER_COURSE"] = os.path.join(
            os.path.expanduser(f"~{spawner.user.name}"), COURSE)


c.Spawner.pre_spawn_hook = _role_config
