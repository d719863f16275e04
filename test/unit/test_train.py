"""Tests of model/train.py: the lead- and window-weighted NSE-style loss."""

from __future__ import annotations

import math

import pytest
import torch

from model.train import lead_weight_vector, masked_mse, window_weights


def test_weight_vector_pads_later_leads_with_one() -> None:
    assert lead_weight_vector((3.0, 1.5), horizon=5).tolist() == [3.0, 1.5, 1.0, 1.0, 1.0]
    assert lead_weight_vector((), horizon=3).tolist() == [1.0, 1.0, 1.0]


def test_equal_weights_give_the_mean_squared_error_over_observed_targets() -> None:
    prediction = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    target = torch.tensor([[0.0, 2.0, float("nan")], [1.0, float("nan"), 3.0]])

    loss = masked_mse(prediction, target, torch.ones(3))

    assert loss.item() == pytest.approx((1 + 0 + 1 + 9) / 4)


def test_lead_weights_scale_each_lead_days_errors() -> None:
    prediction = torch.zeros(2, 3)
    target = torch.tensor([[1.0, 1.0, 1.0], [2.0, float("nan"), 0.0]])

    loss = masked_mse(prediction, target, torch.tensor([3.0, 1.5, 1.0]))

    # Weighted mean: (3*1 + 1.5*1 + 1*1 + 3*4 + 1*0) / (3 + 1.5 + 1 + 3 + 1)
    assert loss.item() == pytest.approx(17.5 / 9.5)


def test_missing_targets_give_no_gradient_and_no_nan() -> None:
    prediction = torch.zeros(1, 3, requires_grad=True)
    target = torch.tensor([[float("nan"), 2.0, float("nan")]])

    loss = masked_mse(prediction, target, torch.tensor([3.0, 1.0, 1.0]))
    loss.backward()

    assert loss.item() == pytest.approx(4.0)
    assert prediction.grad.tolist() == [[0.0, -4.0, 0.0]]
    all_missing = masked_mse(prediction, torch.full((1, 3), math.nan), torch.ones(3))
    assert all_missing.item() == 0.0


def test_window_weights_divide_by_the_windows_own_spread() -> None:
    nan = float("nan")
    flow = torch.tensor([[0.0, 2.0, 0.0, 2.0], [5.0, 5.0, nan, 5.0], [nan, nan, nan, nan]])

    weights = window_weights(flow, eps=0.2)

    # Standard deviations 1 and 0 (the missing day left out); no observation: no weight.
    assert weights.tolist() == pytest.approx([1 / 1.2**2, 1 / 0.2**2, 0.0])
    assert window_weights(flow, eps=1.0)[0].item() == pytest.approx(1 / 2.0**2)  # larger eps: milder weights


def test_a_flood_year_does_not_drown_a_quiet_years_errors() -> None:
    quiet = 0.1 * torch.sin(torch.arange(365.0))
    flood = quiet.clone()
    flood[200:210] = 30.0
    weights = window_weights(torch.stack([quiet, flood]), eps=0.2)
    assert weights[0] > 50 * weights[1]


def test_window_weights_scale_errors_but_not_the_normaliser() -> None:
    prediction = torch.zeros(2, 2)
    target = torch.tensor([[1.0, 1.0], [2.0, float("nan")]])

    loss = masked_mse(prediction, target, torch.ones(2), torch.tensor([2.0, 0.5]))

    # (2*1 + 2*1 + 0.5*4) / 3 observed targets
    assert loss.item() == pytest.approx(6.0 / 3)
