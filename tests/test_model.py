"""The hair-mask network: shapes, the 4-channel contract, BN folding."""

from __future__ import annotations

import pytest
import torch

from hairfx.model import PRESETS, HairNet, build_model, fuse_batchnorm

FUSE_ATOL = 1e-4  # float32 re-association error of folding BN into the conv


@pytest.fixture(scope="module", params=sorted(PRESETS))
def net(request):
    torch.manual_seed(0)
    return build_model(request.param).eval()


def _input(net: HairNet, side: int | None = None, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    side = side or 2 * net.stride
    return torch.rand(2, 4, side, side, generator=g)


def test_presets_match_table_1_sizes():
    assert PRESETS["small"].input_size == 256
    assert PRESETS["full"].input_size == 512
    # the lowest level sees the same 8x8 grid at each preset's own input size
    assert PRESETS["small"].input_size // build_model("small").stride == 8
    assert PRESETS["full"].input_size // build_model("full").stride == 8


def test_output_shape_and_dtype(net):
    x = _input(net)
    with torch.inference_mode():
        y = net(x)
    assert y.shape == (2, 1, x.shape[2], x.shape[3])
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()


def test_four_channel_contract(net):
    assert net.in_channels == 4
    assert net.stem[0].weight.shape[1] == 4
    with pytest.raises(RuntimeError):
        net(torch.zeros(1, 3, net.stride, net.stride))


def test_prior_channel_reaches_the_output(net):
    x = _input(net)
    x_prior = x.clone()
    x_prior[:, 3] = 1.0
    x[:, 3] = 0.0
    with torch.inference_mode():
        assert not torch.allclose(net(x), net(x_prior))


def test_large_kernel_stride_four_stem(net):
    conv = net.stem[0]
    assert conv.kernel_size[0] >= 7 and conv.stride[0] >= 4


def test_bottlenecks_squeeze_at_least_16x_where_wide():
    net = build_model("small")
    widest = net.encoders[-1][-1].body
    c_in, c_mid = widest[0][0].in_channels, widest[0][0].out_channels
    assert c_in // c_mid >= 16


def test_fuse_batchnorm_keeps_the_function(net):
    torch.manual_seed(1)
    ref = build_model(net.config.input_size == 256 and "small" or "full")
    for m in ref.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    ref.eval()
    x = _input(ref)
    with torch.inference_mode():
        before = ref(x)
        after = fuse_batchnorm(ref)(x)
    assert torch.allclose(before, after, atol=FUSE_ATOL)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in ref.modules())


def test_training_mode_exposes_coarse_logits():
    net = build_model("small").train()
    net(torch.rand(2, 4, 64, 64))
    assert net.aux_logits.shape == (2, 1, 16, 16)
