"""The hair-mask network: a 4-channel hourglass after Tkachenka et al. (2019).

Input: ``N x 4 x S x S`` float32, channels ``R, G, B, prior`` where RGB is scaled to
``[0, 1]`` and the prior is the previous frame's hair probability in ``[0, 1]``
(all zeros for "no prior"). Output: ``N x 1 x S x S`` hair *logits* (apply a sigmoid
for the probability). ``S`` must be a multiple of :attr:`HairNet.stride`.

The design follows sections 2-5 of the paper:

* a large-kernel stem (7x7, stride 4) on the full-resolution input, cheap because it
  has only four input channels;
* aggressive downsampling (one stride-2 stage per level, down to 1/32 or 1/64) with
  U-Net skip connections restoring low-level features on the way up;
* residual bottlenecks (E-Net/ResNet style, with dilation at the lowest levels for
  context) that squeeze ``C`` channels to ``max(C / 16, 8)``: 16x at the 256- and 128-channel
  levels, 8x / 4x / 2x at the 64- / 32- / 16-channel ones, where a 16x squeeze would
  leave one to four channels;
* DenseNet-style refinement at full input resolution: the upsampled decoder features
  concatenated with the raw 4-channel input feed ``dense_layers`` layers (one in both
  presets), each adding ``dense_growth`` channels to the concatenation, and a last 3x3
  layer that reads all of it and emits the logits. (A 1x1 coarse head at 1/4 resolution
  is trained alongside, as deep supervision, and is not used at inference.)

No I/O and no preprocessing live here; see :mod:`hairfx.segmenter`. PyTorch is an extra
(``pip install "hairfx[torch]"``): without it, importing this module raises
:class:`~hairfx.errors.MissingDependency`.
"""

from __future__ import annotations

from ._optional import require

torch = require("torch", "hairfx.model (the hair-mask network in PyTorch)", "torch")

import torch.nn.functional as F  # after the check above, which names the extra
from torch import nn

from .presets import PRESETS, HairNetConfig

__all__ = ["HairNetConfig", "HairNet", "PRESETS", "build_model"]


def _conv_bn(cin: int, cout: int, k: int, *, stride: int = 1, dilation: int = 1, act: bool = True) -> nn.Sequential:
    pad = dilation * (k - 1) // 2
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """Residual bottleneck squeezed by ``squeeze`` (1x1 down, 3x3 dilated, 1x1 up)."""

    def __init__(self, channels: int, *, squeeze: int, min_mid: int, dilation: int = 1):
        super().__init__()
        mid = max(channels // squeeze, min_mid)
        self.body = nn.Sequential(
            _conv_bn(channels, mid, 1),
            _conv_bn(mid, mid, 3, dilation=dilation),
            _conv_bn(mid, channels, 1, act=False),
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class DenseRefine(nn.Module):
    """DenseNet-style layers at full resolution: each sees all earlier feature maps.

    The textbook form concatenates the input and every layer's output and convolves
    the growing stack: a 3x3 convolution over the 8-12 full-resolution channels per
    layer, each with only 1 to 4 output channels. :meth:`forward` computes the same
    function in fewer full-resolution passes. A convolution over a concatenation is the
    sum of convolutions over its parts, so one 3x3 convolution reads the input once for
    every layer and for the logits together (``growth * layers + 1`` outputs, with all
    the biases), and each later convolution reads only the maps grown since. The
    weights and their names are those of the textbook form. ONNX Runtime ran the
    refinement alone in 5.1-5.8 ms instead of 7.0-9.0 ms on the full preset's 512x384
    canvas (model card, Speed).
    """

    def __init__(self, cin: int, *, growth: int, layers: int):
        super().__init__()
        self.cin = cin
        self.growth = growth
        self.layers = nn.ModuleList()
        c = cin
        for _ in range(layers):
            self.layers.append(nn.Sequential(nn.Conv2d(c, growth, 3, padding=1), nn.ReLU(inplace=True)))
            c += growth
        # The last layer sees every earlier map and emits the logits directly: one less
        # full-resolution tensor than a separate 1x1 output layer.
        self.out = nn.Conv2d(c, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        convs = [layer[0] for layer in self.layers] + [self.out]
        cin, g = self.cin, self.growth
        # Every convolution's share of the input (its first cin weight columns), in one.
        first = F.conv2d(
            x, torch.cat([c.weight[:, :cin] for c in convs]), torch.cat([c.bias for c in convs]), padding=1
        )
        grown: list[torch.Tensor] = []

        def convolved(i: int, conv: nn.Conv2d) -> torch.Tensor:
            y = first[:, i * g : i * g + conv.out_channels]
            if grown:  # the maps grown by the layers before this one
                y = y + F.conv2d(grown[0] if len(grown) == 1 else torch.cat(grown, 1), conv.weight[:, cin:], padding=1)
            return y

        for i, conv in enumerate(convs[:-1]):
            grown.append(F.relu(convolved(i, conv)))
        return convolved(len(convs) - 1, self.out)


class HairNet(nn.Module):
    """Hourglass segmentation network with a previous-mask input channel.

    >>> net = HairNet(PRESETS["small"]).eval()
    >>> net(torch.zeros(1, 4, 256, 256)).shape
    torch.Size([1, 1, 256, 256])
    """

    in_channels = 4

    def __init__(self, config: HairNetConfig):
        super().__init__()
        self.config = config
        w = config.widths
        kw = dict(squeeze=config.squeeze, min_mid=config.min_mid)
        self.stride = config.stride
        self.stem = _conv_bn(self.in_channels, w[0], 7, stride=4)
        self.encoders = nn.ModuleList()
        for i, (c, n) in enumerate(zip(w, config.depths)):
            down = nn.Identity() if i == 0 else _conv_bn(w[i - 1], c, 3, stride=2)
            deep = i >= len(w) - config.dilated_levels
            dil = [2 ** (j + 1) if deep else 1 for j in range(n)]
            self.encoders.append(nn.Sequential(down, *[Bottleneck(c, dilation=d, **kw) for d in dil]))
        # Decoder, deepest level first: project to the skip's width, upsample, add, refine.
        self.projections = nn.ModuleList(_conv_bn(w[i], w[i - 1], 1) for i in range(len(w) - 1, 0, -1))
        self.decoders = nn.ModuleList(Bottleneck(w[i - 1], **kw) for i in range(len(w) - 1, 0, -1))
        self.head = nn.Conv2d(w[0], config.head_channels, 1)
        self.coarse = nn.Conv2d(config.head_channels, 1, 1)
        self.refine = DenseRefine(
            config.head_channels + self.in_channels, growth=config.dense_growth, layers=config.dense_layers
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        feats = []
        y = self.stem(x)
        for enc in self.encoders:
            y = enc(y)
            feats.append(y)
        y = feats.pop()
        for proj, dec in zip(self.projections, self.decoders):
            skip = feats.pop()
            y = F.interpolate(proj(y), size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = dec(y + skip)
        h = F.relu(self.head(y))
        if self.training:  # deep supervision of the coarse 1/4-resolution head
            self.aux_logits = self.coarse(h)
        h = F.interpolate(h, size=size, mode="bilinear", align_corners=False)
        return self.refine(torch.cat([h, x], dim=1))


def build_model(name: str) -> HairNet:
    """A freshly initialised network for preset ``name`` ("small" or "full")."""
    return HairNet(PRESETS[name])


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every ``Conv2d -> BatchNorm2d`` pair into the convolution (in place; eval only)."""
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module._modules.items())
        for (name_a, a), (name_b, b) in zip(children, children[1:]):
            if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
                scale = b.weight / torch.sqrt(b.running_var + b.eps)
                a.weight = nn.Parameter((a.weight * scale[:, None, None, None]).detach())
                bias = a.bias if a.bias is not None else torch.zeros_like(b.running_mean)
                a.bias = nn.Parameter(((bias - b.running_mean) * scale + b.bias).detach())
                module._modules[name_b] = nn.Identity()
    return model


def transfer_weights(source: dict, target: HairNet) -> int:
    """Copy every tensor of state dict ``source`` whose name fits ``target``; return how many.

    Decoder stages are matched from the shallowest level up, so a network with one
    more level takes a smaller one's weights level for level (the full preset takes the
    small preset's first three levels; their lowest levels differ in width).

    A tensor of the hourglass (stem, encoders, projections, decoders) that ``target``
    holds larger in its channel dimensions (a level made wider) is copied into the
    leading slice, and the network still computes what the source computed: the added
    output channels keep their fresh initialisation, and every weight through which an
    *old* output channel would read an added input channel is zeroed. The added channels
    therefore reach the output only through weights that start at zero, which training
    then grows (as in Net2Net, Chen et al. 2016, with zero rather than copied
    initialisation, so no symmetry needs breaking). The head and the refinement
    concatenate their inputs, so added channels there would not come last: they are
    only ever copied whole.

    A level made deeper keeps the function too: each encoder bottleneck that ``source``
    lacks starts as the identity, its last BatchNorm's scale and shift zero, so its
    residual branch adds nothing until training grows it (the zero-initialised residual
    of Goyal et al. 2017). The small preset grew from two to three and four bottlenecks
    per level this way (model card).
    """
    levels = [int(k.split(".")[1]) for k in source if k.startswith("projections.") and k.split(".")[1].isdigit()]
    shift = len(target.config.widths) - 2 - max(levels) if levels else 0
    own = target.state_dict()
    copied = 0
    for key, value in source.items():
        parts = key.split(".")
        if parts[0] in ("projections", "decoders"):
            parts[1] = str(int(parts[1]) + shift)
        name = ".".join(parts)
        if name not in own:
            continue
        dst = own[name]
        if dst.shape == value.shape:
            dst.copy_(value)
        elif parts[0] in _WIDENABLE and _grows(value.shape, dst.shape):
            if dst.dim() == 4:  # old output channels read the added inputs through zeros
                dst[: value.shape[0]].zero_()
            dst[tuple(slice(0, n) for n in value.shape)] = value
        else:
            continue
        copied += 1
    if copied:
        for name in own:  # encoders.LEVEL.BLOCK.body.2.1.weight: a bottleneck's last BatchNorm
            parts = name.split(".")
            if parts[0] == "encoders" and parts[3:] == ["body", "2", "1", "weight"] and name not in source:
                own[name].zero_()
                own[name[: -len("weight")] + "bias"].zero_()
    return copied


#: The parts of the network where every channel dimension ends in the added channels.
_WIDENABLE = ("stem", "encoders", "projections", "decoders")


def _grows(small: torch.Size, large: torch.Size) -> bool:
    """True when ``large`` widens ``small`` in its channel dimensions only (a conv
    weight ``out x in x k x k`` with the same kernel, or a per-channel vector)."""
    if len(small) != len(large) or len(small) not in (1, 4):
        return False
    if len(small) == 4 and small[2:] != large[2:]:
        return False
    return all(a <= b for a, b in zip(small, large))


__all__ += ["fuse_batchnorm", "transfer_weights"]
