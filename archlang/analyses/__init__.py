"""Analyses beyond shapes, all static: receptive fields, training memory, legal input sizes,
semantic diffs, counting conventions and lints. Each is a pure function of an analysed graph;
:func:`archlang.analyses.enrich.enrich` adds the figures asked for to a report."""
