"""How the tables name an agent by what it reads of the source labels (a run records its agent's
``reads_labels``): the marks after its name and the note that explains them. Shared by the comparison's report
(:mod:`benchmarks.report`) and the compute frontier's table and figure (:mod:`benchmarks.frontier`)."""

from __future__ import annotations

from typing import Any

# ``reference`` rows (the oracle, RHO-LOSS with labelled IL data) read which source is the target and are shown as
# references, never ranked among the agents; ``source`` rows (domain mixers such as ODM) read each window's source
# but never which source is the target. Every other row reads no label.
LABEL_MARKS = {"reference": " †", "source": " ‡"}
LABEL_NOTE = ("† a reference row: reads which source is the target (source labels no deployable agent has); "
              "never ranked among the agents. ‡ reads each window's source label, never which is the target.")


def agent_label(row: dict[str, Any]) -> str:
    """The agent's name as the tables print it: marked when it reads source labels (``LABEL_MARKS``)."""
    return row["agent"] + LABEL_MARKS.get(row.get("reads_labels") or "", "")
