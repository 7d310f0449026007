"""Shared test set-up: hypothesis profiles and the device parameter.

Profiles: 'fast' (the default, for `make test`: few derandomized examples, so the
suite is quick and repeatable) and 'thorough' (`make test-thorough`).
Every test that takes the `device` fixture runs on 'cpu' and on 'cuda'; the
CUDA run skips cleanly when CuPy or a GPU is missing.
"""
import os

import pytest
from hypothesis import settings, HealthCheck

import autograd

settings.register_profile('fast', max_examples=15, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile('thorough', max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'fast'))


@pytest.fixture(params=['cpu', 'cuda'])
def device(request):
    if request.param == 'cuda' and not autograd.gpu_available():
        pytest.skip('CUDA needs CuPy and an NVIDIA GPU')
    return request.param
