"""gitkube: render a Git repo of Kubernetes app directories, review it, sync it."""

__version__ = "0.1.0"
