"""A Pygments lexer for ``.arch`` files, registered under the ``pygments.lexers`` entry point, so
that Sphinx, MkDocs and ``rich`` highlight ``archlang`` code blocks."""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, Punctuation, String, Whitespace

from .adapter import COMBINATOR_NAMES, FUNCTION_NAMES, catalogue

__all__ = ["ArchLexer"]

_OPS = tuple(sorted({name for op in catalogue() for name in (op.name, *op.aliases)} | {"identity"},
                    key=len, reverse=True))


class ArchLexer(RegexLexer):
    """archlang's architecture specs."""

    name = "archlang"
    aliases = ["archlang", "arch"]
    filenames = ["*.arch"]
    mimetypes = ["text/x-archlang"]
    url = "https://pypi.org/project/archlang/"

    tokens = {
        "root": [
            (r"[ \t\f]+", Whitespace),
            (r"\r?\n|;", Whitespace),
            (r"#.*?$", Comment.Single),
            (r'"[^"\n]*"', String.Double),
            (r"(network|block)(\s+)([A-Za-z_]\w*)", bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (words(("network", "block", "input", "use", "output", "variant", "assert"), suffix=r"\b"), Keyword.Declaration),
            (words(("if", "then", "else", "and", "or", "not", "when", "training", "as"), suffix=r"\b"), Keyword),
            (r"([A-Za-z_]\w*)(\s*)(:)(?!=)", bygroups(Name.Label, Whitespace, Punctuation)),  # cv1: cbs(c)
            (r"(in)(\.)([A-Za-z_]\w*)", bygroups(Keyword.Pseudo, Punctuation, Name.Attribute)),
            (words(COMBINATOR_NAMES, suffix=r"(?=\s*\()"), Name.Builtin),
            (words(FUNCTION_NAMES, suffix=r"(?=\()"), Name.Function.Magic),
            (r"\d+(x\d+)+(?![\w.])", Number.Integer),  # sizes: 5x5, 28x28x192
            (r"(\d+\.\d*|\.\d+)([eE][-+]?\d+)?|\d+[eE][-+]?\d+", Number.Float),
            (r"\d+(?![\w.])", Number.Integer),
            (r"[xspgd]\d+(x\d+)?(?![\w.])", Name.Attribute),  # flags: x64, s2, p0x3
            (r"[xspgd](?=\()", Name.Attribute),  # x(c * 4)
            (words(("same", "valid", "nobias", "ceil", "pixelwise", "affine"), prefix=r"\b", suffix=r"\b"), Name.Constant),
            (r"([A-Za-z_]\w*)(=)(?!=)", bygroups(Name.Attribute, Operator)),  # eps=0.001
            (words(_OPS, prefix=r"\b", suffix=r"\b"), Name.Builtin),
            (r"[A-Za-z_]\w*(?=\()", Name.Function),  # block calls
            (r"[A-Za-z_]\w*", Name),
            (r"->", Operator),
            (r"//|==|!=|<=|>=|[-+*/%<>=]", Operator),
            (r"[(){},.]", Punctuation),
            (r".", Error),  # no character of archlang: the analysis reports it too
        ],
    }
