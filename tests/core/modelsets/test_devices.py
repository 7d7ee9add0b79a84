"""The engine's batch size: 'auto' picks by device, numbers pass, anything else is refused with its reason."""

import argparse

import numpy as np
import pytest
import torch

from core.contract.errors import SteelScanError
from core.contract.settings import batch_size_arg
from core.datasets.synthetic import make_strip
from core.engine.inference import Inspector
from core.modelsets.devices import pick_batch_size
from core.modelsets.modelset import load_model_set


def test_auto_runs_one_image_at_a_time_on_a_cpu_and_batches_on_a_gpu():
    assert pick_batch_size("auto", torch.device("cpu")) == 1
    assert pick_batch_size("auto", torch.device("cuda")) == 8
    assert pick_batch_size(5, torch.device("cpu")) == 5 and pick_batch_size("12", torch.device("cuda")) == 12


@pytest.mark.parametrize("bad", [0, -1, 257, "eight", 2.5, None, True])
def test_a_batch_size_that_is_not_auto_or_1_to_256_is_refused(bad):
    with pytest.raises(SteelScanError, match="not auto or a whole number from 1 to 256"):
        pick_batch_size(bad, torch.device("cpu"))


def test_the_command_line_takes_auto_or_a_number():
    assert batch_size_arg("auto") == "auto" and batch_size_arg("16") == 16
    with pytest.raises(argparse.ArgumentTypeError, match="'0' is not auto"):
        batch_size_arg("0")


def test_on_a_cpu_the_first_verdict_comes_before_the_rest_of_the_batch_is_read(tiny_set):
    """An inspector's first result of a 10-image batch must not wait for the other nine (issue 11)."""
    model_set = load_model_set(tiny_set, torch.device("cpu"))
    read = []

    def sources():
        for seed in range(10):
            read.append(seed)
            yield np.ascontiguousarray(make_strip(seed).pixels[:64, :160])

    per_image = Inspector(model_set, torch.device("cpu"))  # batch_size "auto"
    assert per_image.batch_size == 1
    next(per_image.inspect_many(sources()))
    assert len(read) <= 3, f"the first verdict waited for {len(read)} images"
    read.clear()
    next(Inspector(model_set, torch.device("cpu"), batch_size=8).inspect_many(sources()))
    assert len(read) == 10  # a batch of 8 reads ahead 2 batches: the whole list before its first verdict
