"""Tests of causal_meta.models.avici: symmetries, padding, masking, the loss terms against
hand and numpy computations, gradients, bf16 autocast, the learner protocol, and a short
training run that must beat chance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from causal_meta import metrics
from causal_meta.learners import EdgePosterior, StructureLearner
from causal_meta.data import StreamSpec, TaskStream, derive_seed, fixed_tasks
from causal_meta.models import (
    MASKED_LOGIT,
    Avici,
    AviciConfig,
    bce_loss,
    sample_graphs,
    spectral_radius,
    update_dual,
)
from causal_meta.models.avici import sample_pair_graphs, three_way_loss, three_way_marginals
from causal_meta.models.learner import AmortizedLearner
from causal_meta.models.settings import EDGE_HEADS
from causal_meta.specs import Er, Family, Linear

TINY = AviciConfig(d_model=16, heads=2, head_dim=8, layers=2, ffn=32, dropout=0.0, key_size=8)


def tiny_model(seed: int = 0, **overrides: object) -> Avici:
    torch.manual_seed(seed)
    fields = {**TINY.__dict__, **overrides}
    return Avici(AviciConfig(**fields)).eval()


def random_tasks(batch: int, n: int, d: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, n, d, generator=g), torch.rand(batch, n, d, generator=g) < 0.2


def sharpen(model: Avici) -> Avici:
    """Raise the temperature so that logits spread over a wide range: comparisons of
    logits then test the network, not just the bias."""
    with torch.no_grad():
        model.log_temperature.fill_(2.0)
    return model


# ---------------------------------------------------------------------------------------
# Shapes, symmetries, masking
# ---------------------------------------------------------------------------------------


def test_output_shape_and_dtype() -> None:
    data, intervened = random_tasks(3, 11, 6)
    logits = tiny_model()(data, intervened)
    assert logits.shape == (3, 6, 6) and logits.dtype == torch.float32
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("edge_head", EDGE_HEADS)
def test_permuting_variables_permutes_logits(edge_head: str) -> None:
    model = sharpen(tiny_model(edge_head=edge_head))
    data, intervened = random_tasks(2, 13, 7)
    perm = torch.tensor([3, 0, 6, 1, 5, 2, 4])
    logits = model(data, intervened)
    permuted = model(data[:, :, perm], intervened[:, :, perm])
    torch.testing.assert_close(permuted, logits[:, perm][:, :, perm], atol=1e-5, rtol=1e-5)


def test_sample_order_does_not_matter() -> None:
    model = sharpen(tiny_model())
    data, intervened = random_tasks(2, 13, 5)
    rows = torch.randperm(13, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(model(data[:, rows], intervened[:, rows]), model(data, intervened),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("edge_head", EDGE_HEADS)
def test_padding_does_not_change_real_logits(edge_head: str) -> None:
    """Tasks of 3 and 5 variables padded to 8 with arbitrary values in the padding give
    the logits they give alone, and every padded entry is masked."""
    model = sharpen(tiny_model(edge_head=edge_head))
    sizes = [3, 5]
    data, intervened = random_tasks(2, 10, 8, seed=2)  # padding columns hold noise
    node_mask = torch.arange(8)[None, :] < torch.tensor(sizes)[:, None]
    padded = model(data, intervened, node_mask)
    for t, d in enumerate(sizes):
        alone = model(data[t : t + 1, :, :d], intervened[t : t + 1, :, :d])[0]
        torch.testing.assert_close(padded[t, :d, :d], alone, atol=1e-5, rtol=1e-5)
        assert (padded[t, d:, :] == MASKED_LOGIT).all() and (padded[t, :, d:] == MASKED_LOGIT).all()


def test_diagonal_is_never_an_edge() -> None:
    model = tiny_model()
    data, intervened = random_tasks(2, 9, 4)
    logits = model(data, intervened)
    assert (torch.diagonal(logits, dim1=-2, dim2=-1) == MASKED_LOGIT).all()
    probs = model.edge_probs(data, intervened)
    assert (torch.diagonal(probs, dim1=-2, dim2=-1) == 0).all()
    samples = sample_graphs(torch.ones(2, 4, 4), 5, torch.Generator().manual_seed(0))
    assert samples.shape == (2, 5, 4, 4) and samples.dtype == torch.uint8
    assert (torch.diagonal(samples, dim1=-2, dim2=-1) == 0).all() and samples.sum() == 2 * 5 * 12


@pytest.mark.parametrize(("init_bias", "init_log_temperature"), [(-3.0, 0.0), (-1.0, 0.0), (-3.0, 1.5)])
def test_initial_probabilities_sit_at_the_bias(init_bias: float, init_log_temperature: float) -> None:
    """At initialisation every logit is the bias +- exp(t) (t the log temperature, times a
    cosine), and over initialisations the cosine averages 0: edges start near
    sigmoid(bias)."""
    data, intervened = random_tasks(4, 16, 6)
    off = ~torch.eye(6, dtype=torch.bool).expand(4, 6, 6)
    scale = math.exp(init_log_temperature)
    means, centres = [], []
    for seed in range(8):
        logits = tiny_model(seed, init_bias=init_bias, init_log_temperature=init_log_temperature,
                            key_size=32)(data, intervened)[off]
        assert ((logits - init_bias).abs() <= scale + 1e-5).all()
        means.append(torch.sigmoid(logits).mean().item())
        centres.append(logits.mean().item())
    assert abs(np.mean(centres) - init_bias) < 0.1 * scale
    if init_log_temperature == 0.0:  # a wider spread lifts the mean probability (sigmoid is convex there)
        prior = 1 / (1 + math.exp(-init_bias))
        assert abs(np.mean(means) - prior) < 0.2 * prior


# ---------------------------------------------------------------------------------------
# Loss
# ---------------------------------------------------------------------------------------


def test_bce_matches_hand_computation() -> None:
    """Two tasks: 3 real variables of 3, and 2 real of 3 (padding whose label and logit
    would change the loss if they leaked in)."""
    logits = torch.tensor([
        [[0.0, 1.0, -2.0], [0.5, 0.0, 3.0], [-1.0, 2.0, 0.0]],
        [[0.0, -0.5, 9.0], [1.5, 0.0, 9.0], [9.0, 9.0, 0.0]],
    ])
    adjacency = torch.tensor([
        [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]],
        [[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]],
    ])
    node_mask = torch.tensor([[True, True, True], [True, True, False]])

    def bce(z: float, y: float) -> float:
        p = 1 / (1 + math.exp(-z))
        return -(y * math.log(p) + (1 - y) * math.log(1 - p))

    task0 = [bce(1.0, 1), bce(-2.0, 0), bce(0.5, 0), bce(3.0, 1), bce(-1.0, 0), bce(2.0, 0)]
    task1 = [bce(-0.5, 0), bce(1.5, 1)]
    expected = (sum(task0) / 6 + sum(task1) / 2) / 2
    assert bce_loss(logits, adjacency, node_mask).item() == pytest.approx(expected, rel=1e-6)


def test_spectral_radius_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    for d in (2, 3, 5, 10, 20):
        uniform = rng.random((20, d, d))
        probs = 1 / (1 + np.exp(-rng.normal(-2.0, 2.0, (20, d, d))))
        for matrices in (uniform, probs):
            for m in matrices:
                np.fill_diagonal(m, 0.0)
            expected = np.abs(np.linalg.eigvals(matrices)).max(axis=-1)
            got = spectral_radius(torch.tensor(matrices, dtype=torch.float32), steps=10).numpy()
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_spectral_radius_of_two_variables_is_the_geometric_mean() -> None:
    """[[0, a], [b, 0]] has eigenvalues +-sqrt(ab): periodic, where plain power iteration fails."""
    m = torch.tensor([[[0.0, 0.001], [0.9, 0.0]], [[0.0, 0.5], [0.2, 0.0]]])
    torch.testing.assert_close(spectral_radius(m, 10), torch.tensor([0.03, math.sqrt(0.1)]), rtol=1e-5, atol=0)


def test_spectral_radius_of_a_dag_is_zero() -> None:
    rng = np.random.default_rng(1)
    d = 12
    upper = np.triu(rng.random((d, d)) * (rng.random((d, d)) < 0.5), k=1)
    order = rng.permutation(d)
    dag = torch.tensor(upper[np.ix_(order, order)], dtype=torch.float32)
    chain = torch.diag(torch.ones(19), 1)  # longest path 19 < 2 * 10 + 1
    assert spectral_radius(dag, 10).item() == 0.0
    assert spectral_radius(chain, 10).item() == 0.0
    cyclic = chain.clone()
    cyclic[19, 0] = 1.0  # a 20-cycle: radius 1
    assert spectral_radius(cyclic, 10).item() == pytest.approx(1.0, rel=1e-4)


def test_spectral_radius_gradient_is_the_eigenvalue_derivative() -> None:
    """d rho / d M = y x^T / (y^T x) for the left and right Perron vectors y, x."""
    rng = np.random.default_rng(2)
    m = rng.random((6, 6))
    np.fill_diagonal(m, 0.0)
    values, right = np.linalg.eig(m)
    values_left, left = np.linalg.eig(m.T)
    x = np.abs(right[:, np.argmax(values.real)].real)
    y = np.abs(left[:, np.argmax(values_left.real)].real)
    expected = np.outer(y, x) / (y @ x)
    t = torch.tensor(m, dtype=torch.float32, requires_grad=True)
    spectral_radius(t, 10).backward()
    np.testing.assert_allclose(t.grad.numpy(), expected, rtol=1e-3, atol=1e-5)


def test_penalty_ignores_padding_and_loss_combines_terms() -> None:
    model = tiny_model()
    data, intervened = random_tasks(1, 9, 4)
    node_mask = torch.tensor([[True, True, True, False]])
    logits = model(data, intervened, node_mask)
    adjacency = torch.zeros(1, 4, 4)
    terms = model.loss(logits, adjacency, node_mask, dual=2.5)
    probs = torch.sigmoid(logits[0, :3, :3]).detach().numpy()
    assert terms.penalty.item() == pytest.approx(np.abs(np.linalg.eigvals(probs)).max(), rel=1e-4)
    assert terms.loss.item() == pytest.approx(terms.bce.item() + 2.5 * terms.penalty.item(), rel=1e-6)


def test_gradients_reach_every_parameter() -> None:
    model = tiny_model().train()
    data, intervened = random_tasks(2, 9, 5)
    node_mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    adjacency = (torch.rand(2, 5, 5, generator=torch.Generator().manual_seed(3)) < 0.3).float()
    model.loss(model(data, intervened, node_mask), adjacency, node_mask, dual=1.0).loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_update_dual_is_dual_ascent() -> None:
    assert update_dual(0.5, 0.2, 0.1) == pytest.approx(0.52)
    assert update_dual(0.5, -0.2, 0.1) == 0.5  # a negative average cannot lower the dual
    with pytest.raises(ValueError, match="lr"):
        update_dual(0.5, 0.2, -1.0)
    with pytest.raises(ValueError, match="penalty_avg"):
        update_dual(0.5, float("nan"), 0.1)


# ---------------------------------------------------------------------------------------
# Precision
# ---------------------------------------------------------------------------------------


def test_bf16_autocast_runs_and_stays_close_to_fp32() -> None:
    model = tiny_model()
    data, intervened = random_tasks(2, 32, 6)
    reference = model(data, intervened)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(data, intervened)
    assert logits.dtype == torch.float32
    # Logits at initialisation are bias + cosine: this compares cosines, in [-1, 1].
    torch.testing.assert_close(logits, reference, atol=0.05, rtol=0)
    assert (logits - reference).abs().mean() < 0.01
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(data, intervened)
    terms = model.loss(logits, torch.zeros(2, 6, 6), dual=1.0)
    assert terms.loss.dtype == torch.float32
    terms.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


# ---------------------------------------------------------------------------------------
# Sampling and the learner protocol
# ---------------------------------------------------------------------------------------


def test_sample_graphs_follow_the_probabilities() -> None:
    probs = torch.tensor([[[0.0, 0.9, 0.1], [0.5, 0.0, 0.0], [1.0, 0.3, 0.0]]])
    samples = sample_graphs(probs, 4000, torch.Generator().manual_seed(0))
    torch.testing.assert_close(samples.float().mean(dim=1), probs, atol=0.03, rtol=0)
    again = sample_graphs(probs, 4000, torch.Generator().manual_seed(0))
    assert torch.equal(samples, again)
    with pytest.raises(ValueError, match="sigmoid"):
        sample_graphs(torch.full((1, 3, 3), -2.0), 2)
    with pytest.raises(ValueError, match="n_samples"):
        sample_graphs(probs, -1)


def test_learner_implements_the_protocol() -> None:
    model = tiny_model().train()
    learner = AmortizedLearner(model, n_samples=7)
    assert isinstance(learner, StructureLearner)
    data, intervened = random_tasks(1, 20, 4)
    x, m = data[0].numpy(), intervened[0].numpy().astype(np.uint8)
    posterior = learner.fit(x, m, seed=3)
    assert isinstance(posterior, EdgePosterior)
    assert posterior.probs.shape == (4, 4) and posterior.samples.shape == (7, 4, 4)
    assert model.training  # the caller's mode is restored
    # Standardised like the stream: rescaling and shifting a variable changes nothing.
    scaled = learner.fit(x * np.array([10.0, 1.0, 0.1, 3.0], dtype=np.float32) + 5.0, m, seed=3)
    np.testing.assert_allclose(scaled.probs, posterior.probs, atol=1e-5)
    assert np.array_equal(learner.fit(x, m, seed=3).samples, posterior.samples)
    with pytest.raises(ValueError, match="mask"):
        learner.fit(x, m[:, :3])


# ---------------------------------------------------------------------------------------
# The three-way head
# ---------------------------------------------------------------------------------------


def test_three_way_marginals_are_the_softmax_of_each_pair() -> None:
    """Pair {i, j}: probabilities proportional to 1 (no edge), e^s_ij, e^s_ji."""
    scores = torch.tensor([[[0.0, 1.5, -2.0], [0.3, 0.0, 4.0], [-1.0, 2.0, 0.0]]])
    node_mask = torch.ones(1, 3, dtype=torch.bool)
    probs = torch.sigmoid(three_way_marginals(scores, node_mask))[0]
    for i in range(3):
        for j in range(3):
            if i != j:
                odds = torch.tensor([0.0, scores[0, i, j], scores[0, j, i]]).softmax(0)
                assert probs[i, j].item() == pytest.approx(odds[1].item(), rel=1e-6)
    assert (probs.diagonal() == 0).all()
    assert ((probs + probs.T).fill_diagonal_(0) < 1).all()  # a pair never holds both directions


def test_three_way_loss_matches_hand_computation() -> None:
    """Task 1: 3 real variables, truth 0 -> 1 and a soft label 0.25 on 2 -> 1; task 2: 2
    real variables of 3 (the padding's scores and labels, even a 2-cycle, must not leak
    in), no edge."""
    scores = torch.tensor([
        [[0.0, 1.0, -2.0], [0.5, 0.0, 3.0], [-1.0, 2.0, 0.0]],
        [[0.0, -0.5, 9.0], [1.5, 0.0, 9.0], [9.0, 9.0, 0.0]],
    ])
    adjacency = torch.tensor([
        [[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.25, 0.0]],
        [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]],
    ])
    node_mask = torch.tensor([[True, True, True], [True, True, False]])

    def log_p(forward: float, backward: float) -> tuple[float, float, float]:
        z = math.log(1 + math.exp(forward) + math.exp(backward))
        return -z, forward - z, backward - z  # none, i -> j, j -> i

    none01, edge01, _ = log_p(1.0, 0.5)
    none02, _, _ = log_p(-2.0, -1.0)
    none12, _, edge21 = log_p(3.0, 2.0)
    task0 = -(edge01 + none02 + 0.25 * edge21 + 0.75 * none12) / 3
    task1 = -log_p(-0.5, 1.5)[0]
    expected = (task0 + task1) / 2
    assert three_way_loss(scores, adjacency, node_mask).item() == pytest.approx(expected, rel=1e-6)
    cyclic = adjacency.clone()
    cyclic[0, 1, 0] = 1.0
    with pytest.raises(ValueError, match=r"A\[i, j\] \+ A\[j, i\] <= 1 for the three_way head"):
        three_way_loss(scores, cyclic, node_mask)


def test_pair_graphs_follow_the_probabilities_without_two_cycles() -> None:
    probs = torch.tensor([[[0.0, 0.6, 0.1], [0.3, 0.0, 0.0], [0.85, 0.5, 0.0]]])
    samples = sample_pair_graphs(probs, 4000, torch.Generator().manual_seed(0))
    assert samples.shape == (1, 4000, 3, 3) and samples.dtype == torch.uint8
    torch.testing.assert_close(samples.float().mean(dim=1), probs, atol=0.03, rtol=0)
    assert not (samples & samples.transpose(-1, -2)).any()
    assert torch.equal(samples, sample_pair_graphs(probs, 4000, torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="n_samples"):
        sample_pair_graphs(probs, -1)


def test_three_way_head_trains_every_parameter_and_its_learner_samples_no_two_cycles() -> None:
    model = tiny_model(edge_head="three_way").train()
    assert set(model.state_dict()) == set(tiny_model().state_dict())  # no parameter added
    data, intervened = random_tasks(2, 9, 5)
    node_mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    batch = {"data": data, "intervened": intervened, "node_mask": node_mask, "adjacency": torch.ones(2, 5, 5).triu(1)}
    loss, terms = model.training_loss(batch)
    assert set(terms) == {"pair_ce", "cyclicity"}
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    posterior = AmortizedLearner(sharpen(model), n_samples=50).fit(data[0].numpy(), intervened[0].numpy(), seed=1)
    assert not (posterior.samples & posterior.samples.transpose(0, 2, 1)).any()
    assert (posterior.probs + posterior.probs.T < 1).all()


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("d_model", 0), ("heads", -1), ("head_dim", 2.5), ("layers", 0), ("ffn", True),
     ("dropout", 1.0), ("dropout", -0.1), ("key_size", 0), ("init_bias", float("nan")),
     ("power_iterations", 0), ("dual_every", -1), ("dual_lr", float("inf")), ("name", "bcnp"),
     ("pair_statistics", 1), ("edge_head", "softmax")],
)
def test_bad_config_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"model\.{field} = {value!r} is not allowed: (must be|this is)"):
        AviciConfig(**{field: value})


def test_bad_inputs_name_the_argument() -> None:
    model = tiny_model()
    data, intervened = random_tasks(2, 5, 3)
    with pytest.raises(ValueError, match="intervened"):
        model(data, intervened[:, :, :2])
    with pytest.raises(ValueError, match="node_mask"):
        model(data, intervened, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least one"):
        model(data, intervened, torch.tensor([[True, True, True], [False, False, False]]))


# ---------------------------------------------------------------------------------------
# Learning
# ---------------------------------------------------------------------------------------


def test_short_training_beats_chance_on_held_out_tasks() -> None:
    """200 Adam steps on 5-variable linear SCMs, mostly interventional rows (which make
    both the skeleton and the orientation learnable fast), lift the held-out AUROC from
    0.5 (chance) clearly: 0.78-0.83 over three seeds, with 1 or 2 torch threads."""
    family = Family(nodes=5, graph=Er(edges_per_node=1), mechanism=Linear())
    stream = TaskStream(StreamSpec(family, seed=1, batch_size=8, n_obs=16, n_int=48))
    held_out = fixed_tasks(family, derive_seed(1, "test"), 64, n_obs=16, n_int=48)
    torch.manual_seed(0)
    model = Avici(AviciConfig(d_model=32, heads=4, head_dim=8, layers=2, ffn=64, dropout=0.0, key_size=32))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(200):
        batch = stream.batch(step)
        logits = model(batch["data"], batch["intervened"], batch["node_mask"])
        loss = model.loss(logits, batch["adjacency"], batch["node_mask"]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        probs = model.edge_probs(held_out["data"], held_out["intervened"], held_out["node_mask"])
    auroc = np.nanmean(metrics.edge_auroc(held_out["adjacency"].numpy(), probs.numpy()))
    assert auroc > 0.7, auroc
