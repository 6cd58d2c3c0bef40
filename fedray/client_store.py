"""Per-client vectors that persist across rounds, on disk: SCAFFOLD's control variates,
error-feedback residuals, a defense's per-client history.

Memory follows the round, never the population or the participants. Each round's new values
go to one immutable segment file (`seg_<n>.npy`, rows sorted by client id, written to a
temporary name and renamed), and a small index maps each client that ever reported to its
newest row: (client id, segment, row), three sorted arrays. Reads memory-map the segments
and copy out only the rows asked for; clients never seen read as zeros.

A checkpoint is the index plus hard links to the live segments (a copy across file
systems): immutable files need no copying, and the checkpoint stays valid whatever the
store writes later. When dead rows outnumber live ones, `compact` rewrites the live rows
into one segment, so the disk holds at most about twice the participants' vectors.

Pure numpy and files, no Ray: `fedray.server.client_state` is the actor around it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

INDEX = "index.npz"
_CHUNK = 4096  # rows per step when compacting


class ClientStore:
    """Vectors of `dim` float32 per client id, stored under `root` (created if missing)."""

    def __init__(self, root: str | os.PathLike, dim: int):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.dim = int(dim)
        self.ids = np.zeros(0, np.int64)  # sorted
        self.seg = np.zeros(0, np.int32)  # index into self.segments
        self.row = np.zeros(0, np.int64)
        self.segments: list[str] = []  # file names under root
        self._rows: list[int] = []  # rows in each segment
        self._next = 0  # the next segment's number

    def __len__(self) -> int:
        return len(self.ids)

    def get(self, client_ids) -> tuple[np.ndarray, np.ndarray]:
        """Return (ids ascending (k,), values (k, dim) float32); unknown clients read as zeros."""
        ids = np.unique(np.asarray(client_ids, dtype=np.int64))
        values = np.zeros((len(ids), self.dim), np.float32)
        pos = np.searchsorted(self.ids, ids)
        known = pos < len(self.ids)
        known[known] = self.ids[pos[known]] == ids[known]
        where, at = np.flatnonzero(known), pos[known]
        for s in np.unique(self.seg[at]):
            mine = self.seg[at] == s
            # Mapped per read, not kept open: a long run has many segments, and the rows
            # read are copied out, so nothing of a segment stays resident after the read.
            rows = np.load(self.root / self.segments[s], mmap_mode="r")
            values[where[mine]] = rows[self.row[at[mine]]]
        return ids, values

    def known(self, client_ids) -> np.ndarray:
        """Whether each client id has a stored vector (bool, in the order given)."""
        ids = np.asarray(client_ids, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.ids, ids), max(len(self.ids) - 1, 0))
        return (self.ids[pos] == ids) if len(self.ids) else np.zeros(len(ids), bool)

    def put(self, client_ids, values) -> None:
        """Set each client's vector (rows of `values`, (k, dim)); ids must be distinct."""
        ids = np.asarray(client_ids, dtype=np.int64)
        values = np.asarray(values, dtype=np.float32)
        if values.shape != (len(ids), self.dim):
            raise ValueError(
                f"client store: values of shape {values.shape} for {len(ids)} clients; "
                f"expected ({len(ids)}, {self.dim})"
            )
        if len(np.unique(ids)) != len(ids):
            raise ValueError("client store: a client id appears twice in one write")
        if not len(ids):
            return
        if np.any(ids[1:] < ids[:-1]):  # sorted already when it comes from `add`: no copy
            order = np.argsort(ids, kind="stable")
            ids, values = ids[order], values[order]
        s = self._write_segment(values)
        self._index(ids, np.full(len(ids), s, np.int32), np.arange(len(ids), dtype=np.int64))
        if self.dead_rows() > max(len(self.ids), 1):
            self.compact()

    def add(self, client_ids, deltas) -> int:
        """c_i += delta_i for each row; return how many clients the store holds."""
        ids = np.asarray(client_ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        sorted_ids, current = self.get(ids)
        if len(sorted_ids) != len(ids):
            raise ValueError("client store: a client id appears twice in one write")
        current += np.asarray(deltas, dtype=np.float32)[order]
        self.put(sorted_ids, current)
        return len(self)

    def dead_rows(self) -> int:
        """Rows on disk that no client points to any more."""
        return sum(self._rows) - len(self.ids)

    def compact(self) -> None:
        """Rewrite every live row into one new segment and forget the old ones."""
        if not len(self.ids):
            return
        # Segment by segment into an open memory map: never the whole store in memory.
        name = f"seg_{self._next:08d}.npy"
        tmp = self.root / f".{name}.tmp"
        out = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=np.float32, shape=(len(self), self.dim)
        )
        for start in range(0, len(self), _CHUNK):
            out[start : start + _CHUNK] = self.get(self.ids[start : start + _CHUNK])[1]
        out.flush()
        del out
        os.replace(tmp, self.root / name)
        self._next += 1
        self.segments.append(name)
        self._rows.append(len(self))
        self.seg = np.full(len(self), len(self.segments) - 1, np.int32)
        self.row = np.arange(len(self), dtype=np.int64)
        self._drop_unused()

    def save(self, dest: str | os.PathLike) -> Path:
        """Checkpoint into the new directory `dest`: the index and links to live segments."""
        dest = Path(dest)
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name in self.segments:
            _link_or_copy(self.root / name, tmp / name)
        np.savez(
            tmp / INDEX,
            dim=np.int64(self.dim),
            ids=self.ids,
            seg=self.seg,
            row=self.row,
            segments=np.array(self.segments, dtype=np.str_),
        )
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
        return dest

    @classmethod
    def load(cls, src: str | os.PathLike, root: str | os.PathLike) -> ClientStore:
        """Open a store at `root` holding what the checkpoint `src` saved (`root` is emptied)."""
        src = Path(src)
        try:
            with np.load(src / INDEX, allow_pickle=False) as z:
                dim, ids, seg, row = int(z["dim"]), z["ids"], z["seg"], z["row"]
                segments = [str(s) for s in z["segments"]]
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"client store checkpoint {src} is unreadable: {exc}") from None
        shutil.rmtree(root, ignore_errors=True)
        store = cls(root, dim)
        for name in segments:
            if not (src / name).exists():
                raise ValueError(f"client store checkpoint {src} lacks its segment {name}")
            _link_or_copy(src / name, store.root / name)
        store.ids, store.seg, store.row = ids.astype(np.int64), seg.astype(np.int32), row
        store.segments = segments
        store._rows = [np.load(store.root / name, mmap_mode="r").shape[0] for name in segments]
        store._next = 1 + max((int(n[4:-4]) for n in segments), default=-1)
        return store

    def _write_segment(self, values: np.ndarray) -> int:
        name = f"seg_{self._next:08d}.npy"
        self._next += 1
        tmp = self.root / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            np.save(fh, values)
        os.replace(tmp, self.root / name)
        self.segments.append(name)
        self._rows.append(len(values))
        return len(self.segments) - 1

    def _index(self, ids: np.ndarray, seg: np.ndarray, row: np.ndarray) -> None:
        """Point `ids` (sorted, distinct) at new rows, replacing what they pointed at."""
        keep = ~np.isin(self.ids, ids, assume_unique=True)
        all_ids = np.concatenate([self.ids[keep], ids])
        order = np.argsort(all_ids, kind="stable")
        self.ids = all_ids[order]
        self.seg = np.concatenate([self.seg[keep], seg])[order]
        self.row = np.concatenate([self.row[keep], row])[order]
        self._drop_unused()

    def _drop_unused(self) -> None:
        """Delete segments no client points to any more (a checkpoint keeps its own links)
        and renumber the index over those left."""
        live = np.unique(self.seg)
        for i in sorted(set(range(len(self.segments))) - set(live.tolist())):
            (self.root / self.segments[i]).unlink(missing_ok=True)
        remap = np.full(len(self.segments), -1, np.int32)
        remap[live] = np.arange(len(live), dtype=np.int32)
        self.seg = remap[self.seg]
        self.segments = [self.segments[i] for i in live]
        self._rows = [self._rows[i] for i in live]


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: copy
        shutil.copy2(src, dst)
