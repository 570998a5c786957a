"""The package layout's dependency rules (docs/architecture.md): `core` imports no feature, no
import circle crosses packages, and each feature registers the runtime settings it reads."""

from __future__ import annotations

import ast
from pathlib import Path

BLOG = Path(__file__).resolve().parents[2] / "blog"
# What `core` may import of the project: itself and the unbound extensions / settings loader.
BELOW_FEATURES = ("blog.core", "blog.extensions", "blog.config")


def _module(path: Path) -> str:
    parts = path.relative_to(BLOG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in BLOG.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """Every project module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                # `from blog.ops import services` imports the module blog.ops.services.
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m in MODULES}


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_core_imports_no_feature():
    offenders = {
        f"{path.relative_to(BLOG.parent)} imports {module}"
        for path in (BLOG / "core").glob("*.py")
        for module in _imports(path)
        if not module.startswith(BELOW_FEATURES)
    }
    assert not offenders, sorted(offenders)


def test_no_import_circle_crosses_packages():
    graph = {module: _imports(path) - {module} for module, path in MODULES.items()}
    # Tarjan's strongly connected components: each component of more than one module is a
    # circle; a circle inside one package is that package's business, one across is a defect.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len({_package(m) for m in component}) > 1:
                circles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            connect(module)
    assert not circles, circles


def test_each_feature_registers_its_runtime_settings(app):
    from blog.core.settings import SETTINGS

    owners = {key: setting_module(key) for key in SETTINGS}
    assert owners == {
        "maintenance": "blog.ops.maintenance",
        "monitoring": "blog.ops.monitoring",
        "feature_flags": "blog.auth.policy",
        "retention": "blog.auth.policy",
        "rate_limits": "blog.auth.limits",
        "chat": "blog.chat.services",
        "uploads": "blog.uploads.services",
        "moderation": "blog.flags.services",
        "new_accounts": "blog.safety.newcomers",
    }


def setting_module(key: str) -> str:
    """The module whose top level calls register_setting(key, ...)."""
    for path in BLOG.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            call = getattr(node, "value", None)
            if (
                isinstance(call, ast.Call)
                and getattr(call.func, "id", None) == "register_setting"
                and call.args
                and isinstance(call.args[0], ast.Constant)
                and call.args[0].value == key
            ):
                return ".".join(path.relative_to(BLOG.parent).with_suffix("").parts)
    return "(nowhere)"
