"""The built-in latent models: distribution argument checks are off by default and can be turned on."""
import pytest
import torch

from vaekit import VIMCO, BernoulliDecoder, BernoulliEncoder, GaussianEncoder, SigmoidBeliefNet


@pytest.mark.parametrize("make", [lambda v: (BernoulliEncoder(4, 2, validate_args=v), SigmoidBeliefNet(2, 4, validate_args=v)),
                                  lambda v: (GaussianEncoder(4, 2, validate_args=v), BernoulliDecoder(2, 4, validate_args=v))])
def test_validation_is_off_by_default_and_catches_non_binary_data_when_on(make):
    x = torch.full((3, 4), 0.5)  # not 0/1: a Bernoulli likelihood is not a density of these values
    q, p = make(False)
    z = q(x).sample(2)
    assert torch.isfinite(p(x, z).log_prob(x, z)).all()  # unchecked, as documented
    q, p = make(True)
    z = q(x).sample(2)
    with pytest.raises(ValueError, match="support"):
        p(x, z).log_prob(x, z)


def test_defaults_give_the_same_log_probs_as_validated_models():
    torch.manual_seed(0)
    q, p = BernoulliEncoder(5, 3), SigmoidBeliefNet(3, 5)
    qv, pv = BernoulliEncoder(5, 3, validate_args=True), SigmoidBeliefNet(3, 5, validate_args=True)
    qv.load_state_dict(q.state_dict())
    pv.load_state_dict(p.state_dict())
    x = torch.bernoulli(torch.full((4, 5), 0.4))
    torch.manual_seed(1)
    a = VIMCO(q, p, n_samples=3)(x)
    torch.manual_seed(1)
    b = VIMCO(qv, pv, n_samples=3)(x)
    assert torch.equal(a, b)
