"""Temperature scaling (Guo et al., 2017): one scalar T, fitted on validation logits, divides every logit.

It changes how confident the model says it is, never which class it picks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The T > 0 that minimises the negative log-likelihood of `labels` under softmax(logits / T)."""
    if len(labels) == 0:
        return 1.0
    logits, labels = logits.double(), labels.long()
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    # Bounded: a validation set the model gets 100 % right pushes T towards 0 (certainty without limit).
    return float(log_t.exp().clamp(0.05, 20.0).item())
