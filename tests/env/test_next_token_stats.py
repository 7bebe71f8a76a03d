"""The one next-token formula: NLL and entropy checked against torch's cross-entropy and the definition."""

import pytest
import torch
import torch.nn.functional as F

from curriculum_env.models import next_token_stats, token_nll


@pytest.mark.parametrize("shape", [(3, 5, 11), (2, 17, 64), (4, 63, 1000)])
def test_nll_equals_cross_entropy_bit_for_bit_in_value_gradient_and_sum(shape):
    torch.manual_seed(sum(shape))
    b, t, v = shape
    logits = (3 * torch.randn(b, t, v)).requires_grad_()
    ids = torch.randint(0, v, (b, t))
    ours = token_nll(logits, ids)
    (g_ours,) = torch.autograd.grad(ours.mean(), logits)
    targets = torch.full_like(ids, -100)
    targets[:, :-1] = ids[:, 1:]
    theirs = F.cross_entropy(logits.reshape(-1, v), targets.reshape(-1), reduction="none").view(b, t)[:, :-1]
    (g_theirs,) = torch.autograd.grad(theirs.mean(), logits)
    assert torch.equal(ours, theirs) and torch.equal(g_ours, g_theirs)
    # the same layout, so a reduction adds in the same order: the test NLL sums bit for bit too
    assert ours.stride() == theirs.stride() and torch.equal(ours.sum(), theirs.sum())


def test_entropy_is_the_predictive_entropy_and_leaves_the_nll_as_it_was():
    torch.manual_seed(0)
    logits, ids = torch.randn(2, 6, 9, dtype=torch.float32), torch.randint(0, 9, (2, 6))
    nll, entropy = next_token_stats(logits, ids, entropy=True)
    p = logits[:, :-1].double().softmax(-1)
    torch.testing.assert_close(entropy.double(), -(p * p.log()).sum(-1), rtol=1e-5, atol=1e-6)
    assert torch.equal(nll, token_nll(logits, ids))
    assert next_token_stats(logits, ids)[1] is None
    assert not next_token_stats(logits.requires_grad_(), ids, entropy=True)[1].requires_grad
