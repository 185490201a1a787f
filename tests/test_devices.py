from __future__ import annotations

import pytest
import torch

from rnn_core.devices import pick_device
from rnn_core.stack import RecurrentStack

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_cpu_when_no_gpu_is_asked_for():
    assert pick_device(0) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback on CPU-only machines")
def test_gpu_request_without_cuda_falls_back_with_a_warning():
    with pytest.warns(RuntimeWarning, match="CUDA is not available"):
        assert pick_device(0.25) == torch.device("cpu")


@pytest.mark.gpu
@needs_cuda
def test_fractional_gpu_request_gets_cuda():
    assert pick_device(0.25).type == "cuda"


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_packed_cuda_path_equals_padded_cpu_path(cell):
    torch.manual_seed(0)
    stack = RecurrentStack(cell, 8, 16, num_layers=2).double()
    x = torch.randn(4, 9, 8, dtype=torch.float64)
    lengths = torch.tensor([9, 3, 6, 1])
    out_cpu, last_cpu = stack(x, lengths)
    stack_gpu = stack.cuda()
    out_gpu, last_gpu = stack_gpu(x.cuda(), lengths.cuda())
    torch.testing.assert_close(last_gpu.cpu(), last_cpu)
