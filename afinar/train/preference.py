"""Preference objectives in afinar's own loop: DPO, IPO and ORPO on chosen/rejected pairs, KTO on
answers labeled desirable or not.

Each objective scores a pair by the log-probability of each answer under the model being trained
(the policy), summed over the answer's tokens given the same prompt: ``c`` for the chosen answer,
``r`` for the rejected one. Per pair (``train.beta`` is ``beta``):

- ``dpo`` (Rafailov et al. 2023, "Direct Preference Optimization"):
  ``-log sigmoid(beta * ((c - c_ref) - (r - r_ref)))``;
- ``ipo`` (Azar et al. 2023, "A General Theoretical Paradigm to Understand Learning from Human
  Preferences"): ``((c - c_ref) - (r - r_ref) - 1 / (2 beta))^2``, on summed log-probabilities as
  in the paper (TRL averages them per token); with ``train.rpo_alpha`` (RPO, Pang et al. 2024),
  either plus ``rpo_alpha * (-c / n_c)``, the chosen answer's mean token cross-entropy;
- ``orpo`` (Hong et al. 2024, "ORPO: Monolithic Preference Optimization without Reference
  Model"): ``-c_mean - beta * log sigmoid(log odds(c_mean) - log odds(r_mean))``, with ``c_mean``,
  ``r_mean`` the answers' mean token log-probabilities and ``log odds(x) = x - log(1 - e^x)``.

- ``kto`` (Ethayarajh et al. 2024, "KTO: Model Alignment as Prospect Theoretic Optimization"), on
  one answer per example with a label: with ``reward = a - a_ref`` (``a`` the answer's summed
  log-probability) and ``z`` the policy's drift from the reference, ``max(0, mean(o - o_ref))``
  over the micro-batch's mismatched answers ``o`` (each prompt with the next example's answer,
  no gradient), ``1 - sigmoid(beta * (reward - z))`` for a desirable answer and
  ``1 - sigmoid(beta * (z - reward))`` for an undesirable one, each times its weight
  (``train.kto_weights``, 1 and 1 by default).

A step's loss is the mean over its examples (accumulation and the OOM ladder keep that mean).

**The reference** (``dpo``, ``ipo``, ``kto``) is the model as it was before this run's adapter, the base
(or, with an adapter merged into it, that model): its ``c_ref`` and ``r_ref`` are computed once,
before training, for every pair, and kept on the pair (:class:`afinar.data.render.PairRow`). No
second model in memory, and one forward pass per pair rather than one per pair per epoch that
disabling the adapter at every step would cost.

**Rewards** (metrics and progress): ``beta * (c - c_ref)`` and ``beta * (r - r_ref)`` (``orpo``:
``beta * c_mean``, ``beta * r_mean``); reward accuracy is the share of pairs whose chosen answer has
the higher reward, the margin the mean difference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from afinar.data.batch import collate
from afinar.data.render import IGNORE, LabeledRow, PairRow
from afinar.errors import AfinarError
from afinar.model.adapters import causal_lm_of, decoder_states

__all__ = ["PreferenceLoss", "answer_logps", "pair_batch", "pair_losses", "with_reference"]

WITH_REFERENCE = ("dpo", "ipo", "kto")


def pair_batch(rows: list[PairRow | LabeledRow], pad_id: int) -> dict[str, torch.Tensor]:
    """One batch of pairs (or labeled answers): every ``first`` row then every ``second`` row,
    right-padded (2B rows); ``examples`` (B); ``reference`` (2B, in the same order) when every row
    has it; ``desirable`` (B) for labeled answers."""
    batch = collate([r.first for r in rows] + [r.second for r in rows], pad_id)
    batch["examples"] = torch.tensor(len(rows))
    if all(r.reference is not None for r in rows):
        refs = [r.reference[0] for r in rows] + [r.reference[1] for r in rows]
        batch["reference"] = torch.tensor(refs, dtype=torch.float64)
    if isinstance(rows[0], LabeledRow):
        batch["desirable"] = torch.tensor([r.desirable for r in rows])
    return batch


def answer_logps(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's summed log-probability of its target tokens (fp32) and how many there are.
    Rows are right-padded, so causal attention alone keeps padding out of every real token."""
    hidden = decoder_states(model, batch["input_ids"], None, None, use_cache=False)
    targets = batch["labels"][:, 1:]
    keep = targets != IGNORE
    logits = causal_lm_of(model).lm_head(hidden[:, :-1][keep]).float()  # (N, vocab), N = target tokens
    token_logp = -F.cross_entropy(logits, targets[keep], reduction="none")
    rows = torch.arange(len(targets), device=targets.device).unsqueeze(1).expand_as(keep)[keep]
    sums = torch.zeros(len(targets), device=token_logp.device).index_add(0, rows, token_logp)
    return sums, keep.sum(1)


def _log_odds(mean_logp: torch.Tensor) -> torch.Tensor:
    """``log(p / (1 - p))`` of ``p = exp(mean_logp)``; ``log(1 - p)`` as ``log(-expm1(x))``."""
    return mean_logp - torch.log(-torch.expm1(mean_logp))


def pair_losses(
    objective: str,
    beta: float,
    logps: torch.Tensor,
    counts: torch.Tensor,
    reference: torch.Tensor | None,
    desirable: torch.Tensor | None = None,
    kto_weights: tuple[float, float] = (1.0, 1.0),
    rpo_alpha: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per example: the loss, the chosen reward, the rejected reward (see the module docstring);
    for ``kto``, each answer's reward in the column of its label and NaN in the other.
    ``logps``, ``counts``, ``reference``: (2B,), the ``first`` rows first."""
    c, r = logps.chunk(2)
    if objective == "kto":
        if reference is None or desirable is None:
            raise AfinarError("objective kto: labeled answers with their reference log-probabilities are needed")
        c_ref, r_ref = reference.to(logps.dtype).chunk(2)
        reward = c - c_ref
        drift = (r - r_ref).mean().clamp(min=0).detach()  # KL estimate on mismatched answers, no gradient
        sign = desirable.to(reward.dtype) * 2 - 1  # +1 desirable, -1 undesirable
        weight = torch.where(desirable, kto_weights[0], kto_weights[1]).to(reward.dtype)
        loss = weight * (1 - torch.sigmoid(beta * sign * (reward - drift)))
        shown = beta * reward.detach()
        nan = torch.full_like(shown, float("nan"))
        return loss, torch.where(desirable, shown, nan), torch.where(desirable, nan, shown)
    if objective in WITH_REFERENCE:
        if reference is None:
            raise AfinarError(
                f"objective {objective}: a pair has no reference log-probabilities (the OOM ladder cut it "
                "shorter than it was rendered); lower data.max_seq_len or train.micro_batch_size instead"
            )
        c_ref, r_ref = reference.to(logps.dtype).chunk(2)
        chosen, rejected = c - c_ref, r - r_ref
        margin = chosen - rejected
        loss = -F.logsigmoid(beta * margin) if objective == "dpo" else (margin - 1 / (2 * beta)) ** 2
        if rpo_alpha:
            loss = loss - rpo_alpha * c / counts.to(logps.dtype).chunk(2)[0]
        return loss, beta * chosen.detach(), beta * rejected.detach()
    if objective != "orpo":
        raise AfinarError(f"objective {objective!r}: not a preference objective (dpo, ipo, orpo, kto)")
    n_c, n_r = counts.to(logps.dtype).chunk(2)
    c_mean, r_mean = c / n_c, r / n_r
    loss = -c_mean - beta * F.logsigmoid(_log_odds(c_mean) - _log_odds(r_mean))
    return loss, beta * c_mean.detach(), beta * r_mean.detach()


class PreferenceLoss(torch.nn.Module):
    """The step loss of a preference run, shaped as :class:`afinar.train.loss.TargetLoss`:
    ``forward(batch)`` gives the pairs' summed loss and how many pairs, so that accumulation
    divides by the step's pairs. It also sums the rewards it saw until :meth:`take_stats`."""

    def __init__(
        self, model, objective: str, beta: float, kto_weights: tuple[float, float] = (1.0, 1.0), rpo_alpha: float = 0.0
    ):
        super().__init__()
        self.model, self.objective, self.beta, self.kto_weights = model, objective, beta, kto_weights
        self.rpo_alpha = rpo_alpha
        self._seen: list[torch.Tensor] = []

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        logps, counts = answer_logps(self.model, batch)
        loss, chosen, rejected = pair_losses(
            self.objective,
            self.beta,
            logps,
            counts,
            batch.get("reference"),
            batch.get("desirable"),
            self.kto_weights,
            self.rpo_alpha,
        )
        n = int(batch["examples"])
        if n == 0:  # a rank's filler pass (as many passes on every rank): no loss, no rewards
            return loss.sum() * 0.0, 0
        self._seen.append(torch.stack([chosen, rejected], dim=1).cpu())
        return loss.sum(), n

    def take_stats(self, world=None) -> dict[str, float]:
        """Reward accuracy, margin and the mean rewards of the pairs since the last call; with a
        distributed ``world``, over every rank's pairs (every rank must call it then)."""
        seen, self._seen = self._seen, []
        rewards = torch.cat(seen).double() if seen else torch.zeros(0, 2, dtype=torch.float64)
        chosen, rejected = rewards[:, 0], rewards[:, 1]
        if self.objective == "kto":  # unpaired: the mean reward of desirable and of undesirable answers
            good, bad = chosen[~chosen.isnan()], rejected[~rejected.isnan()]
            sums = [float(good.sum()), len(good), float(bad.sum()), len(bad)]
        else:
            sums = [float((chosen > rejected).sum()), float((chosen - rejected).sum()), float(chosen.sum()),
                    float(rejected.sum()), len(chosen)]  # fmt: skip
        if world is not None:
            sums = world.sum(*sums)
        if self.objective == "kto":
            if not sums[1] and not sums[3]:
                return {}
            means = [sums[0] / sums[1] if sums[1] else float("nan"), sums[2] / sums[3] if sums[3] else float("nan")]
            return {"chosen_reward": means[0], "rejected_reward": means[1], "reward_margin": means[0] - means[1]}
        right, margin, c, r, n = sums
        if not n:
            return {}
        return {"reward_accuracy": right / n, "reward_margin": margin / n, "chosen_reward": c / n,
                "rejected_reward": r / n}  # fmt: skip


@torch.no_grad()
def with_reference(model, pairs: list[PairRow | LabeledRow], pad_id: int, autocast, batch_size: int = 8) -> None:
    """Fill each pair's ``reference`` with ``model``'s summed log-probabilities of its two rows'
    answers (``model`` before the run's adapter exists, in eval mode)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    for s in range(0, len(pairs), batch_size):
        chunk = pairs[s : s + batch_size]
        batch = {k: v.to(device) for k, v in pair_batch(chunk, pad_id).items()}
        with autocast():
            logps, _ = answer_logps(model, batch)
        chosen, rejected = logps.double().cpu().chunk(2)
        for pair, c, r in zip(chunk, chosen.tolist(), rejected.tolist(), strict=True):
            pair.reference = (c, r)
    model.train(was_training)
