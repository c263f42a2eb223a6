"""Shapes and the sliding-window arithmetic shared by convolutions and pooling.

Shapes are tuples: ``(H, W, C)`` for a volume, ``(N,)`` for a vector, as the course writes them.
The rules follow PyTorch's exactly, including where PyTorch refuses an input.
"""

from __future__ import annotations

from enum import StrEnum

from .records import dataclass

Shape = tuple[int, ...]


class Layout(StrEnum):
    """How shapes are shown: ``hwc`` as the course writes them (``112x112x64``), ``nchw`` as
    PyTorch prints a tensor's size for a batch of one (``[1, 64, 112, 112]``)."""

    HWC = "hwc"
    NCHW = "nchw"


def torch_dims(shape: Shape) -> list[int]:
    """The size PyTorch gives a batch of one: ``(H, W, C)`` -> ``[1, C, H, W]``, ``(N,)`` -> ``[1, N]``."""
    if len(shape) == 3:
        return [1, shape[2], shape[0], shape[1]]
    return [1, *shape]


def fmt(shape: Shape | None, layout: Layout = Layout.HWC) -> str:
    """``28x28x192`` or ``120`` (``[1, 192, 28, 28]``, ``[1, 120]`` in the NCHW layout); ``?``
    when a shape is unknown after an earlier error."""
    if shape is None:
        return "?"
    if layout == Layout.NCHW:
        return "[" + ", ".join(str(d) for d in torch_dims(shape)) + "]"
    return "x".join(str(d) for d in shape)


def is_volume(shape: Shape) -> bool:
    return len(shape) == 3


def numel(shape: Shape) -> int:
    total = 1
    for d in shape:
        total *= d
    return total


class ShapeError(Exception):
    """A rule refuses its input. ``arg`` names the layer argument to point at, if any."""

    def __init__(self, message: str, help: str | None = None, arg: str | None = None):
        super().__init__(message)
        self.message, self.help, self.arg = message, help, arg


@dataclass(frozen=True)
class Window:
    """One spatial axis of a sliding window: kernel, stride, padding before/after, dilation."""

    kernel: int
    stride: int
    pad_before: int
    pad_after: int
    dilation: int = 1

    @property
    def extent(self) -> int:
        return self.dilation * (self.kernel - 1) + 1

    def span_in(self, n: int) -> int:
        """The padded length minus the dilated kernel: what the strides walk over."""
        return n + self.pad_before + self.pad_after - self.extent


def conv_out(n: int, w: Window) -> int:
    """``floor((n + 2p - d(k-1) - 1) / s) + 1``; requires the kernel to fit the padded input."""
    return w.span_in(n) // w.stride + 1


def pool_out(n: int, w: Window, ceil: bool) -> int:
    """PyTorch's pooling size: with ceil mode the last window must start inside the input or
    its left padding."""
    if not ceil:
        return conv_out(n, w)
    out = -(-w.span_in(n) // w.stride) + 1
    if (out - 1) * w.stride >= n + w.pad_before:
        out -= 1
    return out


def transposed_out(n: int, kernel: int, stride: int, pad: int, dilation: int, output_padding: int) -> int:
    return (n - 1) * stride - 2 * pad + dilation * (kernel - 1) + output_padding + 1


def same_padding(kernel: int, dilation: int, strided: bool) -> tuple[int, int]:
    """Padding before/after for `same`: keeps the size when the stride is 1 in both directions
    (PyTorch's `padding='same'`, the odd pixel after), `d(k - 1) // 2` per side otherwise."""
    total = dilation * (kernel - 1)
    if not strided:
        return total // 2, total - total // 2
    return total // 2, total // 2


def dropped_rows_warning(n: int, w: Window, axis: str) -> str | None:
    """A stride that leaves the last rows or columns of the padded input unused."""
    rest = w.span_in(n) % w.stride
    if rest <= w.pad_after or w.span_in(n) < 0 or w.extent < w.stride:
        return None  # only padding goes unused, or the windows skip rows by design (1x1 s2)
    what = "row" if axis == "h" else "column"
    what += "s" if rest > 1 else ""
    pads = w.pad_before + w.pad_after
    padded = f"{n} + {pads}" if pads else f"{n}"
    extent = w.extent
    return (f"`floor(({padded} - {extent}) / {w.stride}) + 1` leaves the last {rest} {what} unused"
            if rest > 1 else
            f"`floor(({padded} - {extent}) / {w.stride}) + 1` leaves the last {what} unused")
