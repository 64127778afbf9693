"""The hair-mask network: shapes, the 4-channel contract, BN folding."""

from __future__ import annotations

import pytest

from conftest import TORCH_REASON

torch = pytest.importorskip("torch", reason=TORCH_REASON)  # every test here runs the network

from hairfx.model import (
    PRESETS, DenseRefine, HairNet, HairNetConfig, build_model, fuse_batchnorm, transfer_weights,
)

FUSE_ATOL = 1e-4  # float32 re-association error of folding BN into the conv


@pytest.fixture(scope="module", params=sorted(PRESETS))
def net(request):
    torch.manual_seed(0)
    return build_model(request.param).eval()


def _input(net: HairNet, side: int | None = None, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    side = side or 2 * net.stride
    return torch.rand(2, 4, side, side, generator=g)


def _randomise_batchnorm(net: HairNet) -> None:
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)


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
    _randomise_batchnorm(ref)  # non-trivial BN statistics
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


NARROW = HairNetConfig(input_size=128, widths=(16, 32, 64, 128), depths=(1, 2, 2, 3))
WIDE = HairNetConfig(input_size=128, widths=(16, 32, 64, 256), depths=(1, 2, 2, 3))


def _transfer_keeps_the_function(config: HairNetConfig, seed: int) -> tuple[HairNet, HairNet]:
    """NARROW (BatchNorm statistics randomised) and a network of the grown ``config`` that took
    its weights: every tensor transfers, and the grown network then computes what NARROW does."""
    torch.manual_seed(seed)
    narrow = HairNet(NARROW)
    _randomise_batchnorm(narrow)
    narrow.eval()
    grown = HairNet(config).eval()
    x = _input(narrow, side=128)
    with torch.inference_mode():
        differs = (narrow(x) - grown(x)).abs().max().item()
        assert transfer_weights(narrow.state_dict(), grown) == len(narrow.state_dict())
        assert (narrow(x) - grown(x)).abs().max().item() < 1e-5 < differs
    return narrow, grown


def test_transfer_into_a_wider_level_keeps_the_function():
    _, wide = _transfer_keeps_the_function(WIDE, seed=2)
    # the widest level really is wider, with the paper's 16x squeeze
    squeeze = wide.encoders[-1][-1].body[0][0]
    assert (squeeze.in_channels, squeeze.out_channels) == (256, 16)


DEEP = HairNetConfig(input_size=128, widths=(16, 48, 64, 256), depths=(1, 2, 3, 4))


def test_transfer_into_deeper_levels_keeps_the_function_and_the_added_blocks_learn():
    narrow, deep = _transfer_keeps_the_function(DEEP, seed=4)
    added = deep.encoders[3][4].body[2][1]  # level 3's fourth bottleneck: not in the source
    assert added.weight.abs().max() == 0 and added.bias.abs().max() == 0
    kept = deep.encoders[3][3].body[2][1]
    assert torch.equal(kept.weight[:128], narrow.encoders[3][3].body[2][1].weight)  # widened, kept
    deep.train()
    opt = torch.optim.SGD(deep.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        deep(torch.rand(2, 4, 128, 128)).mean().backward()
        opt.step()
    assert added.weight.abs().max() > 0


def test_added_channels_learn_after_a_widening_transfer():
    torch.manual_seed(3)
    wide = HairNet(WIDE)
    transfer_weights(HairNet(NARROW).state_dict(), wide)
    wide.train()
    expand = wide.encoders[-1][-1].body[2][0].weight  # old outputs read the added mids through zeros
    assert expand[:128, 8:].abs().max() == 0
    opt = torch.optim.SGD(wide.parameters(), lr=0.1)
    x = torch.rand(2, 4, 128, 128)
    for _ in range(2):
        opt.zero_grad()
        wide(x).mean().backward()
        opt.step()
    assert expand[:128, 8:].abs().max() > 0


def test_transfer_skips_tensors_that_do_not_fit():
    wide, narrow = HairNet(WIDE), HairNet(NARROW)
    before = narrow.encoders[-1][0][0].weight.clone()
    # a wider level cannot go into a narrower one; everything else still transfers
    n = transfer_weights(wide.state_dict(), narrow)
    assert 0 < n < len(wide.state_dict())
    assert torch.equal(narrow.encoders[-1][0][0].weight, before)


def test_transfer_never_widens_the_concatenating_head_and_refinement():
    """The refinement reads the head's channels, then the input's: a wider head would put
    its added channels in front of the input's, so a slice copy would scramble them."""
    narrow, wide_head = HairNet(NARROW), HairNet(HairNetConfig(**{**vars(NARROW), "head_channels": 8}))
    assert transfer_weights(narrow.state_dict(), wide_head) == len(narrow.state_dict()) - 5  # head, coarse, refine


@pytest.mark.parametrize("layers, growth", [(1, 4), (2, 4), (3, 2)])
def test_refinement_computes_the_textbook_dense_layers(layers, growth):
    """The refinement's merged convolutions give the textbook DenseNet stack's output and
    gradients: each layer a 3x3 convolution of everything concatenated so far."""
    torch.manual_seed(layers)
    refine = DenseRefine(8, growth=growth, layers=layers)
    x = torch.rand(2, 8, 24, 40, requires_grad=True)

    def textbook(x):
        for layer in refine.layers:
            x = torch.cat([x, layer(x)], dim=1)
        return refine.out(x)

    want = textbook(x)
    want.square().sum().backward()
    want_grads = [p.grad.clone() for p in refine.parameters()] + [x.grad.clone()]
    refine.zero_grad()
    x.grad = None
    got = refine(x)
    got.square().sum().backward()
    got_grads = [p.grad for p in refine.parameters()] + [x.grad]
    assert got.shape == (2, 1, 24, 40)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    for g, w in zip(got_grads, want_grads):
        torch.testing.assert_close(g, w, atol=1e-4, rtol=1e-4)
