"""Packages only (everything else is in pyproject.toml): the repository's plugins/ folder installs as the
package ``liverview_plugins``, so LiverView never claims the generic top-level name ``plugins``."""

from setuptools import find_packages, setup

plugin_packages = ["liverview_plugins"] + [f"liverview_plugins.{p}" for p in find_packages("plugins")]
setup(packages=find_packages(include=["liverview", "liverview.*"]) + plugin_packages,
      package_dir={"liverview_plugins": "plugins"})
