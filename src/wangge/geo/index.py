"""Point → grid lookup over a partition of polygons: a two-level raster, exact at the borders.

The polygons' bounding box is cut into square *fine* cells, grouped into ``block``×``block``
*coarse* cells. A coarse cell that no polygon border touches stores the one polygon (or "none")
covering it; a touched coarse cell points to a block of fine cells that do the same, and a fine
cell that a border touches lists the polygons whose borders touch it: a half-plane test when the
polygon has one straight edge across the cell, else an exact Shapely test. So most points cost one
or two array gathers, and only the few in border cells meet geometry (see docs/decisions/0003).

Build, all vectorised: the cells every polygon edge passes through (the cells on both sides of
each crossing with a cell line, and the endpoints' cells) mark the border cells; every other cell
lies wholly inside one polygon or outside all, found from scanline spans (even-odd crossings of
each polygon's edges with the row through the cell centres). The polygons are expected not to
overlap (grids partition their village); points on a shared border may go to either side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

OUTSIDE = -1
# Cell values <= REF refer onward: a coarse cell to its block, a fine cell to its border record.
REF = -2
# Crossings this close to a cell corner (in cell units) mark the cells around the corner too.
_EPS = 1e-7


def _expand(counts: IntArray) -> tuple[IntArray, IntArray]:
    """For counts [2, 3]: owners [0, 0, 1, 1, 1] and positions within each owner [0, 1, 0, 1, 2]."""
    owners = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    starts = np.cumsum(counts) - counts
    return owners, np.arange(len(owners), dtype=np.int64) - starts[owners]


def _sorted_unique(a: IntArray) -> IntArray:
    # np.unique hashes; sorting is far faster for millions of integers.
    s = np.sort(a)
    keep = np.ones(len(s), dtype=bool)
    keep[1:] = s[1:] != s[:-1]
    return s[keep]


class GridIndex:
    """Locates points (WGS-84 lng/lat) in a set of non-overlapping polygons, e.g. the grids."""

    def __init__(
        self, codes: Sequence[str], polygons: Sequence[shapely.Geometry] | NDArray[np.object_],
        *, cells: int | None = None, block: int = 8,
    ) -> None:
        if len(codes) != len(polygons):
            raise ValueError(f"{len(codes)} codes but {len(polygons)} polygons")
        if block < 1 or block & (block - 1):
            raise ValueError("block must be a power of two")
        self.codes: list[str] = list(codes)
        self.code_set: frozenset[str] = frozenset(self.codes)
        # Exteriors counter-clockwise and holes clockwise: each edge has its polygon on the left.
        self.polygons: NDArray[np.object_] = shapely.orient_polygons(
            np.asarray(polygons, dtype=object)
        )
        shapely.prepare(self.polygons)
        self.block = block
        self._shift = block.bit_length() - 1
        # About 4k fine cells per polygon, at most 2**24 (34 m cells over Xinxiang, ~35 MB).
        self._build(cells or min(1 << 24, max(1 << 14, 4096 * len(self.codes))))

    def __len__(self) -> int:
        return len(self.codes)

    # -- build -------------------------------------------------------------------------------

    def _build(self, cells: int) -> None:
        k = self.block
        polys = self.polygons
        if len(polys) == 0 or bool(np.all(shapely.is_empty(polys))):
            x0 = y0 = 0.0
            scale = 1.0
            nxc = nyc = 1
        else:
            x0, y0, x1, y1 = (float(v) for v in shapely.total_bounds(polys))
            w, h = max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)
            scale = 1.0 / math.sqrt(w * h / cells)  # fine cells per degree
            # One spare coarse cell on the far sides so the maxima fall inside the raster.
            nxc = math.ceil(w * scale / k) + 1
            nyc = math.ceil(h * scale / k) + 1
        self.x0, self.y0, self.scale = x0, y0, scale
        self.nx, self.ny, self.nxc, self.nyc = nxc * k, nyc * k, nxc, nyc

        self._edges()
        spans = self._spans()
        border_cells = self._border_records(spans)
        fy, fx = border_cells // self.nx, border_cells % self.nx
        cblock = (fy >> self._shift) * nxc + (fx >> self._shift)
        blocks = _sorted_unique(cblock)

        # Coarse cells: labelled at a centre cell; touched ones point to their block.
        cy, cx = np.divmod(np.arange(nxc * nyc, dtype=np.int64), nxc)
        coarse = self._label(spans, cy * k + k // 2, cx * k + k // 2)
        coarse[blocks] = REF - np.arange(len(blocks))
        self._coarse = coarse.astype(np.int32)

        # Fine cells of touched blocks; border cells point to their records.
        b, local = _expand(np.full(len(blocks), k * k, dtype=np.int64))
        ly, lx = np.divmod(local, k)
        fine = self._label(spans, (blocks[b] // nxc) * k + ly, (blocks[b] % nxc) * k + lx)
        pos = np.searchsorted(blocks, cblock) * (k * k) + (fy & (k - 1)) * k + (fx & (k - 1))
        fine[pos] = REF - np.arange(len(border_cells))
        self._fine = fine.astype(np.int32)
        self.border_cells = len(border_cells)

    def _edges(self) -> None:
        """Every polygon edge, directed with its polygon on the left, in degrees and cell units."""
        rings, owner = shapely.get_parts(shapely.boundary(self.polygons), return_index=True)
        xy, ring = shapely.get_coordinates(rings, return_index=True)
        same = ring[:-1] == ring[1:]
        self._ex1, self._ey1 = xy[:-1, 0][same], xy[:-1, 1][same]
        self._ex2, self._ey2 = xy[1:, 0][same], xy[1:, 1][same]
        self._epoly = owner[ring[:-1][same]].astype(np.int64)

    def _cell_units(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        s = self.scale
        return ((self._ex1 - self.x0) * s, (self._ey1 - self.y0) * s,
                (self._ex2 - self.x0) * s, (self._ey2 - self.y0) * s)

    def _border_records(self, spans: tuple[FloatArray, FloatArray, IntArray]) -> IntArray:
        """Finds the border cells and, per cell, a record for each polygon whose edges touch it.

        A record is a half-plane test when the polygon has one edge in the cell that surely
        crosses it (the polygon is then the cell's part left of that edge); otherwise the point is
        tested against the whole polygon. A cell marked only because an edge passes near its
        corner may lie wholly inside a polygon with no edge in it, so the polygon holding the
        cell's centre is added as a whole-polygon record. Returns the border cells, ascending.
        """
        cell, edge, unsure = self._supercover()
        n_edges = max(len(self._epoly), 1)
        key = np.sort((cell * n_edges + edge) * 2 + unsure)
        pair = key >> 1
        first = np.ones(len(key), dtype=bool)
        first[1:] = pair[1:] != pair[:-1]
        # A sure mark sorts before an unsure one of the same (cell, edge): keep the first.
        pair, unsure = pair[first], (key[first] & 1).astype(bool)
        cell, edge = pair // n_edges, pair % n_edges
        poly = self._epoly[edge]
        # Pairs are sorted by cell, then edge, and edges are numbered polygon by polygon.
        new = np.ones(len(pair), dtype=bool)
        new[1:] = (cell[1:] != cell[:-1]) | (poly[1:] != poly[:-1])
        starts = np.flatnonzero(new)
        size = np.diff(np.append(starts, len(pair)))
        single = (size == 1) & ~unsure[starts]
        rec_poly = poly[starts]
        rec_edge = np.where(single, edge[starts], -1)
        rec_cell = cell[starts]
        new_cell = np.ones(len(rec_cell), dtype=bool)
        new_cell[1:] = rec_cell[1:] != rec_cell[:-1]
        cell_first = np.flatnonzero(new_cell)
        cells = rec_cell[cell_first]
        cell_of_rec = np.cumsum(new_cell) - 1

        centre = self._label(spans, cells // self.nx, cells % self.nx)
        listed = np.zeros(len(cells), dtype=bool)
        listed[cell_of_rec[rec_poly == centre[cell_of_rec]]] = True
        extra = np.flatnonzero(~listed & (centre >= 0))
        cell_of_rec = np.concatenate([cell_of_rec, extra])
        order = np.argsort(cell_of_rec, kind="stable")
        self._rec_poly = np.concatenate([rec_poly, centre[extra]])[order]
        self._rec_edge = np.concatenate([rec_edge, np.full(len(extra), -1)])[order]
        self._border_start = np.searchsorted(
            cell_of_rec[order], np.arange(len(cells) + 1)
        ).astype(np.int64)
        return cells

    def _supercover(self) -> tuple[IntArray, IntArray, IntArray]:
        """Cells each edge passes through: (cell, edge, unsure) marks, a superset of the truth.

        A cell is entered through a crossing of a cell line, so the cells on both sides of every
        crossing (and the endpoints' cells) cover the edge. Crossings within ``_EPS`` of a cell
        corner mark the cells around it too, flagged unsure, so rounding cannot lose a cell.
        """
        u1, v1, u2, v2 = self._cell_units()
        parts_cell, parts_edge, parts_unsure = [], [], []
        m = np.arange(len(u1), dtype=np.int64)
        for a1, b1, a2, b2, transpose in ((u1, v1, u2, v2, False), (v1, u1, v2, u2, True)):
            i1, i2 = np.floor(a1).astype(np.int64), np.floor(a2).astype(np.int64)
            e, n = _expand(np.abs(i2 - i1))
            line = np.minimum(i1, i2)[e] + 1 + n
            with np.errstate(divide="ignore", invalid="ignore"):
                slope = (b2 - b1) / (a2 - a1)
            other = b1[e] + (line - a1[e]) * slope[e]
            fl = np.floor(other).astype(np.int64)
            frac = other - fl
            near = (frac < _EPS) | (frac > 1 - _EPS)
            for da in (-1, 0):
                for db in (-1, 0, 1):
                    sel = slice(None) if db == 0 else near
                    a_idx, b_idx = line[sel] + da, fl[sel] + db
                    cx, cy = (b_idx, a_idx) if transpose else (a_idx, b_idx)
                    parts_cell.append(self._flat(cx, cy))
                    parts_edge.append(e[sel])
                    parts_unsure.append(near[sel].astype(np.int64))
        for a, b in ((u1, v1), (u2, v2)):
            fa, fb = np.floor(a).astype(np.int64), np.floor(b).astype(np.int64)
            parts_cell.append(self._flat(fa, fb))
            parts_edge.append(m)
            parts_unsure.append(np.zeros(len(m), dtype=np.int64))
        return np.concatenate(parts_cell), np.concatenate(parts_edge), np.concatenate(parts_unsure)

    def _flat(self, cx: IntArray, cy: IntArray) -> IntArray:
        return np.clip(cy, 0, self.ny - 1) * self.nx + np.clip(cx, 0, self.nx - 1)

    def _spans(self) -> tuple[FloatArray, FloatArray, IntArray]:
        """Inside spans of each polygon on every fine row's centre line (start/end keys, owner)."""
        u1, v1, u2, v2 = self._cell_units()
        # Orient each edge upwards so a border shared by two polygons gives identical crossings.
        up = v1 <= v2
        lu, lv = np.where(up, u1, u2), np.where(up, v1, v2)
        hu, hv = np.where(up, u2, u1), np.where(up, v2, v1)
        r0 = np.ceil(lv - 0.5).astype(np.int64)
        count = np.maximum(np.ceil(hv - 0.5).astype(np.int64) - r0, 0)
        e, n = _expand(count)
        row = r0[e] + n
        x = lu[e] + (row + 0.5 - lv[e]) * ((hu - lu) / np.where(hv > lv, hv - lv, 1.0))[e]
        owner = self._epoly[e]
        order = np.lexsort((x, row, owner))
        row, x, owner = row[order], x[order], owner[order]
        width = float(self.nx + 2)
        start = row[0::2] * width + x[0::2]
        end = row[1::2] * width + x[1::2]
        order = np.argsort(start)
        return start[order], end[order], owner[0::2][order]

    def _label(
        self, spans: tuple[FloatArray, FloatArray, IntArray], fy: IntArray, fx: IntArray
    ) -> IntArray:
        """The polygon whose scanline span holds each fine cell's centre (OUTSIDE if none)."""
        start, end, owner = spans
        if len(start) == 0:
            return np.full(len(fy), OUTSIDE, dtype=np.int64)
        key = fy * float(self.nx + 2) + (fx + 0.5)
        i = np.searchsorted(start, key, side="right") - 1
        ok = i >= 0
        i = np.maximum(i, 0)
        return np.where(ok & (key < end[i]), owner[i], OUTSIDE)

    # -- queries -----------------------------------------------------------------------------

    def locate(self, lng: ArrayLike, lat: ArrayLike) -> NDArray[np.int64]:
        """Index into ``codes`` of the polygon holding each point, -1 where none does."""
        x = np.asarray(lng, dtype=np.float64).ravel()
        y = np.asarray(lat, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError("lng and lat differ in length")
        u = (x - self.x0) * self.scale
        v = (y - self.y0) * self.scale
        inside = (u >= 0) & (u < self.nx) & (v >= 0) & (v < self.ny)  # False for NaN
        if not inside.all():
            out = np.full(len(x), OUTSIDE, dtype=np.int64)
            sel = np.flatnonzero(inside)
            out[sel] = self._locate_in_box(x[sel], y[sel], u[sel], v[sel])
            return out
        return self._locate_in_box(x, y, u, v)

    def _locate_in_box(
        self, x: FloatArray, y: FloatArray, u: FloatArray, v: FloatArray
    ) -> NDArray[np.int64]:
        k, shift = self.block, self._shift
        fx, fy = u.astype(np.int64), v.astype(np.int64)  # u, v >= 0: truncation is floor
        out = self._coarse[(fy >> shift) * self.nxc + (fx >> shift)].astype(np.int64)
        deeper = np.flatnonzero(out <= REF)
        if len(deeper):
            fyd, fxd = fy[deeper], fx[deeper]
            pos = (REF - out[deeper]) * (k * k) + (fyd & (k - 1)) * k + (fxd & (k - 1))
            fine = self._fine[pos].astype(np.int64)
            out[deeper] = fine
            border = fine <= REF
            if border.any():
                pts = deeper[border]
                out[pts] = self._resolve(x[pts], y[pts], REF - fine[border])
        return out

    def _resolve(self, x: FloatArray, y: FloatArray, cell: IntArray) -> IntArray:
        """Exact answers for points in border cells, from the cells' records."""
        first = self._border_start[cell]
        pt, n = _expand(self._border_start[cell + 1] - first)
        rec = first[pt] + n
        poly, edge = self._rec_poly[rec], self._rec_edge[rec]
        px, py = x[pt], y[pt]
        hit = np.zeros(len(rec), dtype=bool)
        half = np.flatnonzero(edge >= 0)
        e = edge[half]
        ax, ay = self._ex1[e], self._ey1[e]
        # Left of the edge means inside: a plain cross product is exact far beyond 1e-9 degrees.
        cross = (self._ex2[e] - ax) * (py[half] - ay) - (self._ey2[e] - ay) * (px[half] - ax)
        hit[half] = cross > 0
        whole = np.flatnonzero(edge < 0)
        hit[whole] = shapely.contains_xy(self.polygons[poly[whole]], px[whole], py[whole])
        out = np.full(len(x), OUTSIDE, dtype=np.int64)
        out[pt[hit]] = poly[hit]
        return out

    def locate_one(self, lng: float, lat: float) -> str | None:
        """The code of the polygon holding one point, or None."""
        i = self.locate_index(lng, lat)
        return None if i < 0 else self.codes[i]

    def locate_index(self, lng: float, lat: float) -> int:
        """Index into ``codes`` of the polygon holding one point, -1 if none (no NumPy overhead)."""
        u = (lng - self.x0) * self.scale
        v = (lat - self.y0) * self.scale
        if not (0 <= u < self.nx and 0 <= v < self.ny):
            return OUTSIDE
        fx, fy = int(u), int(v)
        k, shift = self.block, self._shift
        c = int(self._coarse[(fy >> shift) * self.nxc + (fx >> shift)])
        if c > REF:
            return c
        f = int(self._fine[(REF - c) * k * k + (fy & (k - 1)) * k + (fx & (k - 1))])
        if f > REF:
            return f
        cell = REF - f
        for rec in range(int(self._border_start[cell]), int(self._border_start[cell + 1])):
            poly, e = int(self._rec_poly[rec]), int(self._rec_edge[rec])
            if e >= 0:
                ax, ay = float(self._ex1[e]), float(self._ey1[e])
                inside = (float(self._ex2[e]) - ax) * (lat - ay) - (
                    float(self._ey2[e]) - ay) * (lng - ax) > 0
            else:
                inside = bool(shapely.contains_xy(self.polygons[poly], lng, lat))
            if inside:
                return poly
        return OUTSIDE
