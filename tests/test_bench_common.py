"""The FLOP counts every bench figure divides by, checked by hand; what ``bench/run.py
--quick`` runs."""

from bench._common import matmul, recurrent_flops_per_token
from bench.lm import lm_flops_per_token


def test_recurrent_and_decoder_flops_by_hand():
    # LSTM, 2 layers of 200 on 200-d embeddings: 6 x 4*200 x ((200+200) + (200+200))
    assert recurrent_flops_per_token(4, 2, 200, 200) == 3_840_000
    # + the tied decoder over 13,190 words: 6 x 200 x 13,190
    assert lm_flops_per_token("lstm", 2, 200, 200, 13_190) == 3_840_000 + 15_828_000
    assert recurrent_flops_per_token(3, 1, 100, 32) == 6 * 300 * 132  # GRU: 3 gate blocks


def test_matmul_roof_is_a_positive_rate():
    assert matmul(64, 64, 64, min_s=0.0)() > 0


def test_the_quick_bench_leaves_the_heavy_sweeps_to_their_flags():
    """``bench/run.py --quick`` runs no sweep but the smoke one's: the search sweeps and the
    quick preset's take their flags, or the search sweeps an ``--only`` that names them."""
    from bench.run import parse_args

    quick = parse_args(["--quick"])
    assert not quick.search_sweeps and not quick.preset_sweep
    assert parse_args(["--quick", "--search-sweeps"]).search_sweeps
    assert parse_args(["--quick", "--only", "data,search"]).search_sweeps
    full = parse_args([])
    assert full.search_sweeps and full.preset_sweep
    assert not parse_args(["--no-search-sweeps"]).search_sweeps
