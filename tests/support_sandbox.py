"""Running the sandbox (or a whole server) as root and as an ordinary user.

As an ordinary user on this kind of machine the interpreter itself may be out of reach
(pyenv under a 0700 /root), so the launcher first builds a private mount namespace as
root: the paths the process needs are bound aside, a 0755 tmpfs covers /root, the paths
go back in place; then setpriv drops to the user with no capabilities at all.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

IDENTITIES = ["root", "unprivileged"]
UNPRIVILEGED_UID = 65534
REPO = Path(__file__).resolve().parent.parent


def launcher(identity: str) -> list[str]:
    """An argv prefix that runs a command under the identity (nothing for root)."""
    if identity == "root":
        return []
    needed = {os.path.realpath(sys.base_prefix), sys.prefix, str(REPO)}
    hidden = sorted(p for p in needed if p.startswith("/root/"))
    script = ["set -e", "aside=$(mktemp -d)"]
    for i, path in enumerate(hidden):
        script += [f'mkdir -p "$aside/{i}"', f"mount --bind '{path}' \"$aside/{i}\""]
    script += ["mount -t tmpfs -o mode=0755 tmpfs /root"]
    for i, path in enumerate(hidden):
        script += [f"mkdir -p '{path}'", f"mount --move \"$aside/{i}\" '{path}'"]
    u = UNPRIVILEGED_UID
    script += [f'exec setpriv --reuid {u} --regid {u} --clear-groups --inh-caps=-all --bounding-set=-all -- "$@"']
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", "\n".join(script), "launcher"]


def home_for(identity: str) -> Path:
    """A fresh directory the identity owns, outside root's private temp directories."""
    home = Path(tempfile.mkdtemp(prefix="evalplane-sbx-", dir="/tmp"))
    if identity != "root":
        os.chown(home, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
    return home


def remove_home(home: Path) -> None:
    shutil.rmtree(home, ignore_errors=True)
