"""A restricted unpickler for the data pickles protogen reads (CIFAR batches and meta, MNIST).

``pickle.load`` runs whatever a file names: a crafted file can call ``os.system`` on load. The
formats we read only ever contain builtin containers, strings, bytes, numbers and numpy arrays,
so :func:`safe_load` admits exactly those reconstructors and refuses everything else before it is
called. It is the only place in protogen that unpickles a file (checkpoints use torch's
``weights_only`` loader; gensim's native pickles load only on explicit request).
"""

from __future__ import annotations

import io
import pickle

from protogen.errors import FileFormatError

# (module, name) pairs a data pickle may name. numpy's array pickles go through
# ``_reconstruct`` + ``ndarray`` + ``dtype`` (and ``scalar`` for 0-d values); numpy 2 writes
# ``numpy._core``, numpy 1 (and the Python 2 CIFAR files) ``numpy.core``.
# Protocol 5 arrays come through ``numeric._frombuffer`` (a view of the pickled bytes).
# ``_codecs.encode`` is how Python 3 protocol-2 pickles store bytes; it only encodes text.
_NUMPY = ("_reconstruct", "scalar")
ALLOWED = frozenset(
    [("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")]
    + [(f"{pkg}.multiarray", name) for pkg in ("numpy.core", "numpy._core") for name in _NUMPY]
    + [(f"{pkg}.numeric", "_frombuffer") for pkg in ("numpy.core", "numpy._core")]
    + [("builtins", name) for name in ("dict", "list", "tuple", "set", "frozenset", "bytes",
                                       "bytearray", "str", "int", "float", "complex", "bool")]
)


_PY2_MODULES = {"__builtin__": "builtins"}


class _DataUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        # Protocol-2 pickles name Python 2 modules; pickle maps them inside find_class.
        key = (_PY2_MODULES.get(module, module), name)
        if key not in ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}")
        if module.startswith("numpy.core"):
            # numpy 2 renamed numpy.core to numpy._core; the old name still imports but warns.
            import numpy

            if int(numpy.__version__.split(".")[0]) >= 2:
                module = "numpy._core" + module[len("numpy.core"):]
        return super().find_class(module, name)


def safe_load(fileobj, *, source: str, encoding: str = "latin1"):
    """Unpickle a data file, admitting only containers, scalars and numpy arrays.

    ``encoding="latin1"`` reads Python 2 pickles (the official CIFAR files) with their numpy
    arrays intact. Anything else the file names, or a corrupt file, is a one-line
    :class:`FileFormatError` naming ``source``; nothing it names is ever called.
    """
    try:
        return _DataUnpickler(fileobj, encoding=encoding).load()
    except pickle.UnpicklingError as exc:
        raise FileFormatError(f"{source}: not a plain data pickle ({exc})") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            OSError) as exc:
        raise FileFormatError(f"{source}: unreadable pickle ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else 'truncated'})") from None


def safe_loads(data: bytes, *, source: str, encoding: str = "latin1"):
    """:func:`safe_load` on bytes already in memory (e.g. a member of a tar archive)."""
    return safe_load(io.BytesIO(data), source=source, encoding=encoding)
