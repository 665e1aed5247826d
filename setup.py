"""One thing pyproject.toml cannot say: the top-level resources/ folder is the package
photoclip.resources (see resources/README.md).

`[tool.setuptools.packages.find]` only finds packages where they lie on disk, and pyproject.toml
takes either `find` or a fixed list, not both; a fixed list would leave out, silently, any
package added later. Here the found packages plus the one mapped folder make the list.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["photoclip", "photoclip.*"]), "photoclip.resources"],
    package_dir={"photoclip.resources": "resources"},
)
