"""Per-candidate probes of what training on a window does to a reference set (the env's opt-in
``influence`` signal, GREATS / MATES style), run on the live learner and leaving it as it was."""

from __future__ import annotations

import copy

import numpy as np
import torch


def first_order_influence(learner, ids, reference) -> np.ndarray:
    """First-order influence [N] of training on each window of ``ids`` [N, L] on the loss of
    ``reference`` [M, L]: ``<grad l_ref(theta), grad l_x(theta)>`` over all parameters (a small SGD step on
    x lowers the reference loss by about lr times this). One forward/backward per window plus one for
    the reference, in eval mode; theta, the optimizer and queued auxiliary losses are untouched."""
    model = learner.model
    was_training = model.training
    model.eval()
    try:
        ref = learner.gradient(reference)
        windows = torch.as_tensor(np.asarray(ids), dtype=torch.long, device=learner.device)
        dots = [ref @ learner.gradient(window[None]) for window in windows]  # on the device: no sync
        return torch.stack(dots).double().cpu().numpy()
    finally:
        model.train(was_training)


def measured_gain(learner, ids, reference) -> np.ndarray:
    """Measured one-step gain [N]: for each window of ``ids`` [N, L], the rise of the mean log-probability
    of ``reference`` [M, L] after one real ``learner.update`` on that window alone (AdamW from the live
    optimizer state, clipping). theta, the optimizer and queued auxiliary losses are restored after every
    probe."""
    saved, aux = copy.deepcopy(learner.state_dict()), learner.take_auxiliary_losses()
    before = learner.log_prob(reference)
    gains = []
    try:
        for window in np.asarray(ids):
            learner.update(np.ones(1), window[None])
            gains.append(learner.log_prob(reference) - before)
            learner.load_state_dict(copy.deepcopy(saved))
    finally:
        learner.load_state_dict(saved)
        learner.restore_auxiliary_losses(aux)
    return np.array(gains)
