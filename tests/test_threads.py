"""Threads: large calls split rows (or column blocks) over OpenMP threads; the count follows
OMP_NUM_THREADS / threadpoolctl; results are bitwise identical for any count; calls from
several Python threads at once stay correct (and only a lone call takes a team)."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastsoftmax
from fastsoftmax import _core, log_softmax, logsumexp, softmax

threadpoolctl = pytest.importorskip("threadpoolctl")

# large enough to pass the driver's threshold for going parallel (32768 elements)
CASES = [
    ("rows", (96, 3000), -1, lambda x: x),
    ("columns", (700, 300), 0, lambda x: x),
    ("strided rows", (200, 1200), -1, lambda x: x[:, ::2]),
    ("3-d middle axis", (8, 500, 40), 1, lambda x: x),
]


def _run_all(x, axis):
    g = np.cos(np.arange(x.size, dtype=x.dtype)).reshape(x.shape)
    y, lp = softmax(x, axis=axis), log_softmax(x, axis=axis)
    tb = (g > 0.3).astype(x.dtype)
    bce = fastsoftmax.binary_cross_entropy_with_logits
    return [y, lp, logsumexp(x, axis=axis),
            fastsoftmax.softmax_grad(y, g, axis=axis), fastsoftmax.log_softmax_grad(lp, g, axis=axis),
            bce(x, tb, reduction="sum"), bce(x, tb, reduction="none")]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name,shape,axis,view", CASES, ids=[c[0] for c in CASES])
def test_results_identical_for_one_and_two_threads(name, shape, axis, view, dtype):
    x = view(np.random.default_rng(7).normal(0, 6, shape).astype(dtype))
    with threadpoolctl.threadpool_limits(limits=1):
        assert _core.max_threads() == 1
        one = _run_all(x, axis)
    with threadpoolctl.threadpool_limits(limits=2):
        two = _run_all(x, axis)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)  # bitwise, NaN-free inputs


def test_omp_num_threads_sets_the_count():
    code = "import fastsoftmax._core as c; print(c.max_threads())"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_threadpoolctl_sees_and_limits_the_openmp_runtime():
    # set both counts explicitly: other libraries in the process (torch, dask) may have
    # lowered the OpenMP default already
    with threadpoolctl.threadpool_limits(limits=2, user_api="openmp"):
        if _core.max_threads() == 1:
            pytest.skip("built without OpenMP")  # a serial build: nothing to control
        assert _core.max_threads() == 2
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert _core.max_threads() == 1


def test_concurrent_python_threads_get_correct_results():
    rng = np.random.default_rng(3)
    inputs = [rng.normal(0, 4, (128, 2048)).astype(np.float32) for _ in range(4)]
    expected = [softmax(x, axis=-1) for x in inputs]
    results = [None] * len(inputs)
    errors = []

    def work(i):
        try:
            for _ in range(5):
                results[i] = softmax(inputs[i], axis=-1)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_more_than_2_to_the_31_elements():
    """64-bit sizes: a zero-stride view repeats one row past 2**31 elements without the
    memory; logsumexp's output is one value per row."""
    row = np.linspace(-5, 5, 1000).astype(np.float32)
    rows = 2**31 // row.size + 7
    x = np.broadcast_to(row, (rows, row.size))
    assert x.size > 2**31
    got = logsumexp(x, axis=1)
    want = np.float32(np.log(np.sum(np.exp(row.astype(np.float64)))))
    assert got.shape == (rows,)
    assert np.all(got == got[0])
    np.testing.assert_allclose(got[0], want, rtol=2e-7)
    assert fastsoftmax.softmax(x[:3], axis=1).shape == (3, row.size)
