"""The render half: a source repo through the plugins into a rendered commit.

It never imports :mod:`gitkube.sync` (an import-linter contract); what it
writes for sync is the inventory of :mod:`gitkube.domain.inventory`.
"""
