"""Every diagnostic, rendered: golden files under tests/goldens/diagnostics (update with
`pytest --update-goldens`), plus the properties every rendering must have."""

from __future__ import annotations

import re

import pytest

from conftest import run_cli, write

CASES: dict[str, str] = {
    "fc_on_volume": "network bad\ninput 32x32x1\nconv 5x5 x6 -> avgpool 2 s2\n-> conv 5x5 x16 -> avgpool 2 s2\n-> fc 120 -> tanh\n",
    "syntax_unexpected_token": "input 28x28x3\nconv 3x3 x16 ->\n -> relu\n",
    "syntax_unclosed": "input 28x28x3\nconcat(conv 1x1 x4, conv 3x3 same x4\n",
    "syntax_bad_character": "input 28x28x3\nconv 3x3 x16 @ relu\n",
    "unknown_op": "input 28x28x3\nconv 3x3 x16 -> rleu\n",
    "unknown_block_call": "block basic(c) { conv 3x3 same x(c) }\ninput 8x8x3\nbasik(4)\n",
    "block_arity": "block basic(c, s = 1) { conv 3x3 s(s) same x(c) }\ninput 8x8x3\nbasic(1, 2, 3)\n",
    "block_unknown_keyword": "block basic(c, s = 1) { conv 3x3 s(s) same x(c) }\ninput 8x8x3\nbasic(4, stride = 2)\n",
    "block_missing_argument": "block basic(c, s = 1) { conv 3x3 s(s) same x(c) }\ninput 8x8x3\nbasic(s = 2)\n",
    "undefined_name": "input 8x8x3\nconv 3x3 x(widht)\n",
    "non_integer_size": "input 8x8x3\nconv 3x3 x(8 / 3)\n",
    "non_positive_size": "input 8x8x3\nconv 3x3 x(4 - 4)\n",
    "kernel_larger_than_input": "input 4x4x3\nconv 5x5 x8\n",
    "window_larger_than_input": "input 2x2x3\nmaxpool 3\n",
    "groups_do_not_divide": "input 8x8x6\nconv 3x3 x8 g4\n",
    "chunks_do_not_divide": "input 8x8x6\nchunk 4 0\n",
    "shuffle_groups": "input 8x8x6\nchannel_shuffle 4\n",
    "add_shape_mismatch": "input 28x28x16\nadd(\n  conv 3x3 x16,\n  conv 3x3 same x16,\n  identity\n)\n",
    "concat_mismatch": "input 28x28x16\nconcat(conv 3x3 x8, conv 3x3 same x8)\n",
    "mul_mismatch": "input 28x28x16\nmul(identity, gap -> conv 1x1 x8)\n",
    "recursive_block": "block a(c) { b(c) }\nblock b(c) { conv 1x1 x(c) -> a(c) }\ninput 8x8x3\na(3)\n",
    "use_missing_file": 'use "nothere.arch"\ninput 8x8x3\nconv 1x1 x2\n',
    "no_input": "conv 3x3 x16\n",
    "empty_file": "# nothing here\n",
    "second_input": "input 8x8x3\ninput 4x4x3\nconv 1x1 x2\n",
    "unroll_limit": "input 8x8x3\n(conv 3x3 same x3) * 10000000\n",
    "several_syntax_errors": "input 28x28x3\nconv 3x3 x16 @ relu\nblock b(c) {\n  conv 3x3 x(c) ->\n}\n"
                             "x = concat(conv 1x1 x2,\n  conv 3x3 x4 ))\nrelu\n",
    "several_errors": "input 28x28x3\nconv 3x3 x16 -> rleu\nx = concat(conv 3x3 x8, conv 3x3 same x8)\nfoo(3)\n",
    "stride_warning_then_error": "input 28x28x3\nconv 3x3 s2 x4 -> chunk 3 0\n",
    "flag_not_taken": "input 8x8x3\nmaxpool 2 x4\n",
    "same_and_padding": "input 8x8x3\nconv 3x3 same p1 x4\n",
    "unknown_word": "input 8x8x3\nconv 3x3 sme x4\n",
    "missing_filters": "input 8x8x3\nconv 3x3\n",
    "missing_kernel": "input 8x8x3\nconv x4\n",
    "tensor_mid_chain": "input 8x8x3\na = conv 1x1 x4\nrelu -> a\n",
    "in_outside_block": "input 8x8x3\nconv 1x1 x(in.c)\n",
    "header_param_without_default": "network n(width)\ninput 8x8x3\nconv 1x1 x(width)\n",
    "op_called_with_parentheses": "input 8x8x3\nconv(3)\n",
    "dropout_probability": "input 8x8x3\ndropout 1.5\n",
    "upsample_mode": "input 8x8x3\nupsample 2 mode=trilinear\n",
    "pool_padding_too_large": "input 8x8x3\nmaxpool 2 p2\n",
    "input_shape_wrong": "input 8x8\nconv 1x1 x2\n",
    "division_by_zero": "input 8x8x3\nconv 1x1 x(4 // 0)\n",
    "conv_on_vector": "input 784\nconv 3x3 x4\n",
    "stride_warning": "input 28x28x3\nconv 3x3 s2 x4\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_diagnostic_rendering(name: str, tmp_path, golden) -> None:
    path = write(tmp_path, f"{name}.arch", CASES[name])
    status, _, err = run_cli("check", path.name, cwd=tmp_path)
    golden(f"diagnostics/{name}.txt", f"exit status {status}\n{err}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_diagnostic_has_location_source_and_caret(name: str, tmp_path) -> None:
    path = write(tmp_path, f"{name}.arch", CASES[name])
    status, _, err = run_cli("check", path.name, cwd=tmp_path)
    assert "Traceback" not in err
    heads = [line for line in err.splitlines() if re.match(r"^\S+\.arch:\d+:\d+: (error|warning): ", line)]
    assert heads, err
    for head in heads:
        line_no = int(head.split(":")[1])
        block = err[err.index(head):].splitlines()
        assert block[1].startswith(f"{line_no} | "), head
        assert set(block[2].split("| ", 1)[1].strip()) == {"^"}, head
    assert status == (1 if " error: " in err else 0)


def test_several_independent_errors_in_one_run(tmp_path) -> None:
    path = write(tmp_path, "x.arch", CASES["several_errors"])
    status, _, err = run_cli("check", str(path))
    assert status == 1
    assert err.count(": error: ") == 2
    assert "did you mean `relu`?" in err and "unknown op or name `foo`" in err
    assert err.rstrip().endswith("2 errors")


def test_caret_spans_the_layer(tmp_path) -> None:
    path = write(tmp_path, "lenet.arch", CASES["fc_on_volume"])
    _, _, err = run_cli("check", str(path))
    lines = err.splitlines()
    assert lines[0].endswith(":5:4: error: fc needs a vector, but receives 5x5x16")
    assert lines[1] == "5 | -> fc 120 -> tanh"
    assert lines[2] == "  |    ^^^^^^"
    assert lines[3] == "help: insert `flatten ->` before `fc`"


def test_usage_and_file_errors_exit_2(tmp_path) -> None:
    assert run_cli("check", str(tmp_path / "missing.arch"))[0] == 2
    bad = tmp_path / "latin1.arch"
    bad.write_bytes(b"input 8x8x3\nconv 1x1 x2 # \xff\n")
    status, _, err = run_cli("check", str(bad))
    assert status == 2 and "not UTF-8" in err
    spec = write(tmp_path, "ok.arch", "network n(w = 2)\ninput 8x8x3\nconv 1x1 x(w)\n")
    status, _, err = run_cli("check", str(spec), "-D", "width=3")
    assert status == 2 and "did you mean `w`?" not in err and "no parameter `width`" in err
    assert run_cli("check", str(spec), "-D", "w")[0] == 2
    assert run_cli("check", str(spec), "--format", "yaml")[0] == 2
    assert run_cli("frobnicate")[0] == 2
    assert run_cli("check", str(spec))[0] == 0


def test_use_cycle(tmp_path) -> None:
    write(tmp_path, "a.arch", 'use "b.arch"\ninput 8x8x3\nconv 1x1 x2\n')
    write(tmp_path, "b.arch", 'use "a.arch"\nblock x() { relu }\n')
    status, _, err = run_cli("check", "a.arch", cwd=tmp_path)
    assert status == 1
    assert "`use` makes a cycle: a.arch -> b.arch -> a.arch" in err


def test_error_in_a_layer_written_again_points_at_that_copy() -> None:
    """Layers written alike share their bound attributes; an error still points at the argument
    of the copy that fails, not at the first one written."""
    import archlang
    from archlang.core.errors import ArchError

    with pytest.raises(ArchError) as caught:
        archlang.check("input 8x8x3\nconv 5x5 x4\nconv 5x5 x4\n")
    (error,) = caught.value.diagnostics
    assert error.message == "the 5x5 kernel is larger than the padded input 4x4"
    assert (error.span.line, error.span.col, error.span.end_col) == (3, 6, 9)
