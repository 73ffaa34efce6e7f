"""The sync half: a rendered commit into the cluster and Compute Engine.

It never imports :mod:`gitkube.render` and never runs render code (an
import-linter contract); it reads the rendered commit through
:mod:`gitkube.domain.inventory`.
"""
