"""pytest fixtures that gitkube ships for its own tests and for plugin authors.

Installed as the ``gitkube`` pytest11 entry point, so any project that has
gitkube installed can use them. Each family lives in its own module.
"""

pytest_plugins = [
    "gitkube.testing.controlplane_fixtures",
    "gitkube.testing.fake_compute.fixtures",
    "gitkube.testing.plugin_fixtures",
]
