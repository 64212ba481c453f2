"""Markdown pipe tables, the one table format of results.md, sweep.md and report.md."""


def pipe_table(header, rows):
    """A Markdown table: the `header` cells, a rule, then one line per row of cells (strings)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n"
