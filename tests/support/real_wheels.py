"""Wheels of public projects that ``trim = true`` once broke, downloaded from PyPI once.

Each broke on its first import after trimming: Django REST framework imports ``django.test``,
boto3 and botocore import ``botocore.docs`` when a client is made, ``ibis/__init__`` imports
``ibis.examples``, and cyclopts imports ``cyclopts.docs`` to write help. Every version is pinned
(dependencies too), so the download is the same every time and happens once.
"""

from __future__ import annotations

from pathlib import Path

from .seed import download_seed_wheels

REAL_WHEELS = (
    "django==5.2.19",
    "djangorestframework==3.18.3",
    "asgiref==3.13.0",
    "sqlparse==0.6.1",
    "boto3==1.44.8",
    "botocore==1.44.8",
    "jmespath==1.1.0",
    "s3transfer==0.19.3",
    "urllib3==2.8.0",
    "python-dateutil==2.9.0.post0",
    "six==1.17.0",
    "cyclopts==5.5.2",
    "attrs==26.1.0",
    "docstring-parser==0.18.0",
    "rich==15.0.0",
    "rich-rst==2.2.0",
    "pygments==2.21.0",
    "markdown-it-py==4.3.0",
    "mdurl==0.1.2",
    "typing-extensions==4.16.0",
    "ibis-framework==12.0.0",
    "atpublic==9.0.0",
    "parsy==2.2",
    "sqlglot==30.31.0",
    "toolz==1.2.0",
    "tzdata==2026.6",
)

#: what the test project depends on directly
APPLICATIONS = ("djangorestframework", "boto3", "cyclopts", "ibis-framework")


def download_real_wheels(dest: Path) -> Path:
    """:data:`REAL_WHEELS` in ``dest`` (about 32 MB), downloaded unless already there."""
    return download_seed_wheels(dest, REAL_WHEELS)
