"""Which packages the wheel holds; the rest of the metadata is in pyproject.toml.

The review notebooks are edited as the top-level ``notebooks/`` of this
repository and ship as the package ``harness.notebooks``, so an installed
chaoslab finds them beside its own code. pyproject.toml alone cannot map a
subpackage to a folder outside its parent while also finding the others.
"""

from setuptools import find_packages, setup

setup(
    # The scaffold's templates are data, named here so setuptools need not guess.
    packages=[
        *find_packages(include=["harness", "harness.*"]),
        "harness.notebooks",
        "harness.scaffold.templates",
    ],
    package_dir={"harness.notebooks": "notebooks"},
)
