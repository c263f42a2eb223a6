"""The runtime of version 2's augmentation and modern-block layers, held against definitions written
out here: repeatable under a seed, the identity (or the centre crop) in eval, independent per sample,
batched on the tensor's device, and inlinable into a generated file without archlang."""

from __future__ import annotations

import ast
import inspect
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from archlang.emit import runtime as rt

AUGMENTATIONS = {
    "hflip": lambda: rt.HFlip(0.5),
    "vflip": lambda: rt.VFlip(0.5),
    "randomcrop": lambda: rt.RandomCrop(12, 12, pad=3),
    "rotate": lambda: rt.Rotate(30),
    "colorjitter": lambda: rt.ColorJitter(0.4, 0.4, 0.4),
    "pcacolor": lambda: rt.PCAColor(0.1),
}


def images(n: int = 8, c: int = 3, h: int = 12, w: int = 12, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, h, w, generator=generator)


# --- every augmentation ------------------------------------------------------------------------

@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_repeatable_under_manual_seed(name: str) -> None:
    layer, x = AUGMENTATIONS[name]().train(), images()
    torch.manual_seed(7)
    first = layer(x)
    torch.manual_seed(7)
    second = layer(x)
    torch.manual_seed(8)
    other = layer(x)
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_training_changes_the_batch_and_eval_is_the_identity(name: str) -> None:
    layer, x = AUGMENTATIONS[name](), images()
    torch.manual_seed(0)
    assert not torch.equal(layer.train()(x), x)
    if name == "randomcrop":
        assert torch.equal(layer.eval()(x), x)  # 12x12 from 12x12: the centre is everything
    else:
        assert layer.eval()(x) is x


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_samples_are_drawn_independently(name: str) -> None:
    layer = AUGMENTATIONS[name]().train()
    x = images(n=1).expand(16, -1, -1, -1).contiguous()  # sixteen copies of one image
    torch.manual_seed(3)
    y = layer(x)
    distinct = {tuple(sample.flatten().tolist()) for sample in y}
    assert len(distinct) > 1  # one draw for the whole batch would leave the copies equal
    assert y.shape == x.shape


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_gradients_flow_to_the_input(name: str) -> None:
    x = images().requires_grad_()
    torch.manual_seed(0)
    AUGMENTATIONS[name]().train()(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_no_parameters(name: str) -> None:
    layer = AUGMENTATIONS[name]()
    assert list(layer.parameters()) == [] and list(layer.state_dict()) == []


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_runs_on_the_tensors_device(name: str) -> None:
    layer, x = AUGMENTATIONS[name]().train(), images().to("meta")
    y = layer.to("meta")(x)  # meta tensors fail on any copy to the host or mix of devices
    assert y.device.type == "meta"


# --- flips ---------------------------------------------------------------------------------------

def test_flips_with_probability_one_and_zero() -> None:
    x = images()
    assert torch.equal(rt.HFlip(1.0).train()(x), torch.flip(x, dims=[3]))
    assert torch.equal(rt.VFlip(1.0).train()(x), torch.flip(x, dims=[2]))
    assert torch.equal(rt.HFlip(0.0).train()(x), x)


def test_flip_each_sample_either_whole_or_not_at_all() -> None:
    x = images(n=64)
    torch.manual_seed(0)
    y = rt.HFlip(0.5).train()(x)
    flipped = [torch.equal(y[i], x[i].flip(-1)) for i in range(64)]
    kept = [torch.equal(y[i], x[i]) for i in range(64)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 16 < sum(flipped) < 48  # p = 0.5: binomial(64, 0.5) is within these bounds w.p. > 0.9999


# --- crops ---------------------------------------------------------------------------------------

def test_crop_gathers_the_window_of_each_sample() -> None:
    x = images(n=3, h=9, w=10)
    top, left = torch.tensor([0, 2, 5]), torch.tensor([1, 0, 6])
    y = rt.crop(x, top, left, 4, 4)
    for i in range(3):
        t, l = int(top[i]), int(left[i])
        assert torch.equal(y[i], x[i, :, t:t + 4, l:l + 4])


def test_random_crop_is_a_window_of_the_zero_padded_sample() -> None:
    x = images(n=16, h=8, w=8) + 1.0  # no zeros inside the image
    torch.manual_seed(0)
    y = rt.RandomCrop(8, 8, pad=2).train()(x)
    padded = nn.functional.pad(x, (2, 2, 2, 2))
    offsets = set()
    for i in range(16):
        found = [(t, l) for t in range(5) for l in range(5) if torch.equal(y[i], padded[i, :, t:t + 8, l:l + 8])]
        assert found, f"sample {i} is not a window of its padded self"
        offsets.add(found[0])
    assert len(offsets) > 1


def test_every_crop_offset_is_reachable() -> None:
    x = torch.arange(6.0).view(1, 1, 1, 6).expand(2000, 1, 1, 6)
    torch.manual_seed(0)
    y = rt.RandomCrop(1, 3, pad=0).train()(x)
    assert sorted(set(y[:, 0, 0, 0].tolist())) == [0.0, 1.0, 2.0, 3.0]


@pytest.mark.parametrize("h, w, ch, cw, pad", [(10, 10, 6, 6, 0), (11, 9, 6, 4, 2), (7, 7, 4, 4, 4),
                                               (5, 5, 9, 7, 2), (32, 32, 32, 32, 4)])
def test_eval_crops_the_centre(h: int, w: int, ch: int, cw: int, pad: int) -> None:
    x = images(n=2, h=h, w=w)
    y = rt.RandomCrop(ch, cw, pad=pad).eval()(x)
    padded = nn.functional.pad(x, (pad, pad, pad, pad))
    top, left = (h + 2 * pad - ch) // 2, (w + 2 * pad - cw) // 2
    assert torch.equal(y, padded[..., top:top + ch, left:left + cw])
    if ch <= h and cw <= w:  # the contract's rule: start at floor((H - h) / 2) of the input
        assert torch.equal(y, x[..., (h - ch) // 2:(h - ch) // 2 + ch, (w - cw) // 2:(w - cw) // 2 + cw])


def test_crop_larger_than_the_padded_input_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot crop 20x20 from 16x16"):
        rt.RandomCrop(20, 20, pad=2).train()(images(h=12, w=12))


# --- rotation ------------------------------------------------------------------------------------

def test_rotation_by_zero_is_the_identity() -> None:
    x = images(h=9, w=14)
    assert torch.allclose(rt.rotate(x, torch.zeros(8)), x, atol=1e-6)
    torch.manual_seed(0)
    assert torch.allclose(rt.Rotate(0).train()(x), x, atol=1e-6)


def test_rotation_by_quarter_turns_is_rot90_counter_clockwise() -> None:
    x = images(h=10, w=10)
    quarter = rt.rotate(x, torch.full((8,), 90.0))
    half = rt.rotate(x, torch.full((8,), -180.0))
    assert torch.allclose(quarter, torch.rot90(x, 1, dims=(2, 3)), atol=1e-5)
    assert torch.allclose(half, torch.rot90(x, 2, dims=(2, 3)), atol=1e-5)


def test_rotation_keeps_the_aspect_ratio_and_fills_with_zeros() -> None:
    # a 6x10 image turned by 90 degrees: the rows that leave the frame are zero, the centre 6x6
    # square is the rotated centre square of the input
    x = images(n=2, h=6, w=10)
    y = rt.rotate(x, torch.full((2,), 90.0))
    assert torch.allclose(y[..., 2:8], torch.rot90(x[..., 2:8], 1, dims=(2, 3)), atol=1e-5)
    assert torch.allclose(y[..., :2], torch.zeros_like(y[..., :2]), atol=1e-6)
    assert torch.allclose(y[..., 8:], torch.zeros_like(y[..., 8:]), atol=1e-6)


def test_rotation_per_sample_angles() -> None:
    x = images(n=2, h=8, w=8)
    y = rt.rotate(x, torch.tensor([90.0, 0.0]))
    assert torch.allclose(y[0], torch.rot90(x[0], 1, dims=(1, 2)), atol=1e-5)
    assert torch.allclose(y[1], x[1], atol=1e-6)


def test_random_angles_are_uniform_in_the_range() -> None:
    x = images(n=32, h=9, w=9)
    torch.manual_seed(4)
    y = rt.Rotate(30).train()(x)
    torch.manual_seed(4)
    angles = torch.rand(32) * 60.0 - 30.0  # the one draw the layer makes
    assert torch.allclose(y, rt.rotate(x, angles), atol=1e-6)
    assert float(angles.abs().max()) > 20.0  # and they are not all near zero


# --- colour --------------------------------------------------------------------------------------

def _gray(x: torch.Tensor) -> torch.Tensor:
    return 0.2989 * x[0] + 0.587 * x[1] + 0.114 * x[2]


def test_colour_adjustments_follow_torchvision_definitions_per_sample() -> None:
    x = images(n=4)
    factor = torch.tensor([0.5, 1.0, 1.3, 0.0])
    bright = rt.adjust_brightness(x, factor)
    contrast = rt.adjust_contrast(x, factor)
    saturation = rt.adjust_saturation(x, factor)
    for i in range(4):
        f = float(factor[i])
        assert torch.allclose(bright[i], f * x[i])
        mean = _gray(x[i]).mean()
        assert torch.allclose(contrast[i], f * x[i] + (1 - f) * mean, atol=1e-6)
        assert torch.allclose(saturation[i], f * x[i] + (1 - f) * _gray(x[i]), atol=1e-6)


def test_colorjitter_factors_and_order() -> None:
    x = images(n=32)
    layer = rt.ColorJitter(brightness=0.2, contrast=0.3, saturation=0.4).train()
    torch.manual_seed(5)
    y = layer(x)
    torch.manual_seed(5)
    b = torch.rand(32) * 0.4 + 0.8
    c = torch.rand(32) * 0.6 + 0.7
    s = torch.rand(32) * 0.8 + 0.6
    expected = rt.adjust_saturation(rt.adjust_contrast(rt.adjust_brightness(x, b), c), s)
    assert torch.allclose(y, expected, atol=1e-6)
    only_brightness = rt.ColorJitter(brightness=0.5).train()
    torch.manual_seed(0)
    ratio = only_brightness(x) / x
    per_sample = ratio.flatten(1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample), atol=1e-5)
    assert float(per_sample.min()) >= 0.5 and float(per_sample.max()) <= 1.5


def test_colorjitter_factor_never_below_zero() -> None:
    torch.manual_seed(0)
    y = rt.ColorJitter(brightness=3.0).train()(images(n=256) + 1.0)
    assert float(y.min()) >= 0.0


def test_pca_shift_is_alexnets_lighting() -> None:
    x = images(n=2)
    alpha = torch.tensor([[1.0, 0.0, 0.0], [0.5, -2.0, 3.0]])
    eigval = torch.tensor([0.2175, 0.0188, 0.0045])
    eigvec = torch.tensor([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])
    y = rt.pca_shift(x, alpha, eigval, eigvec)
    for i in range(2):
        # fb.resnet.torch: rgb = eigvec * alpha * eigval, summed over the components
        rgb = [sum(float(eigvec[c, j] * alpha[i, j] * eigval[j]) for j in range(3)) for c in range(3)]
        assert torch.allclose(y[i] - x[i], torch.tensor(rgb).view(3, 1, 1).expand(3, 12, 12), atol=1e-6)


def test_pcacolor_draws_normal_coefficients_with_std() -> None:
    layer = rt.PCAColor(std=0.1).train()
    x = torch.zeros(20_000, 3, 1, 1)
    torch.manual_seed(0)
    shift = layer(x).flatten(1)  # N x 3 = alpha * eigval @ eigvec.T
    eigval = torch.tensor(rt.IMAGENET_PCA_EIGVAL)
    alpha = shift @ torch.tensor(rt.IMAGENET_PCA_EIGVEC) / eigval  # eigvec is orthonormal
    assert torch.allclose(alpha.mean(0), torch.zeros(3), atol=0.005)
    assert torch.allclose(alpha.std(0), torch.full((3,), 0.1), atol=0.005)


def test_imagenet_eigenvectors_are_orthonormal() -> None:
    eigvec = torch.tensor(rt.IMAGENET_PCA_EIGVEC, dtype=torch.float64)
    assert torch.allclose(eigvec.T @ eigvec, torch.eye(3, dtype=torch.float64), atol=2e-4)


# --- stochastic depth ----------------------------------------------------------------------------

def _stochastic_depth_by_definition(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """torchvision's documented semantics, written out: a Bernoulli(1 - p) draw of shape
    [N, 1, ..., 1], survivors divided by 1 - p (not when nothing survives), identity in eval."""
    if not training or p == 0.0:
        return x
    keep = torch.empty([x.shape[0]] + [1] * (x.ndim - 1), dtype=x.dtype).bernoulli_(1 - p)
    return x * (keep / (1 - p) if p < 1.0 else keep)


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 1.0])
def test_droppath_matches_stochastic_depth_row_mode(p: float) -> None:
    x = images(n=64) + 1.0
    torch.manual_seed(11)
    got = rt.DropPath(p).train()(x)
    torch.manual_seed(11)
    expected = _stochastic_depth_by_definition(x, p, training=True)
    assert torch.equal(got, expected)
    assert rt.DropPath(p).eval()(x) is x
    ratios = {round(float(r), 5) for r in (got / x).flatten(1).unique(dim=0)[:, 0]}
    assert ratios <= {0.0, round(1 / (1 - p), 5) if p < 1 else 0.0}


def test_droppath_drops_whole_samples_at_the_expected_rate() -> None:
    x = torch.ones(10_000, 2, 3, 3)
    torch.manual_seed(0)
    y = rt.DropPath(0.3).train()(x)
    dropped = (y.flatten(1) == 0).all(1)
    kept = torch.isclose(y.flatten(1), torch.tensor(1 / 0.7)).all(1)
    assert bool((dropped | kept).all())
    assert abs(float(dropped.float().mean()) - 0.3) < 0.015


def test_droppath_refuses_a_probability_outside_0_1() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        rt.DropPath(1.5).train()(images())


def test_droppath_gradients() -> None:
    x = images().requires_grad_()
    torch.manual_seed(0)
    rt.DropPath(0.5).train()(x).sum().backward()
    assert x.grad is not None
    per_sample = x.grad.flatten(1)
    assert set(per_sample[:, 0].tolist()) <= {0.0, 2.0} and bool((per_sample == per_sample[:, :1]).all())


# --- ConvNeXt's layers ---------------------------------------------------------------------------

def test_layernorm2d_normalises_each_pixel_over_channels() -> None:
    torch.manual_seed(0)
    norm = rt.LayerNorm2d(5, eps=1e-6)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(5))
        norm.bias.copy_(torch.randn(5))
    x = torch.randn(2, 5, 4, 3)
    y = norm(x)
    mean = x.mean(1, keepdim=True)
    var = x.var(1, unbiased=False, keepdim=True)
    expected = (x - mean) / torch.sqrt(var + 1e-6) * norm.weight.view(1, 5, 1, 1) + norm.bias.view(1, 5, 1, 1)
    assert torch.allclose(y, expected, atol=1e-5)
    assert list(norm.state_dict()) == ["weight", "bias"]
    assert [tuple(p.shape) for p in norm.parameters()] == [(5,), (5,)]


def test_layerscale_is_one_parameter_of_shape_c11() -> None:
    scale = rt.LayerScale(6, init=1e-6)
    assert [(name, tuple(p.shape)) for name, p in scale.named_parameters()] == [("gamma", (6, 1, 1))]
    assert bool((scale.gamma == 1e-6).all())
    x = torch.randn(2, 6, 3, 3)
    with torch.no_grad():
        scale.gamma.copy_(torch.arange(6.0).view(6, 1, 1))
    assert torch.allclose(scale(x), x * torch.arange(6.0).view(1, 6, 1, 1))


def test_pixelwise_linear_is_convnexts_permute_linear_permute() -> None:
    torch.manual_seed(0)
    layer = rt.PixelwiseLinear(4, 7)
    assert tuple(layer.weight.shape) == (7, 4) and tuple(layer.bias.shape) == (7,)
    x = torch.randn(2, 4, 3, 5)
    expected = nn.functional.conv2d(x, layer.weight.view(7, 4, 1, 1), layer.bias)
    assert torch.allclose(layer(x), expected, atol=1e-5)
    assert layer(x).shape == (2, 7, 3, 5)


# --- inlinable source ----------------------------------------------------------------------------

def test_source_imports_only_math_and_torch() -> None:
    tree = ast.parse(inspect.getsource(rt))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module != "__future__"
            imported.add(node.module)
    assert imported == {"math", "torch"}


def test_source_runs_inlined_into_a_file_without_archlang() -> None:
    source = Path(rt.__file__).read_text(encoding="utf-8")
    namespace: dict = {"__name__": "generated_model"}
    exec(compile(source, "generated_model.py", "exec"), namespace)  # noqa: S102 - our own source
    x = images()
    torch.manual_seed(0)
    inlined = namespace["RandomCrop"](12, 12, pad=3).train()(x)
    torch.manual_seed(0)
    assert torch.equal(inlined, rt.RandomCrop(12, 12, pad=3).train()(x))


def test_hot_paths_never_copy_to_the_host() -> None:
    source = inspect.getsource(rt)
    for forbidden in (".cpu(", ".item(", ".tolist(", ".numpy(", "for i in range"):
        assert forbidden not in source


@pytest.mark.gpu
@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_on_cuda(name: str) -> None:
    layer, x = AUGMENTATIONS[name]().cuda().train(), images().cuda()
    torch.manual_seed(0)
    y = layer(x)
    torch.manual_seed(0)
    assert y.is_cuda and torch.equal(y, layer(x))
    assert math.isfinite(float(y.sum()))
