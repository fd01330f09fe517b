"""calc_nn.mlp.MLP against PyTorch: one forward + backward pass, one process.

The target case is the digits chapter's network, 784-512-256-10 with ReLU,
on a batch of 256 float32 images: ``MLP.forward`` +
``losses.cross_entropy_grad`` + ``MLP.backward`` against ``nn.Sequential``
+ ``F.cross_entropy`` + autograd's ``backward``. Target: calc_nn at most
1.3x torch's time. Two smaller float64 networks (the backpropagation
chapter's sizes) follow, without a target.

Before timing, every gradient is checked against autograd's: its dtype
(float32 must stay float32: a promoted ReLU mask or loss gradient would
double the time) and its values, to the tolerance of float sums as long as
the whole chain (see :func:`chain_terms`). The run exits non-zero only when
a check fails; the ratios are for reading (the machine is shared and
noisy).

    python benchmarks/bench_mlp.py
"""

# _harness first: it sets the BLAS threads before NumPy is imported
import _harness
import numpy as np
import torch
import torch.nn.functional as tF

from calc_nn import losses
from calc_nn.mlp import MLP

TARGET = "784-512-256-10 float32"
CASES = [([784, 512, 256, 10], 256, np.float32),
         ([2, 64, 64, 3], 256, np.float64),
         ([100, 256, 256, 10], 512, np.float64)]


def chain_terms(sizes, n):
    """Summands on the longest chain of float sums behind a gradient: the
    forward products (one sum of ``sizes[l]`` terms per layer), the
    backward ones (``sizes[l + 1]`` terms for each delta) and the sum over
    the batch of ``n`` examples; their errors add."""
    return sum(sizes[:-1]) + sum(sizes[1:]) + n


def torch_twin(model):
    """``nn.Sequential`` of Linear + ReLU with the model's weights."""
    dtype = getattr(torch, model.dtype.name)
    mods = []
    for l, (n_in, n_out) in enumerate(zip(model.layer_sizes[:-1],
                                          model.layer_sizes[1:])):
        lin = torch.nn.Linear(n_in, n_out).to(dtype)
        mods += [lin] if l == model.n_layers - 1 else [lin, torch.nn.ReLU()]
    net = torch.nn.Sequential(*mods)
    with torch.no_grad():
        for p, q in zip(model.params, net.parameters()):
            q.copy_(torch.from_numpy(p))
    return net


def compare(sizes, n, dtype):
    """Check, then time one case; returns its row for the ratio table."""
    rng = np.random.default_rng(0)
    X = rng.random((n, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], n)
    model = MLP(sizes, "relu", seed=0, dtype=dtype)
    net = torch_twin(model)
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)

    def ours():
        logits, cache = model.forward(X)
        return model.backward(losses.cross_entropy_grad(logits, y), cache)

    def theirs():
        net.zero_grad()
        tF.cross_entropy(net(tX), ty).backward()

    name = f"{'-'.join(map(str, sizes))} {np.dtype(dtype).name}"
    grads = ours()
    theirs()
    promoted = [g.dtype.name for g in grads if g.dtype != dtype]
    if promoted:
        _harness.FAILED.append(f"{name} dtype")
        print(f"   CHECK FAILED {name}: gradients promoted to {promoted}")
    for pname, g, q in zip(model.param_names, grads, net.parameters()):
        _harness.check_close(f"{name} {pname}", g, q.grad.numpy(),
                             n_terms=chain_terms(sizes, n))
    return name, _harness.best_of(ours), _harness.best_of(theirs)


def main():
    _harness.print_machine("calc_nn.mlp.MLP forward + backward against "
                           "PyTorch (nn.Linear, ReLU, autograd)")
    rows = [compare(sizes, n, dtype) for sizes, n, dtype in CASES]
    _harness.report(rows, targets={TARGET: 1.3})
    _harness.finish()


if __name__ == "__main__":
    main()
