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
