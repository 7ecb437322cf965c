"""The package's layers, bottom to top: each folder imports only from the ones below it (a function's
own late imports included), never from one above, and no modules import each other in a circle.
`interpret` sits below `models`: it defines the small interface models implement
(`interpret/interface.py`) and imports no model."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path("attention_perturb")
LAYERS = ["(helpers)", "data", "substitutions", "modules", "perturbations", "interpret", "models", "predictors",
          "training", "robustness", "serve", "experiments", "tune", "commands"]


def module_name(path: Path) -> str:
    parts = path.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (PACKAGE / parts[1]).is_dir() else "(helpers)"


def imports() -> dict:
    """module -> the package's modules it imports; the package's own __init__ (which imports every
    layer to register their classes) left out."""
    modules = {module_name(path) for path in PACKAGE.rglob("*.py")}
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        if name == "attention_perturb":
            continue
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("attention_perturb"):
                # `from package import module` imports that module
                targets |= {f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                            for alias in node.names}
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names if alias.name.startswith("attention_perturb")}
        found[name] = targets - {"attention_perturb"}
    return found


def test_every_folder_of_the_package_has_a_layer():
    folders = {path.name for path in PACKAGE.iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    assert folders == set(LAYERS) - {"(helpers)"}


def test_no_module_imports_from_a_layer_above_its_own():
    upward = [f"{module} -> {target}" for module, targets in imports().items() for target in sorted(targets)
              if LAYERS.index(layer(target)) > LAYERS.index(layer(module))]
    assert upward == []


def test_no_modules_import_each_other_in_a_circle():
    graph = imports()
    # A package's __init__ is imported with each of its modules: its imports are theirs.
    resolved = {module: {target for target in targets if target in graph} for module, targets in graph.items()}
    visiting, done, circles = set(), set(), []

    def visit(module, path):
        if module in visiting:
            circles.append(" -> ".join(path[path.index(module):] + [module]))
            return
        if module in done:
            return
        visiting.add(module)
        for target in sorted(resolved[module]):
            visit(target, path + [module])
        visiting.discard(module)
        done.add(module)

    for module in sorted(resolved):
        visit(module, [])
    assert circles == []


@pytest.mark.parametrize("module, target", [("attention_perturb.interpret.agreement", "attention_perturb.models.adversarial"),
                                            ("attention_perturb.experiments.table2", "attention_perturb.tune.search")])
def test_the_rule_catches_an_upward_import(module, target):
    assert LAYERS.index(layer(target)) > LAYERS.index(layer(module))
