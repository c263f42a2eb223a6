"""The model zoo: every published figure exactly, and the compiled model counts the same."""

from __future__ import annotations

import pytest

import archlang
from conftest import SPECS

# (spec, overrides): (parameters, multiplies)
ZOO = {
    ("lenet5", ()): (61_706, 416_520),
    ("alexnet", ()): (61_100_840, 714_188_480),
    ("alexnet_course", ()): (62_378_344, None),
    ("vgg", (("depth", 11),)): (132_863_336, 7_609_090_048),
    ("vgg", (("depth", 13),)): (133_047_848, 11_308_466_176),
    ("vgg", (("depth", 16),)): (138_357_544, 15_470_264_320),
    ("vgg", (("depth", 19),)): (143_667_240, 19_632_062_464),
    ("resnet", (("depth", 18),)): (11_689_512, 1_814_073_344),
    ("resnet", (("depth", 34),)): (21_797_672, 3_663_761_408),
    ("resnet", (("depth", 50),)): (25_557_032, 4_089_184_256),
    ("resnet", (("depth", 101),)): (44_549_160, 7_801_405_440),
    ("resnet", (("depth", 152),)): (60_192_808, 11_513_626_624),
    ("googlenet", ()): (6_624_904, 1_498_376_192),
    ("mobilenet_v1", ()): (4_231_976, 568_740_352),
    ("mobilenet_v2", ()): (3_504_872, 300_774_272),
}

EFFICIENTNET = [  # (width, depth, res): (parameters, multiplies), B0 to B7
    ((1.0, 1.0, 224), (5_288_548, 385_814_752)),
    ((1.0, 1.1, 240), (7_794_184, 686_802_832)),
    ((1.1, 1.2, 260), (9_109_994, 993_561_872)),
    ((1.2, 1.4, 300), (12_233_232, 1_827_141_392)),
    ((1.4, 1.8, 380), (19_341_616, 4_393_771_024)),
    ((1.6, 2.2, 456), (30_389_784, 10_266_384_752)),
    ((1.8, 2.6, 528), (43_040_704, 19_067_593_536)),
    ((2.0, 3.1, 600), (66_347_960, 37_745_884_192)),
]
ZOO.update({("efficientnet", (("width", w), ("depth", d), ("res", r))): figures
            for (w, d, r), figures in EFFICIENTNET})


def _id(key: tuple) -> str:
    name, overrides = key
    return name + "".join(f"-{k}{v}" for k, v in overrides)


@pytest.mark.parametrize("key", list(ZOO), ids=[_id(k) for k in ZOO])
def test_zoo_figures(key: tuple) -> None:
    name, overrides = key
    params, mults = ZOO[key]
    report = archlang.check(SPECS / f"{name}.arch", **dict(overrides))
    assert report.totals.params == params
    if mults is not None:
        assert report.totals.mults == mults
    assert report.output == (1000,) if name != "lenet5" else (10,)


@pytest.mark.parametrize("key", list(ZOO), ids=[_id(k) for k in ZOO])
def test_compiled_zoo_counts_the_same(key: tuple) -> None:
    """PyTorch's own count of the compiled model's parameters is the published figure."""
    name, overrides = key
    model = archlang.compile(SPECS / f"{name}.arch", **dict(overrides))
    assert sum(p.numel() for p in model.parameters()) == ZOO[key][0]


def test_vgg_with_batch_norm() -> None:
    plain = archlang.check(SPECS / "vgg.arch", depth=16).totals
    with_bn = archlang.check(SPECS / "vgg.arch", depth=16, bn=1).totals
    assert with_bn.params - plain.params == 2 * (2 * 64 + 2 * 128 + 3 * 256 + 6 * 512)  # torchvision vgg16_bn
    assert with_bn.mults == plain.mults


def test_new_head_changes_only_the_classifier() -> None:
    base = archlang.check(SPECS / "resnet.arch", depth=18)
    ten = archlang.check(SPECS / "resnet.arch", depth=18, classes=10)
    assert ten.output == (10,)
    assert base.totals.params - ten.totals.params == 512 * 990 + 990


def test_efficientnet_resolution_comes_from_the_header() -> None:
    report = archlang.check(SPECS / "efficientnet.arch", res=300)
    assert report.input == (300, 300, 3)
    assert report.rows[0].output == (150, 150, 32)
