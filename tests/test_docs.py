"""The examples in the public docstrings run and print what they say (doctest)."""
import doctest

import pytest

import fastsoftmax
from fastsoftmax import _api

FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def test_api_doctests():
    result = doctest.testmod(_api, optionflags=FLAGS, verbose=False, report=True)
    assert result.attempted > 0, "no doctests found in fastsoftmax._api"
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed (see stdout)"


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_public_function_has_examples(name):
    """Each public function documents itself with at least one runnable example, and its
    examples pass on their own (a failure names the function)."""
    func = getattr(fastsoftmax, name)
    tests = doctest.DocTestFinder(recurse=False).find(func, name, globs={})
    examples = [ex for t in tests for ex in t.examples]
    assert examples, f"{name} has no doctest examples"
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for t in tests:
        runner.run(t)
    assert runner.failures == 0, f"{runner.failures} failing example(s) in {name}'s docstring (see stdout)"


def test_readme_examples_run_as_shown():
    """The README's >>> examples print what they claim (skipped outside a source checkout)."""
    import pathlib

    readme = pathlib.Path(__file__).resolve().parents[1] / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not beside the tests (installed-wheel run)")
    text = readme.read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```python")[1:]]
    examples = "\n".join(b for b in blocks if ">>>" in b)
    test = doctest.DocTestParser().get_doctest(examples, {}, "README", str(readme), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0, f"{runner.failures} README example(s) failed (see stdout)"
