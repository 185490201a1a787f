from __future__ import annotations

import pytest
import torch

from rnn_core.models import ModelConfig, SequenceClassifier, count_parameters

GRID = [(layers, hidden, emb) for layers in (1, 2, 3) for hidden in (100, 200, 300)
        for emb in (32, 64, 128)]


def closed_form(v: int, e: int, h: int, layers: int, bidirectional: bool = False) -> int:
    """Embedding V*E + LSTM 4H(E+H+2) for layer 1 and 4H(D*H+H+2) above + linear D*H*2+2."""
    d = 2 if bidirectional else 1
    lstm = d * 4 * h * (e + h + 2) + (layers - 1) * d * 4 * h * (d * h + h + 2)
    return v * e + lstm + d * h * 2 + 2


@pytest.mark.parametrize("layers, hidden, emb", GRID)
def test_parameter_count_matches_closed_form(layers, hidden, emb):
    model = SequenceClassifier(ModelConfig(1000, emb, hidden, layers))
    assert count_parameters(model) == closed_form(1000, emb, hidden, layers)


def test_reference_study_parameter_count():
    # study S3's best: V=37,996, E=32, H=100, 2 layers -> 1,350,474
    model = SequenceClassifier(ModelConfig(37_996, 32, 100, 2))
    assert count_parameters(model) == 1_350_474 == closed_form(37_996, 32, 100, 2)
    bi = SequenceClassifier(ModelConfig(37_996, 32, 100, 2, bidirectional=True))
    assert count_parameters(bi) == closed_form(37_996, 32, 100, 2, bidirectional=True)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
def test_padded_batch_equals_each_sequence_alone(cell, bidirectional, layers):
    torch.manual_seed(0)
    model = SequenceClassifier(ModelConfig(50, 8, 12, layers, cell=cell,
                                           bidirectional=bidirectional)).double().eval()
    lengths = torch.tensor([7, 3, 5, 1])
    tokens = torch.zeros(4, 7, dtype=torch.long)
    for i, n in enumerate(lengths):
        tokens[i, :n] = torch.randint(1, 50, (int(n),))
    batch = model(tokens, lengths)
    for i, n in enumerate(lengths):
        alone = model(tokens[i:i + 1, :n], lengths[i:i + 1])
        torch.testing.assert_close(batch[i:i + 1], alone, rtol=1e-10, atol=1e-10)


def test_padding_changes_nothing_but_a_wrong_length_does():
    torch.manual_seed(0)
    model = SequenceClassifier(ModelConfig(50, 8, 12, 1, bidirectional=True)).double().eval()
    tokens = torch.randint(1, 50, (1, 6))
    padded = torch.cat([tokens, torch.zeros(1, 4, dtype=torch.long)], dim=1)
    out = model(tokens, torch.tensor([6]))
    torch.testing.assert_close(model(padded, torch.tensor([6])), out)
    assert not torch.allclose(model(padded, torch.tensor([10])), out)
