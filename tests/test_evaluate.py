"""Tests for vaekit.evaluate: the chunked IWAE_K bound (exact combination of chunks, bounded memory)
and evaluate_iwae on a whole split or a named seeded subset."""

import math

import pytest
import torch

import vaekit
from vaekit.evaluate import IWAEEvaluation, evaluate_iwae, iwae_bound


class _CountingInf(vaekit.InfNet):
    """q that 'draws' z = 0, 1, 2, ... in order (continuing across calls) and scores every draw 0.

    Records the largest batch and sample count of any one call, to check that memory stays bounded.
    """

    def __init__(self):
        super().__init__()
        self.next_z, self.max_b, self.max_k, self.rows = 0, 0, 0, []

    def forward(self, x):
        self.x = x
        self.rows += x[:, 0].long().tolist()
        self.max_b = max(self.max_b, x.shape[0])
        return self

    def sample(self, n_samples):
        self.max_k = max(self.max_k, n_samples)
        z = torch.arange(self.next_z, self.next_z + n_samples, dtype=torch.float64)  # [k]
        self.next_z += n_samples
        return z.expand(self.x.shape[0], n_samples).unsqueeze(-1)  # [b, k, 1]

    def log_prob(self, z):
        return torch.zeros(z.shape[:2], dtype=z.dtype)  # [b, k]


class _Gen(vaekit.GenModel):
    """log p(x, z) = x * sin(z): a known function of the draw index."""

    def forward(self, x, z):
        return self

    def log_prob(self, x, z):
        return x[:, :1] * torch.sin(z[..., 0])  # [b, k]

    def sample(self, n):
        raise NotImplementedError


def test_chunked_bound_equals_the_unchunked_log_mean_exp_and_memory_is_bounded():
    x = torch.arange(1.0, 8.0, dtype=torch.float64).unsqueeze(1)  # [7, 1]
    q = _CountingInf()
    got = iwae_bound(q, _Gen(), x, n_samples=1000, batch_size=3, chunk_samples=128)  # [7]
    assert q.max_b == 3 and q.max_k == 128  # never more than a batch of 3 and a chunk of 128 at once
    # Batch j draws z = 1000 * j + (0..999) (batches of 3, 3, 1); the bound is log mean exp over them.
    expected = []
    for i in range(7):
        z = torch.arange(1000 * (i // 3), 1000 * (i // 3) + 1000, dtype=torch.float64)
        expected.append(torch.logsumexp(x[i, 0] * torch.sin(z), 0) - math.log(1000))
    torch.testing.assert_close(got, torch.stack(expected), rtol=1e-12, atol=1e-12)


def test_iwae_bound_on_a_toy_with_an_exact_posterior_is_log_p():
    # q(z|x) = p(z|x) exactly gives every importance weight the value p(x): IWAE_K = log p(x) for any K.
    # Model: z ~ N(0, 1), x | z ~ N(z, 1), so p(x) = N(x; 0, 2) and p(z|x) = N(x/2, 1/2).
    class Post(vaekit.DistributionInfNet):
        def distribution(self, x):
            return torch.distributions.Independent(torch.distributions.Normal(x / 2, math.sqrt(0.5)), 1)

    class Joint(vaekit.DistributionGenModel):
        def prior(self):
            return torch.distributions.Independent(torch.distributions.Normal(torch.zeros(1), torch.ones(1)), 1)

        def likelihood(self, z):
            return torch.distributions.Independent(torch.distributions.Normal(z, 1.0), 1)

    x = torch.linspace(-2, 2, 5).unsqueeze(1)  # [5, 1]
    got = iwae_bound(Post(), Joint(), x, n_samples=300, chunk_samples=64)
    expected = torch.distributions.Normal(0.0, math.sqrt(2.0)).log_prob(x[:, 0])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_evaluate_iwae_uses_the_whole_split_by_default():
    data = torch.arange(250.0, dtype=torch.float64).unsqueeze(1) / 250  # [250, 1]
    q = _CountingInf()
    result = evaluate_iwae(q, _Gen(), data, n_samples=10, batch_size=64, progress=False)
    assert sorted(q.rows) == sorted(data[:, 0].long().tolist()) and len(q.rows) == 250
    assert isinstance(result, IWAEEvaluation) and result.n_points == result.n_total == 250
    assert result.subset_seed is None and "the whole test split (250 points)" in str(result)


def test_evaluate_iwae_subset_is_seeded_random_and_named():
    data = torch.arange(1000.0, dtype=torch.float64).unsqueeze(1)  # row i holds i
    q = _CountingInf()
    result = evaluate_iwae(q, _Gen(), data, n_samples=4, subset=100, seed=3, progress=False, name="valid")
    expected = torch.randperm(1000, generator=torch.Generator().manual_seed(3))[:100]
    assert q.rows == expected.tolist()  # the seeded random rows, not the first 100
    assert max(q.rows) > 500
    assert str(result).endswith("on a random subset of 100 of the 1000 valid points (seed 3)")
    # Mean and standard error are those of the per-point bounds.
    q2 = _CountingInf()
    per_point = iwae_bound(q2, _Gen(), data[expected], n_samples=4)
    assert result.mean == pytest.approx(per_point.mean().item())
    assert result.stderr == pytest.approx(per_point.std().item() / 10)


def test_evaluate_iwae_restores_training_mode_and_shows_a_bar(capsys):
    q, p = vaekit.BernoulliEncoder(6, 3), vaekit.SigmoidBeliefNet(3, 6)
    data = torch.bernoulli(torch.full((40, 6), 0.5))
    result = evaluate_iwae(q, p, data, n_samples=1000, batch_size=16, progress=True)
    assert q.training and p.training
    assert "IWAE_1000" in capsys.readouterr().err
    assert -6 * math.log(2) * 3 < result.mean < 0


def test_errors():
    q, p = vaekit.BernoulliEncoder(6, 3), vaekit.SigmoidBeliefNet(3, 6)
    with pytest.raises(ValueError, match="subset must be an int in \\[1, 4\\]"):
        evaluate_iwae(q, p, torch.ones(4, 6), subset=5, progress=False)
    with pytest.raises(ValueError, match="n_samples must be a positive int"):
        iwae_bound(q, p, torch.ones(4, 6), n_samples=0)
    with pytest.raises(ValueError, match="target must be a tensor with x's 4 rows"):
        iwae_bound(q, p, torch.ones(4, 6), target=torch.ones(3, 6))
    with pytest.raises(TypeError, match="x must be a tensor"):
        iwae_bound(q, p, [[1.0] * 6])
