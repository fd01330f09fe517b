"""calc_nn.init against torch.nn.init: the exact bounds and standard
deviations, and a Kolmogorov-Smirnov test of the samples (ours and
torch's) against the exact distribution."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from calc_nn import init

SETTINGS = settings(max_examples=40, deadline=None)
# Kolmogorov's asymptotic critical value at significance 0.001:
# P(sqrt(n) D_n > K) -> 2 sum (-1)^(k-1) exp(-2 k^2 K^2) ~ 2 exp(-2 K^2)
KS_ALPHA = 1e-3
KS_K = math.sqrt(-math.log(KS_ALPHA / 2) / 2)  # 1.949...


def ks_statistic(samples, cdf):
    """sup |F_n(x) - F(x)| of the sorted samples against the exact CDF."""
    x = np.sort(np.ravel(samples).astype(np.float64))
    n = len(x)
    f = cdf(x)
    i = np.arange(1, n + 1)
    return max(np.max(i / n - f), np.max(f - (i - 1) / n))


def uniform_cdf(bound):
    return lambda x: np.clip((x + bound) / (2 * bound), 0, 1)


def normal_cdf(std):
    erfc = np.vectorize(math.erfc)
    return lambda x: 0.5 * erfc(-x / (std * math.sqrt(2)))


def assert_distribution(samples, cdf):
    n = np.size(samples)
    d = ks_statistic(samples, cdf)
    assert d * math.sqrt(n) < KS_K, (
        f"KS statistic {d:.4g} with n = {n}: sqrt(n) D = "
        f"{d * math.sqrt(n):.3f} >= {KS_K:.3f} (p < {KS_ALPHA})")


def torch_sample(fn, fan_in, fan_out, **kwargs):
    torch.manual_seed(0)
    w = torch.empty(fan_out, fan_in, dtype=torch.float64)
    fn(w, **kwargs)
    return w.numpy()


# The distributions as torch.nn.init documents them (gain: calculate_gain)
def xavier_bound(fan_in, fan_out, gain=1.0):
    return gain * math.sqrt(6 / (fan_in + fan_out))


def kaiming_std(fan, gain):
    return gain / math.sqrt(fan)


UNIFORM = [  # (ours, torch's, kwargs, bound(fan_in, fan_out))
    (init.xavier_uniform, torch.nn.init.xavier_uniform_, {},
     lambda i, o: xavier_bound(i, o)),
    (init.xavier_uniform, torch.nn.init.xavier_uniform_, {"gain": 5 / 3},
     lambda i, o: xavier_bound(i, o, 5 / 3)),
    (init.kaiming_uniform, torch.nn.init.kaiming_uniform_,
     {"nonlinearity": "relu"},
     lambda i, o: math.sqrt(3) * kaiming_std(i, math.sqrt(2))),
    (init.kaiming_uniform, torch.nn.init.kaiming_uniform_,
     {"nonlinearity": "relu", "mode": "fan_out"},
     lambda i, o: math.sqrt(3) * kaiming_std(o, math.sqrt(2))),
    (init.kaiming_uniform, torch.nn.init.kaiming_uniform_,
     {"a": 0.2, "nonlinearity": "leaky_relu"},
     lambda i, o: math.sqrt(3) * kaiming_std(i, math.sqrt(2 / 1.04))),
    (init.kaiming_uniform, torch.nn.init.kaiming_uniform_,
     {"a": math.sqrt(5), "nonlinearity": "leaky_relu"},
     lambda i, o: 1 / math.sqrt(i)),
]
NORMAL = [  # (ours, torch's, kwargs, std(fan_in, fan_out))
    (init.xavier_normal, torch.nn.init.xavier_normal_, {},
     lambda i, o: math.sqrt(2 / (i + o))),
    (init.xavier_normal, torch.nn.init.xavier_normal_, {"gain": 2.0},
     lambda i, o: 2 * math.sqrt(2 / (i + o))),
    (init.kaiming_normal, torch.nn.init.kaiming_normal_,
     {"nonlinearity": "relu"}, lambda i, o: math.sqrt(2 / i)),
    (init.kaiming_normal, torch.nn.init.kaiming_normal_,
     {"nonlinearity": "tanh", "mode": "fan_out"},
     lambda i, o: 5 / 3 / math.sqrt(o)),
    (init.kaiming_normal, torch.nn.init.kaiming_normal_,
     {"a": 0.1, "nonlinearity": "leaky_relu"},
     lambda i, o: math.sqrt(2 / 1.01 / i)),
]
FANS = [(300, 100), (64, 640)]  # 30,000 and 40,960 samples


@pytest.mark.parametrize("fan_in,fan_out", FANS)
@pytest.mark.parametrize("ours,theirs,kwargs,bound", UNIFORM)
def test_uniform_bounds_and_distribution_match_torch(ours, theirs, kwargs,
                                                     bound, fan_in, fan_out):
    W = ours(fan_in, fan_out, rng=np.random.default_rng(0), **kwargs)
    reference = torch_sample(theirs, fan_in, fan_out, **kwargs)
    a = bound(fan_in, fan_out)
    assert W.shape == (fan_out, fan_in) == reference.shape
    for sample in (W, reference):
        # the bound is reached (with n >= 30,000 samples the largest is
        # within 1e-3 of it with probability 1 - 1e-13) and not passed
        assert a * (1 - 1e-3) < np.abs(sample).max() <= a
        assert_distribution(sample, uniform_cdf(a))


@pytest.mark.parametrize("fan_in,fan_out", FANS)
@pytest.mark.parametrize("ours,theirs,kwargs,std", NORMAL)
def test_normal_std_and_distribution_match_torch(ours, theirs, kwargs, std,
                                                 fan_in, fan_out):
    W = ours(fan_in, fan_out, rng=np.random.default_rng(0), **kwargs)
    reference = torch_sample(theirs, fan_in, fan_out, **kwargs)
    s = std(fan_in, fan_out)
    n = fan_in * fan_out
    for sample in (W, reference):
        # the sample std has standard error s / sqrt(2 n)
        assert abs(sample.std() - s) < 5 * s / math.sqrt(2 * n)
        assert abs(sample.mean()) < 5 * s / math.sqrt(n)
        assert_distribution(sample, normal_cdf(s))


@pytest.mark.parametrize("fan_in,fan_out", [(300, 100), (7, 5000)])
def test_torch_default_linear_is_nn_linear(fan_in, fan_out):
    W, b = init.torch_default_linear(fan_in, fan_out,
                                     rng=np.random.default_rng(0))
    torch.manual_seed(0)
    layer = torch.nn.Linear(fan_in, fan_out, dtype=torch.float64)
    bound = 1 / math.sqrt(fan_in)
    assert W.shape == (fan_out, fan_in) and b.shape == (fan_out,)
    for weight, bias in ((W, b), (layer.weight.detach().numpy(),
                                  layer.bias.detach().numpy())):
        assert bound * (1 - 1e-3) < np.abs(weight).max() <= bound
        assert np.abs(bias).max() <= bound
        assert_distribution(weight, uniform_cdf(bound))
        assert_distribution(bias, uniform_cdf(bound))
    # variance 1 / (3 fan_in)
    assert abs(W.var() * 3 * fan_in - 1) < 0.05


def test_the_ks_test_can_fail():
    """The test rejects a standard deviation 5% off, and a uniform
    distribution for a normal one of the same variance."""
    rng = np.random.default_rng(0)
    with pytest.raises(AssertionError, match="KS statistic"):
        assert_distribution(rng.normal(0, 1.05, 30_000), normal_cdf(1.0))
    with pytest.raises(AssertionError, match="KS statistic"):
        assert_distribution(rng.uniform(-math.sqrt(3), math.sqrt(3),
                                        30_000), normal_cdf(1.0))


@SETTINGS
@given(fan_in=st.integers(1, 50), fan_out=st.integers(1, 50),
       gain=st.floats(0.01, 10), dtype=st.sampled_from(
           [np.float16, np.float32, np.float64]),
       seed=st.integers(0, 2**32 - 1))
def test_any_fans_shape_dtype_and_bounds(fan_in, fan_out, gain, dtype,
                                         seed):
    rng = np.random.default_rng(seed)
    a = xavier_bound(fan_in, fan_out, gain)
    W = init.xavier_uniform(fan_in, fan_out, rng=rng, gain=gain, dtype=dtype)
    assert W.shape == (fan_out, fan_in) and W.dtype == dtype
    # rounding to dtype may move a sample half an ulp past the bound
    assert np.abs(W.astype(np.float64)).max() <= a * (
        1 + np.finfo(dtype).eps)
    for fn in (init.xavier_normal, init.kaiming_uniform,
               init.kaiming_normal):
        assert fn(fan_in, fan_out, rng=rng, dtype=dtype).shape == (
            fan_out, fan_in)
    W, b = init.torch_default_linear(fan_in, fan_out, rng=rng, dtype=dtype)
    assert W.dtype == b.dtype == dtype and b.shape == (fan_out,)


@pytest.mark.parametrize("name,param", [
    ("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
    ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
    ("leaky_relu", 0), ("leaky_relu", math.sqrt(5)), ("selu", None)])
def test_calculate_gain_is_torchs(name, param):
    assert init.calculate_gain(name, param) == \
        torch.nn.init.calculate_gain(name, param)


def _call(fn, **kwargs):
    args = dict(fan_in=3, fan_out=2, rng=np.random.default_rng(0)) | kwargs
    return fn(args.pop("fan_in"), args.pop("fan_out"), **args)


ERRORS = [
    (init.xavier_uniform, dict(fan_in=0), ValueError,
     r"fan_in must be an int >= 1, got 0"),
    (init.xavier_normal, dict(fan_out=-2), ValueError, r"fan_out must be"),
    (init.kaiming_uniform, dict(fan_in=3.0), TypeError,
     r"fan_in must be an int"),
    (init.kaiming_normal, dict(fan_out=True), TypeError,
     r"fan_out must be an int"),
    (init.xavier_uniform, dict(gain=0.0), ValueError,
     r"gain must be a finite number > 0"),
    (init.xavier_normal, dict(gain=np.inf), ValueError,
     r"gain must be a finite number"),
    (init.xavier_uniform, dict(rng=0), TypeError,
     r"rng must be a numpy.random.Generator"),
    (init.torch_default_linear, dict(rng=None), TypeError,
     r"rng must be a numpy.random.Generator"),
    (init.kaiming_uniform, dict(nonlinearity="softplus"), ValueError,
     r"nonlinearity must be one of"),
    (init.kaiming_normal, dict(mode="in"), ValueError,
     r"mode must be one of \['fan_in', 'fan_out'\]"),
    (init.kaiming_uniform, dict(a=0.1), ValueError,
     r"a \(the negative slope\) is used only with "
     r"nonlinearity='leaky_relu', not 'relu'"),
    (init.kaiming_uniform, dict(a=-0.1, nonlinearity="leaky_relu"),
     ValueError, r"a must be a finite number >= 0"),
    (init.kaiming_normal, dict(a=np.nan, nonlinearity="leaky_relu"),
     ValueError, r"a must be a finite number"),
    (init.xavier_uniform, dict(dtype=int), TypeError,
     r"dtype must be a floating dtype"),
    (init.torch_default_linear, dict(dtype=None), TypeError,
     r"dtype must be a floating dtype"),
]


@pytest.mark.parametrize("fn,kwargs,exc,match", ERRORS)
def test_bad_input_is_named(fn, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        _call(fn, **kwargs)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="param .* only with "
                                         "nonlinearity='leaky_relu'"):
        init.calculate_gain("relu", 0.1)
    with pytest.raises(ValueError, match="param must be a finite number"):
        init.calculate_gain("leaky_relu", np.inf)


def test_import_loads_numpy_only():
    code = ("import sys, calc_nn.init; print(sorted(m for m in "
            "('torch', 'sympy', 'plotly', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True,
                         capture_output=True, text=True).stdout
    assert out.strip() == "[]"
