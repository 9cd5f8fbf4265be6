"""The classification tasks of the project (COVID-MTL's three): one home for their definitions.

Each task names its label column in the case table / manifest / feature table, its class
names (index = class label) and hence its class count. Used by :mod:`covidct.ml`,
:mod:`covidct.training` and :mod:`covidct.models`.
"""

from __future__ import annotations

from dataclasses import dataclass

from covidct.errors import InvalidInputError

__all__ = ["TASKS", "TaskSpec", "get_task", "task_classes", "task_columns"]


@dataclass(frozen=True)
class TaskSpec:
    """A classification task on the case table: its label column and classes."""

    name: str
    column: str
    class_names: tuple[str, ...]

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)


#: task name -> definition (ct: CT findings, nat: nucleic-acid test, severity: 3 grades).
TASKS: dict[str, TaskSpec] = {
    "ct": TaskSpec("ct", "ct_positive", ("CT negative", "CT positive")),
    "nat": TaskSpec("nat", "nat_positive", ("NAT negative", "NAT positive")),
    "severity": TaskSpec("severity", "severity",
                         ("control/suspected", "mild/regular", "severe/critical")),
}


def get_task(name: str) -> TaskSpec:
    """The task called ``name`` (ct, nat, severity); InvalidInputError otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise InvalidInputError(f"unknown task {name!r}; expected one of {sorted(TASKS)}") from None


def task_columns() -> dict[str, str]:
    """task name -> label column."""
    return {name: spec.column for name, spec in TASKS.items()}


def task_classes() -> dict[str, int]:
    """task name -> number of classes."""
    return {name: spec.n_classes for name, spec in TASKS.items()}
