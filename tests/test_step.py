"""``make_train_step``: the compiled step trains, equals the eager loop, and compiles once.

Compiled runs use the ``aot_eager`` backend in the default suite (its random ops run the eager
ATen kernels, so compiled and eager steps draw the same numbers and agree to float rounding);
one Inductor run, with ``fallback_random`` for the same reason, is marked ``slow`` (a CPU
Inductor compile of a loss, its backward and Adam takes tens of seconds here). CUDA graph
capture needs a GPU: ``VAEKIT_DEVICE=cuda`` runs the capture test.
"""

import math
import os

import pytest
import torch
import torch._dynamo
import torch._inductor.config
from torch._dynamo.testing import CompileCounterWithBackend

import vaekit
from vaekit import make_train_step

D, H, B = 12, 4, 16
DEVICE = os.environ.get("VAEKIT_DEVICE", "cpu")


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _setup(estimator=vaekit.VIMCO, **kw):
    torch.manual_seed(1234)
    loss_fn = estimator(vaekit.BernoulliEncoder(D, H), vaekit.SigmoidBeliefNet(H, D), n_samples=4, **kw).to(DEVICE)
    opt = torch.optim.Adam(loss_fn.parameters(), lr=1e-2)
    return loss_fn, opt


def _batches(n):
    g = torch.Generator().manual_seed(5)
    probs = torch.rand(D, generator=g) * 0.8 + 0.1
    return [torch.bernoulli(probs.expand(B, D), generator=g).to(DEVICE) for _ in range(n)]


def _manual_loop(loss_fn, opt, xs):
    out = []
    for x in xs:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(x)
        loss.backward()
        opt.step()
        out.append(loss.detach())
    return out


def test_eager_step_is_exactly_the_hand_written_loop():
    xs = _batches(5)
    loss_a, opt_a = _setup()
    torch.manual_seed(0)
    ref = _manual_loop(loss_a, opt_a, xs)
    loss_b, opt_b = _setup()
    step = make_train_step(loss_b, opt_b, compile=False)
    torch.manual_seed(0)
    got = [step(x) for x in xs]
    assert not step.compiled and not step.captured
    for a, b in zip(ref, got):
        assert torch.equal(a, b) and not b.requires_grad and b.shape == ()
    for (n, pa), pb in zip(loss_a.named_parameters(), loss_b.parameters()):
        assert torch.equal(pa, pb), n
    assert loss_b.loss_history_ == loss_a.loss_history_


@pytest.mark.parametrize("estimator", [vaekit.VIMCO, vaekit.RWS])
def test_compiled_step_matches_eager_and_does_not_recompile(estimator):
    xs = _batches(12)
    loss_a, opt_a = _setup(estimator)
    torch.manual_seed(0)
    ref = _manual_loop(loss_a, opt_a, xs)
    loss_b, opt_b = _setup(estimator)
    counter = CompileCounterWithBackend("aot_eager")
    step = make_train_step(loss_b, opt_b, backend=counter)
    assert step.compiled and not step.captured
    torch.manual_seed(0)
    got, frames = [], []
    for x in xs:
        got.append(step(x))
        frames.append(counter.frame_count)
    assert frames[0] == 0  # the first step runs eagerly (optimiser state, data checks)
    assert frames[1] >= 1  # the second compiles ...
    assert frames[-1] == frames[1], f"recompiled during training: {frames}"  # ... and nothing after
    torch.testing.assert_close(torch.stack(got), torch.stack(ref), rtol=1e-5, atol=1e-5)
    for (n, pa), pb in zip(loss_a.named_parameters(), loss_b.parameters()):
        torch.testing.assert_close(pb, pa, rtol=1e-4, atol=1e-5, msg=lambda m, n=n: f"{n}: {m}")


def test_gradient_clipping_matches_the_hand_written_loop():
    xs = _batches(4)
    loss_a, opt_a = _setup()
    torch.manual_seed(0)
    for x in xs:
        opt_a.zero_grad(set_to_none=True)
        loss_a(x).backward()
        torch.nn.utils.clip_grad_norm_(list(loss_a.parameters()), 0.1)
        opt_a.step()
    loss_b, opt_b = _setup()
    step = make_train_step(loss_b, opt_b, backend="aot_eager", clip_grad_norm=0.1)
    torch.manual_seed(0)
    for x in xs:
        step(x)
    for (n, pa), pb in zip(loss_a.named_parameters(), loss_b.parameters()):
        torch.testing.assert_close(pb, pa, rtol=1e-4, atol=1e-6, msg=lambda m, n=n: f"{n}: {m}")
    with pytest.raises(ValueError, match="clip_grad_norm"):
        make_train_step(loss_b, opt_b, clip_grad_norm=0)


def test_compiled_step_trains():
    # A 12-pixel data distribution with independent pixels; 150 Adam steps at lr 1e-2 raise the
    # bound well above its value at initialisation (deterministic: fixed seeds, no tolerance games).
    xs = _batches(150)
    loss_fn, opt = _setup(check_finite=False)
    step = make_train_step(loss_fn, opt, backend="aot_eager")
    torch.manual_seed(0)
    losses = torch.stack([step(x) for x in xs]).cpu()
    assert losses[-20:].mean() < losses[:20].mean() - 0.5, (losses[:20].mean(), losses[-20:].mean())


def test_target_is_passed_through():
    loss_fn, opt = _setup()
    step = make_train_step(loss_fn, opt, compile=False)
    x = _batches(1)[0]
    assert torch.isfinite(step(x, x))


def test_bad_arguments_raise_clear_errors():
    loss_fn, opt = _setup()
    with pytest.raises(TypeError, match="loss_fn"):
        make_train_step(lambda x: x, opt)
    with pytest.raises(TypeError, match="optimizer"):
        make_train_step(loss_fn, "adam")
    with pytest.raises(TypeError, match="compile"):
        make_train_step(loss_fn, opt, compile="yes")
    if DEVICE == "cpu":
        with pytest.raises(ValueError, match="CUDA"):
            make_train_step(loss_fn, opt, capture=True)
    with pytest.raises(ValueError, match="compile=True"):
        make_train_step(loss_fn, opt, compile=False, capture=True)


def test_the_first_eager_step_runs_the_data_checks_that_compiled_code_skips():
    loss_fn, opt = _setup()
    step = make_train_step(loss_fn, opt, backend="aot_eager")
    with pytest.raises(ValueError, match="must be 0/1"):
        step(_batches(1)[0] * 255)


@pytest.mark.slow
def test_inductor_step_matches_eager():
    xs = _batches(6)
    with torch._inductor.config.patch(fallback_random=True):
        loss_a, opt_a = _setup(check_finite=False)
        torch.manual_seed(0)
        ref = _manual_loop(loss_a, opt_a, xs)
        loss_b, opt_b = _setup(check_finite=False)
        step = make_train_step(loss_b, opt_b)
        torch.manual_seed(0)
        got = [step(x) for x in xs]
    torch.testing.assert_close(torch.stack(got), torch.stack(ref), rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(DEVICE != "cuda" or not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_captured_step_on_cuda_trains_without_recompiling():
    xs = _batches(30)
    loss_fn, opt = _setup(check_finite=False)
    step = make_train_step(loss_fn, opt)
    assert step.captured
    losses = [step(x) for x in xs]
    assert all(torch.isfinite(v) for v in losses)
    assert len(loss_fn.loss_history_) == 30


def test_fit_runs_a_compiled_step_through_its_train_step_slot():
    # fit(..., optimizer=opt, train_step=make_train_step(loss_fn, opt)): the documented way to train
    # with a compiled step. The history has one finite float per step, and the compiled losses
    # equal an eager run of the same steps on the same batches (same seeds, aot_eager backend).
    xs = torch.cat(_batches(4))  # [64, D]: four batches of B
    results = []
    for compile_ in (False, True):
        loss_fn, opt = _setup()
        step = make_train_step(loss_fn, opt, compile=compile_, backend="aot_eager")
        result = vaekit.fit(loss_fn, xs, steps=8, batch_size=B, optimizer=opt, train_step=step, seed=3, progress=False)
        assert len(result.history) == 8 and all(map(math.isfinite, result.history))
        results.append(torch.tensor(result.history))
    torch.testing.assert_close(results[1], results[0], rtol=1e-5, atol=1e-5)
