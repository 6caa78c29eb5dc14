"""protogen: hyperspherical prototypes — solvers, prototype files and a torch trainer.

Pipeline: sphere geometry and energies -> solvers -> prototype file (io) -> trainer / bench -> CLI.
"""

__version__ = "0.1.0"

from protogen.errors import ProtogenError  # noqa: E402,F401
