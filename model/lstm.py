"""The forecasting network: a hindcast LSTM handing its state to a forecast LSTM."""

from __future__ import annotations

import torch
from torch import nn


class StreamflowLSTM(nn.Module):
    """Hindcast/forecast LSTM for daily flow at lead days 1..horizon.

    The hindcast LSTM reads the past days (meteorology, observed flow and its
    mask, static attributes). Its state at each issue day is handed, through a
    linear layer, to a forecast LSTM that continues over the forecast days with
    the meteorological forecast only (flow is not observed there). For each
    forecast day a linear head gives a gate g and a change d, and the forecast
    is g * (last observed flow) + d in flow divided by the site's standard
    deviation (not centred: zero flow is 0, so the gate is a recession toward no
    flow rather than toward the site's mean). The gate starts near 1, so the
    untrained network is persistence; it learns how much of the last observation
    to carry per lead day and state. The alternatives measured (a fixed skip, no
    skip, centred flow) are in bench/RESULTS.md.
    """

    def __init__(
        self, n_past: int, n_future: int, n_static: int, hidden_size: int, horizon: int, dropout: float
    ) -> None:
        """Args:
        n_past: Features per past day.
        n_future: Features per forecast day.
        n_static: Static site attributes.
        hidden_size: LSTM state size.
        horizon: Lead days predicted.
        dropout: Dropout rate on the hindcast output.
        """
        super().__init__()
        self.horizon = horizon
        self.hindcast = nn.LSTM(n_past + n_static, hidden_size, batch_first=True)
        self.handoff = nn.Linear(hidden_size, 2 * hidden_size)
        self.forecast = nn.LSTM(n_future + n_static, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, 2)
        self._initialise_biases()

    def _initialise_biases(self) -> None:
        # forget-gate bias > 0 keeps early gradients flowing over long windows
        for lstm in (self.hindcast, self.forecast):
            hidden = lstm.hidden_size
            lstm.bias_hh_l0.data[hidden : 2 * hidden] = 3.0
        # sigmoid(5) = 0.993: training starts from (almost) persistence
        self.head.bias.data[1] = 5.0

    def forward(
        self,
        past: torch.Tensor,
        future: torch.Tensor,
        static: torch.Tensor,
        last_flow: torch.Tensor,
        issue_steps: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Forecast N issue days of B windows.

        Args:
            past: [B, steps, n_past] past days.
            future: [B, N, horizon, n_future] forecast-day inputs of each issue day.
            static: [B, n_static] site attributes.
            last_flow: [B, N] site-standardised last observed flow at each issue day.
            issue_steps: [N] positions of the issue days in `past`; default its last N days.

        Returns:
            [B, N, horizon] site-standardised flow on lead days 1..horizon.
        """
        batch, n_issue = last_flow.shape
        steps = past.shape[1]
        hindcast_in = torch.cat([past, static[:, None, :].expand(batch, steps, -1)], dim=-1)
        states, _ = self.hindcast(hindcast_in)
        issue_states = states[:, steps - n_issue :] if issue_steps is None else states[:, issue_steps]
        issue_states = self.dropout(issue_states)  # [B, N, hidden]
        h0, c0 = self.handoff(issue_states).reshape(batch * n_issue, 2, -1).unbind(dim=1)
        static_rep = static[:, None, None, :].expand(batch, n_issue, self.horizon, -1)
        forecast_in = torch.cat([future, static_rep], dim=-1).reshape(batch * n_issue, self.horizon, -1)
        outputs, _ = self.forecast(forecast_in, (torch.tanh(h0)[None].contiguous(), c0[None].contiguous()))
        change, gate = self.head(outputs).reshape(batch, n_issue, self.horizon, 2).unbind(dim=-1)
        return torch.sigmoid(gate) * last_flow[..., None] + change
