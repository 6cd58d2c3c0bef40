"""The client state store actor: a thin Ray wrapper over `fedray.client_store.ClientStore`.

It holds per-client vectors that persist across rounds on the disk of the driver's node,
under the run's directory, so a checkpoint can link its files: SCAFFOLD's c_i in the main
table (at the root, as it always was), and named tables beside it in sub-directories
(compression's `residual` and `copy`, FoolsGold's `foolsgold` history). Memory follows the
round's cohort; neither the population nor the clients that ever took part are held.

Tables in SERVER_ONLY are read by the Aggregator alone (`table_rows`), never sent to the
workers with `rows`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fedray import calls
from fedray.client_store import INDEX, ClientStore
from fedray.defenses import foolsgold

SERVER_ONLY = frozenset({foolsgold.TABLE})


def defense_tables(defense) -> tuple[str, ...]:
    """The tables the scenario's defense keeps per client: FoolsGold's summed updates."""
    return (foolsgold.TABLE,) if defense.type == "foolsgold" else ()


class ClientStateStore:
    def __init__(
        self,
        dim: int,
        root: str,
        checkpoint: str | None = None,
        snapshot: tuple[np.ndarray, np.ndarray] | None = None,
        tables: tuple[str, ...] = (),
    ):
        """Open the store at `root`: empty, or from a checkpoint directory that `save` wrote,
        or from `snapshot` (ids, values), as checkpoints before the on-disk store held them.
        `tables`: the names of further tables of `dim` floats per client."""
        if checkpoint is not None:
            self.store = ClientStore.load(checkpoint, root)
        else:
            self.store = ClientStore(root, dim)
            if snapshot is not None:
                self.store.put(*snapshot)
        # Opened after the main table, whose load empties `root`.
        self.tables = {}
        for name in tables:
            saved = Path(checkpoint) / name if checkpoint is not None else None
            if saved is not None and (saved / INDEX).exists():
                self.tables[name] = ClientStore.load(saved, Path(root) / name)
            else:
                self.tables[name] = ClientStore(Path(root) / name, dim)

    def get(self, client_ids) -> tuple[np.ndarray, np.ndarray]:
        """Return (ids ascending (k,), values (k, d) float32); unknown clients read as zeros."""
        return self.store.get(client_ids)

    def rows(self, client_ids) -> dict:
        """Every table's rows for `client_ids`: {"control": (ids, (k, d)), name: (ids, (k, d)),
        name + "_known": (k,) bool, in ascending id order}."""
        out = {"control": self.store.get(client_ids)}
        for name, table in self.tables.items():
            if name in SERVER_ONLY:
                continue
            out[name] = table.get(client_ids)
            out[f"{name}_known"] = table.known(out[name][0])
        return out

    def table_rows(self, table: str, client_ids) -> tuple[np.ndarray, np.ndarray]:
        """One table's (ids ascending, (k, d) values); unknown clients read as zeros."""
        return self.tables[table].get(client_ids)

    def add(self, client_ids: np.ndarray, deltas: np.ndarray) -> int:
        """c_i += delta_i for each row; return how many clients the store holds."""
        return self.store.add(client_ids, deltas)

    def put(self, table: str, client_ids: np.ndarray, values: np.ndarray) -> int:
        """Set each client's row of the named table; return how many clients it holds."""
        self.tables[table].put(client_ids, values)
        return len(self.tables[table])

    def save(self, dest: str) -> str:
        """Checkpoint into the directory `dest` (links to immutable files, no copy)."""
        path = self.store.save(Path(dest))
        for name, table in self.tables.items():
            table.save(path / name)
        return str(path)

    def __len__(self) -> int:
        return len(self.store)


def read_history(store, table: str, client_ids: np.ndarray, timeout: float) -> np.ndarray:
    """The (n, d) rows of `table` for `client_ids`, in their order (Aggregator side)."""
    ids, values = calls.get(
        store.table_rows.remote(table, client_ids), timeout, f"the client state store ({table})"
    )
    return values[np.searchsorted(ids, client_ids)]


def write_history(store, table: str, client_ids, rows, timeout: float) -> None:
    """Set the rows of `table` for `client_ids` and wait until the store has them."""
    put = store.put.remote(table, np.asarray(client_ids, np.int64), rows)
    calls.get(put, timeout, f"the client state store (its {table} write)")
