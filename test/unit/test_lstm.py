"""Tests of model/lstm.py: shapes, the persistence start, determinism, causality, gradients."""

from __future__ import annotations

import pytest
import torch

from model.lstm import StreamflowLSTM

N_PAST, N_FUTURE, N_STATIC, HIDDEN = 4, 2, 3, 8


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Tiny tensors: thread start-up costs more than the maths on a shared CI box
    # (torch.testing is avoided for the same reason: its first import takes ~0.7 s).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_model(horizon: int = 3, dropout: float = 0.0, seed: int = 0) -> StreamflowLSTM:
    torch.manual_seed(seed)
    return StreamflowLSTM(N_PAST, N_FUTURE, N_STATIC, HIDDEN, horizon, dropout)


def make_inputs(batch: int, n_issue: int, seq_len: int = 6, horizon: int = 3, seed: int = 1) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {
        "past": torch.randn(batch, seq_len + n_issue - 1, N_PAST, generator=generator),
        "future": torch.randn(batch, n_issue, horizon, N_FUTURE, generator=generator),
        "static": torch.randn(batch, N_STATIC, generator=generator),
        "last_flow": torch.randn(batch, n_issue, generator=generator),
    }


@pytest.mark.parametrize(("batch", "n_issue", "horizon"), [(1, 1, 1), (2, 5, 3), (3, 1, 5), (4, 7, 2)])
def test_output_shape(batch: int, n_issue: int, horizon: int) -> None:
    model = make_model(horizon).eval()

    with torch.inference_mode():
        out = model(**make_inputs(batch, n_issue, horizon=horizon))

    assert tuple(out.shape) == (batch, n_issue, horizon)
    assert torch.isfinite(out).all()


def test_head_is_a_gate_on_the_last_flow_plus_a_change() -> None:
    model = make_model().eval()
    torch.nn.init.zeros_(model.head.weight)
    model.head.bias.data = torch.tensor([0.25, 0.0])  # change 0.25, gate sigmoid(0) = 0.5
    inputs = make_inputs(3, 4)

    with torch.inference_mode():
        out = model(**inputs)

    expected = 0.5 * inputs["last_flow"][..., None].expand(3, 4, 3) + 0.25
    torch.testing.assert_close(out, expected)


def test_untrained_network_is_close_to_persistence() -> None:
    # The gate starts at sigmoid(5) = 0.993 and the change near 0: training starts from persistence.
    model = make_model().eval()
    inputs = make_inputs(3, 4)

    with torch.inference_mode():
        out = model(**inputs)

    persistence = inputs["last_flow"][..., None].expand(3, 4, 3)
    assert torch.allclose(out, persistence, atol=0.5)
    assert torch.sigmoid(model.head.bias[1]) > 0.99


def test_same_input_same_output_in_eval_mode() -> None:
    model = make_model(dropout=0.5).eval()
    inputs = make_inputs(2, 3)

    with torch.inference_mode():
        first, second = model(**inputs), model(**inputs)

    assert torch.equal(first, second)


def test_dropout_is_active_in_train_mode() -> None:
    # Guards the previous test: with dropout 0.5, train mode must vary between calls.
    model = make_model(dropout=0.5).train()
    inputs = make_inputs(2, 3)

    with torch.no_grad():
        assert not torch.equal(model(**inputs), model(**inputs))


def test_an_issue_day_does_not_see_later_past_days() -> None:
    model = make_model().eval()
    inputs = make_inputs(1, 4, seq_len=6)
    changed = {key: value.clone() for key, value in inputs.items()}
    changed["past"][:, -1] += 5.0  # the last issue day's own row

    with torch.inference_mode():
        before, after = model(**inputs), model(**changed)

    assert torch.equal(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:, 3], after[:, 3])


def test_batch_items_are_independent() -> None:
    model = make_model().eval()
    inputs = make_inputs(3, 2)

    with torch.inference_mode():
        together = model(**inputs)
        alone = model(**{key: value[1:2] for key, value in inputs.items()})

    assert torch.allclose(together[1:2], alone, rtol=1e-5, atol=1e-6)


def test_output_depends_on_forecast_meteo_and_static() -> None:
    model = make_model().eval()
    inputs = make_inputs(1, 2)

    with torch.inference_mode():
        base = model(**inputs)
        future = model(**{**inputs, "future": inputs["future"] + 1.0})
        static = model(**{**inputs, "static": inputs["static"] + 1.0})

    assert not torch.allclose(base, future)
    assert not torch.allclose(base, static)


def test_gradients_reach_every_parameter() -> None:
    model = make_model().train()
    inputs = make_inputs(2, 3)

    model(**inputs).pow(2).mean().backward()

    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name
    assert model.hindcast.weight_ih_l0.grad.abs().sum() > 0


def test_forget_gate_bias_is_initialised_positive() -> None:
    model = make_model()

    for lstm in (model.hindcast, model.forecast):
        assert torch.all(lstm.bias_hh_l0[HIDDEN : 2 * HIDDEN] == 3.0)


def test_a_subset_of_issue_days_gives_the_same_forecasts_as_the_full_pass() -> None:
    # Training runs the forecast branch for sampled issue days only; it must equal the full pass there.
    model = make_model().eval()
    inputs = make_inputs(2, 6)
    chosen = torch.tensor([0, 2, 5])
    steps = inputs["past"].shape[1]

    with torch.inference_mode():
        full = model(**inputs)
        subset = model(
            inputs["past"],
            inputs["future"][:, chosen],
            inputs["static"],
            inputs["last_flow"][:, chosen],
            issue_steps=chosen + steps - 6,
        )

    torch.testing.assert_close(subset, full[:, chosen])
