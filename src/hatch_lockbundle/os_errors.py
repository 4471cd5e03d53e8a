"""OS errors said for their cause (never a guess), with where the file is and what to do."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .cache import CACHE_ENV


def os_error_message(error: OSError, cache: Path, out_dir: Path) -> str:
    """What went wrong with a file, said for its cause (never a guess), and what to do.

    :param cache: the cache in use, and ``out_dir`` the output directory: when the path is in
        one of them, the message says which, and how to move the cache
    """
    path = str(error.filename) if error.filename is not None else "a file"
    if error.filename2 is not None:
        path += f" (moving it to {error.filename2})"
    generic = (f"cannot write or read {{path}}: {error.strerror or error}", "check the path")
    if error.errno == errno.EEXIST and error.filename2 is not None:
        problem, remedy = generic  # a rename onto a directory that is not empty, not a mkdir
    else:
        problem, remedy = _OS_ERRORS.get(error.errno or 0, generic)
    message = f"{problem.format(path=path)}; {remedy}"
    if isinstance(error.filename, str) and _is_inside(error.filename, cache):
        message += f". It is in the cache {cache}: set {CACHE_ENV} to move the cache"
    elif isinstance(error.filename, str) and _is_inside(error.filename, out_dir):
        message += f". It is in the output directory {out_dir}"
    elif error.filename is None:  # a write or a copy: the system does not say which file
        message += (
            f". The build writes into the output directory {out_dir} and into the cache "
            f"{cache} (set {CACHE_ENV} to move the cache)"
        )
    return message


#: errno -> (what is wrong with ``{path}``, what to do)
_OS_ERRORS = {
    errno.ENOENT: ("{path} does not exist", "restore it, or check the path"),
    errno.ENAMETOOLONG: (
        "the name {path} is too long for its file system",
        "use a shorter directory or bundle name",
    ),
    errno.ENOTDIR: (
        "cannot use {path}: a file is in the way where a directory must be",
        "remove or rename that file, or choose another directory",
    ),
    errno.EEXIST: (
        "cannot create the directory {path}: a file is in the way, of that very name",
        "remove or rename that file, or choose another directory",
    ),
    errno.EACCES: (
        "permission denied for {path}",
        "give this user access to it, or choose another directory",
    ),
    errno.EPERM: (
        "operation not permitted on {path}",
        "give this user access to it, or choose another directory",
    ),
    errno.ENOSPC: (
        "no space left on the device writing {path}",
        "free space on that file system, or choose a directory on another one",
    ),
    errno.EDQUOT: (
        "disk quota exceeded writing {path}",
        "free space within the quota, or choose a directory on another file system",
    ),
    errno.EROFS: (
        "{path} is on a read-only file system",
        "choose a writable directory",
    ),
    errno.ELOOP: (
        "too many levels of symbolic links at {path}",
        "fix the link loop",
    ),
}


def _is_inside(name: str | bytes | int, directory: Path) -> bool:
    if not isinstance(name, str):
        return False
    path = Path(os.path.abspath(name))
    return path.is_relative_to(os.path.abspath(directory))
