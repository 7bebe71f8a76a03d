"""Downstream evaluation: the built-in multiple-choice metric, the Hugging Face export and lm-eval on it."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from curriculum_env.evaluation import choice_accuracy, choice_items, completion_accuracy, write_lm_eval_task
from curriculum_env.models import token_nll
from tests.conftest import make_tiny


def test_items_hold_the_true_continuation_once_at_the_label():
    windows = np.arange(40 * 6).reshape(40, 6)  # every token unique: a continuation names its window
    items = choice_items(windows, num_choices=4, seed=3)
    assert items.ids.shape == (40, 4, 6) and items.split == 3 and items.chance == 0.25
    for i in range(40):
        np.testing.assert_array_equal(items.ids[i, :, :3], np.repeat(windows[i:i + 1, :3], 4, 0))
        owners = [int(row[3]) // 6 for row in items.ids[i]]  # whose second half each choice is
        assert owners[items.label[i]] == i and owners.count(i) == 1 and len(set(owners)) == 4
    assert len(set(items.label.tolist())) == 4  # the true one is not always in the same place
    again = choice_items(windows, num_choices=4, seed=3)
    np.testing.assert_array_equal(items.ids, again.ids)
    with pytest.raises(ValueError, match="num_choices"):
        choice_items(windows[:2], num_choices=3)


def trained_tiny(seed: int):
    """A tiny env after five uniform steps (a model that is neither random nor fixed), unwrapped."""
    env = make_tiny()
    env.reset(seed=seed)
    for _ in range(5):
        env.step(np.ones(8, dtype=np.float32))
    return env.unwrapped


def test_accuracy_is_the_argmax_of_the_continuation_log_likelihood():
    u = trained_tiny(0)
    items = u.choice_items(num_choices=3)
    acc, correct = choice_accuracy(u.learner, items)
    model = u.learner.model.eval()
    with torch.no_grad():  # by hand: log p(token t | tokens < t) summed over the continuation
        ids = torch.from_numpy(items.ids.reshape(-1, items.ids.shape[-1]))
        nll = token_nll(model(input_ids=ids).logits, ids)[:, items.split - 1:].double().sum(-1)
    by_hand = (-nll).numpy().reshape(items.ids.shape[:2]).argmax(1) == items.label
    np.testing.assert_array_equal(correct, by_hand)
    assert acc == pytest.approx(by_hand.mean()) and u.evaluate_choice(3) == acc


def test_completion_accuracy_is_the_share_of_second_half_tokens_the_top_guess_gets_right():
    u = trained_tiny(1)
    ids = np.array(u.data.test.ids)
    with torch.no_grad():  # by hand: the argmax at position t - 1 against token t, for t in the second half
        logits = u.learner.model.eval()(input_ids=torch.from_numpy(ids)).logits
    half = ids.shape[1] // 2
    by_hand = (logits[:, half - 1:-1].argmax(-1).numpy() == ids[:, half:]).mean()
    assert u.evaluate_completion() == pytest.approx(by_hand) and 0 < by_hand < 1
    assert completion_accuracy(u.learner, ids[:, :2]) == float((logits[:, 0].argmax(-1).numpy() == ids[:, 1]).mean())
    with pytest.raises(ValueError, match="non-empty"):
        completion_accuracy(u.learner, ids[:0])


def test_export_round_trips_through_auto_model(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    env = make_tiny()
    env.reset(seed=2)
    for _ in range(3):
        env.step(np.ones(8, dtype=np.float32))
    u = env.unwrapped
    folder = u.export_model(tmp_path / "lm")
    loaded = AutoModelForCausalLM.from_pretrained(folder).eval()
    ids = torch.from_numpy(np.array(u.data.test.ids[:4]))
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=ids).logits, u.learner.model.eval()(input_ids=ids).logits,
                                   rtol=0, atol=0)
    tok = AutoTokenizer.from_pretrained(folder)
    text = "def f(x): return x"
    assert tok(text)["input_ids"] == u.learner.tokenizer(text)["input_ids"]
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        u.export_model(tmp_path / "file")


@pytest.mark.parametrize("init", ["random", "base"])
def test_lm_eval_scores_an_exported_run_offline(tmp_path, monkeypatch, init):
    pytest.importorskip("lm_eval")
    from curriculum_env import base_model

    monkeypatch.setattr(base_model, "RECIPE", base_model.BaseRecipe(steps=4, batch_size=8, warmup_steps=1))
    env = make_tiny(init=init)  # a warm run: continued pre-training from the (four-step) base model
    env.reset(seed=0)
    u = env.unwrapped
    env.step(np.ones(8, dtype=np.float32))
    folder = u.export_model(tmp_path / "lm")
    items = u.choice_items(num_choices=4, max_items=12)
    write_lm_eval_task(items, u.learner.tokenizer, tmp_path / "tasks")
    offline = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", f"pretrained={folder}",
         "--tasks", "curriculum_choice", "--include_path", str(tmp_path / "tasks"), "--device", "cpu",
         "--batch_size", "8", "--output_path", str(tmp_path / "out")],
        capture_output=True, text=True, env=offline, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(p.read_text()) for p in (tmp_path / "out").rglob("results*.json")]
    acc = results[0]["results"]["curriculum_choice"]["acc,none"]
    assert 0.0 <= acc <= 1.0 and results[0]["n-samples"]["curriculum_choice"]["effective"] == 12
