"""The documents' charts as PNG. Each chart is drawn on its own ``Figure`` with the Agg canvas
(no pyplot and its global state), so charts can be drawn in several threads at once; the font
is matplotlib's DejaVu Sans, which has the Vietnamese glyphs."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from services.reporting.documents.layout import decimal, nfc

FONT = "DejaVu Sans"
DPI = 150
SIZE = (8.0, 4.2)  # inches: the width of the text at about 150 dpi
PRIMARY, SECONDARY, MARK = "#1f4e79", "#c55a11", "#7f7f7f"
PREFIXES = ("Thành phố ", "Thị xã ", "Huyện ", "Quận ", "Tỉnh ", "Xã ", "Phường ", "Thị trấn ")


def short(name: str) -> str:
    """A unit's name without its kind, for axis labels: "Huyện Minh Hóa" → "Minh Hóa"."""
    for prefix in PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _axes() -> tuple[Figure, Axes]:
    # fixed margins: a layout engine would draw every chart twice
    fig = Figure(figsize=SIZE, dpi=DPI)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.2)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: decimal(v, 1)))
    return fig, ax


def _png(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _labels(ax: Axes, names: Sequence[str]) -> None:
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([nfc(short(n)) for n in names], rotation=30 if len(names) > 6 else 0,
                       ha="right" if len(names) > 6 else "center", fontsize=9, family=FONT)


def rates(names: Sequence[str], values: Sequence[float | None], province: float | None,
          national: float | None, title: str) -> bytes:
    """Poor-household rate per unit (bars), with the province's and the nation's as lines."""
    fig, ax = _axes()
    heights = [v or 0.0 for v in values]
    bars = ax.bar(range(len(names)), heights, color=PRIMARY, width=0.6)
    ax.bar_label(bars, labels=[decimal(v) if v is not None else "–" for v in values],
                 fontsize=8, padding=2, family=FONT)
    if province is not None:
        ax.axhline(province, color=SECONDARY, linewidth=1.2,
                   label=nfc(f"Toàn tỉnh: {decimal(province)}%"))
    if national is not None:
        ax.axhline(national, color=MARK, linewidth=1.2, linestyle="--",
                   label=nfc(f"Bình quân cả nước: {decimal(national)}%"))
    _labels(ax, names)
    ax.set_ylabel("%", family=FONT)
    ax.set_title(nfc(title), fontsize=11, family=FONT)
    if province is not None or national is not None:
        ax.legend(fontsize=8, frameon=False, prop={"family": FONT, "size": 8})
    return _png(fig)


def reduction_against_target(names: Sequence[str], reductions: Sequence[float | None],
                             targets: Sequence[float | None], title: str) -> bytes:
    """Reduction in points per unit beside its target's minimum."""
    fig, ax = _axes()
    xs = range(len(names))
    width = 0.38
    done = ax.bar([x - width / 2 for x in xs], [v or 0.0 for v in reductions], width,
                  color=PRIMARY, label=nfc("Giảm trong năm (điểm %)"))
    aim = ax.bar([x + width / 2 for x in xs], [v or 0.0 for v in targets], width,
                 color=SECONDARY, label=nfc("Chỉ tiêu giảm tối thiểu (điểm %)"))
    ax.bar_label(done, labels=[decimal(v) if v is not None else "–" for v in reductions],
                 fontsize=7, padding=2, family=FONT)
    ax.bar_label(aim, labels=[decimal(v) if v is not None else "–" for v in targets],
                 fontsize=7, padding=2, family=FONT)
    ax.axhline(0, color="black", linewidth=0.6)
    _labels(ax, names)
    ax.set_ylabel(nfc("điểm %"), family=FONT)
    ax.set_title(nfc(title), fontsize=11, family=FONT)
    ax.legend(fontsize=8, frameon=False, prop={"family": FONT, "size": 8})
    return _png(fig)


def trends(years: Sequence[int], series: Mapping[str, Sequence[float | None]],
           national: Sequence[float | None], title: str) -> bytes:
    """Poor-household rate per year, one line per unit, and the national average."""
    fig, ax = _axes()
    for name, values in series.items():
        points = [(y, v) for y, v in zip(years, values, strict=True) if v is not None]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                    markersize=3, linewidth=1.3, label=nfc(short(name)))
    known = [(y, v) for y, v in zip(years, national, strict=True) if v is not None]
    if known:
        ax.plot([p[0] for p in known], [p[1] for p in known], color="black", linestyle="--",
                linewidth=1.2, label=nfc("Bình quân cả nước"))
    ax.set_xticks(list(years))
    ax.set_xticklabels([str(y) for y in years], family=FONT)
    ax.set_ylabel("%", family=FONT)
    ax.set_title(nfc(title), fontsize=11, family=FONT)
    ax.legend(fontsize=7, frameon=False, ncols=2, prop={"family": FONT, "size": 7},
              loc="upper right")
    return _png(fig)


def average_reduction(names: Sequence[str], averages: Sequence[float | None],
                      plan: tuple[float, float], title: str) -> bytes:
    """Average yearly reduction per unit against the plan's band (2–2.5 points)."""
    fig, ax = _axes()
    ax.axhspan(plan[0], plan[1], color="#e2efda",
               label=nfc(f"Kế hoạch: {decimal(plan[0], 1)}–{decimal(plan[1], 1)} điểm %/năm"))
    bars = ax.bar(range(len(names)), [v or 0.0 for v in averages], color=PRIMARY, width=0.6,
                  label=nfc("Giảm bình quân (điểm %/năm)"))
    ax.bar_label(bars, labels=[decimal(v) if v is not None else "–" for v in averages],
                 fontsize=8, padding=2, family=FONT)
    ax.axhline(0, color="black", linewidth=0.6)
    _labels(ax, names)
    ax.set_ylabel(nfc("điểm %/năm"), family=FONT)
    ax.set_title(nfc(title), fontsize=11, family=FONT)
    ax.legend(fontsize=8, frameon=False, prop={"family": FONT, "size": 8})
    return _png(fig)
