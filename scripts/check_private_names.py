"""CI contract: no private name (``_name``) of one neuroseq module is used by another.

A private name is a module's own business; a name another module needs is public (no leading
underscore) and documented.  A package's private module (``tokenizers/_mulaw_kernels.py``) may
be imported by the modules of that package.  Checked with the ``ast`` of every file under the
given roots: ``from neuroseq.a import _x`` and ``m._x`` where ``m`` is a neuroseq module bound
by an import.
Exit 1 listing every use, 0 when there is none.

    python scripts/check_private_names.py neuroseq benchmarks
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _module_of(path: Path) -> str:
    rel = path.resolve().relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def uses(path: Path) -> list[str]:
    """Every cross-module use of a private neuroseq name in the file ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    own = _module_of(path)
    found, modules = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("neuroseq"):
            for a in node.names:
                target = f"{node.module}.{a.name}"
                own_package_module = _is_module(target) and own.startswith(f"{node.module}.")
                if _private(a.name) and node.module != own and not own_package_module:
                    found.append(f"{path}:{node.lineno}: from {node.module} import {a.name}")
                elif _is_module(target):
                    modules[a.asname or a.name] = target
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("neuroseq") and a.asname:
                    modules[a.asname] = a.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in modules and _private(node.attr)
                and modules[node.value.id] != own):
            found.append(f"{path}:{node.lineno}: {modules[node.value.id]}.{node.attr}")
    return found


def main(roots: list[str]) -> int:
    found = [u for r in roots for p in sorted(Path(r).rglob("*.py")) for u in uses(p)]
    for line in found:
        print(line)
    print(f"private names used across modules: {len(found)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["neuroseq"]))
