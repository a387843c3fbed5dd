"""The installed package is a well-kept one: type information that matches the runtime
(py.typed, __init__.pyi, _core.pyi), one version everywhere.

A type checker reads __init__.pyi instead of __init__.py and _core.pyi for the compiled
module, so a public name missing from a stub is invisible to it: these tests fail when the
stubs and the code drift apart. They run against the installed package (the wheel in
tools/check_wheel.sh and cibuildwheel), so they also check that the wheel carries the stubs.
"""
import ast
import importlib.metadata
import pathlib
import shutil
import subprocess
import types

import pytest

import fastsoftmax
from fastsoftmax import _core

PKG = pathlib.Path(fastsoftmax.__file__).resolve().parent


def _stub(name):
    path = PKG / name
    assert path.is_file(), f"{name} is not installed beside {fastsoftmax.__file__}"
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _bound_names(tree):
    """Names a stub module binds at top level: defs, classes, assignments, imports."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _stub_all(tree):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                for t in node.targets):
            return ast.literal_eval(node.value)
    return None


def test_py_typed_installed():
    assert (PKG / "py.typed").is_file(), "py.typed missing: type checkers would ignore the stubs"


def test_init_stub_matches_public_names():
    tree = _stub("__init__.pyi")
    assert _stub_all(tree) == fastsoftmax.__all__, "__all__ differs between __init__.pyi and __init__.py"
    missing = sorted(set(fastsoftmax.__all__) - _bound_names(tree))
    assert not missing, f"public names not typed in __init__.pyi: {missing}"


def test_show_config_keys_typed():
    """show_config()'s dict has the keys of the TypedDict _Config in __init__.pyi."""
    config_class = next(node for node in _stub("__init__.pyi").body
                        if isinstance(node, ast.ClassDef) and node.name == "_Config")
    typed = [n.target.id for n in config_class.body if isinstance(n, ast.AnnAssign)]
    assert sorted(fastsoftmax.show_config(print_=False)) == sorted(typed)


def test_core_stub_matches_compiled_module():
    runtime = {name for name, value in vars(_core).items()
               if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    stubbed = {name for name in _bound_names(_stub("_core.pyi")) if not name.startswith("_")}
    stubbed -= {"Any", "Final", "TypeVar", "np"}  # the stub's own imports
    assert sorted(runtime - stubbed) == [], "in _core but not in _core.pyi"
    assert sorted(stubbed - runtime) == [], "in _core.pyi but not in _core"


def test_one_version():
    """__version__ (src/fastsoftmax/_version.py) is the installed distribution's version."""
    try:
        installed = importlib.metadata.version("fastsoftmax")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("fastsoftmax is not installed as a distribution")
    assert fastsoftmax.__version__ == installed
    assert fastsoftmax.show_config(print_=False)["version"] == installed


def test_check_wheel_script_parses():
    """tools/check_wheel.sh (the wheel check of .ci/run) is valid bash, where the tree has it."""
    script = pathlib.Path(__file__).resolve().parent.parent / "tools" / "check_wheel.sh"
    if not script.exists():
        pytest.skip(f"{script} not in this tree")
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    proc = subprocess.run([bash, "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
