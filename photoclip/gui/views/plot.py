"""A small live line plot drawn with QPainter (PySide6-Essentials has no QtCharts).

Two y axes: series on the "left" axis scale to their own data (the training loss), series on the
"right" axis share a fixed 0..1 range (accuracies). x is the training step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from PySide6.QtCore import QLineF, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget


@dataclass
class Series:
    name: str
    colour: QColor
    axis: str = "left"  # "left": scaled to the data; "right": 0..1
    markers: bool = False  # dots at each point (sparse series: one point per epoch)
    points: list[tuple[float, float]] = field(default_factory=list)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round numbers (1, 2, 5 x 10^k steps) covering low..high."""
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return [low]
    raw = (high - low) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = math.ceil(low / step - 1e-9) * step
    ticks = []
    v = start
    while v <= high + step * 1e-6:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _label(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000 or abs(v) < 0.01:
        return f"{v:.0e}"
    return f"{v:g}" if abs(v) >= 1 else f"{v:.2f}".rstrip("0").rstrip(".")


class LinePlot(QWidget):
    """`add(name, x, y)` appends a point and repaints; `series[name].points` holds the data."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.series: dict[str, Series] = {}
        self.x_max = 0.0  # the x range shown, at least (e.g. the job's total steps)
        self.left_title = ""
        self.right_title = ""
        self.empty_text = "Nothing to show yet"
        self.setMinimumSize(320, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def sizeHint(self) -> QSize:
        return QSize(640, 320)

    def add_series(self, name: str, colour: str, axis: str = "left",
                   markers: bool = False) -> None:
        self.series[name] = Series(name, QColor(colour), axis, markers)

    def add(self, name: str, x: float, y: float) -> None:
        if math.isfinite(y):
            self.series[name].points.append((float(x), float(y)))
            self.update()

    def clear(self) -> None:
        for s in self.series.values():
            s.points.clear()
        self.x_max = 0.0
        self.update()

    # -- drawing ------------------------------------------------------------------------------

    def _left_range(self) -> tuple[float, float]:
        ys = [y for s in self.series.values() if s.axis == "left" for _, y in s.points]
        if not ys:
            return 0.0, 1.0
        low, high = min(0.0, min(ys)), max(ys)
        if high - low < 1e-9:
            high = low + 1.0
        ticks = nice_ticks(low, high * 1.05)
        return low, max(ticks[-1], high)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
        p.setFont(font)
        fm = QFontMetrics(font)
        text_colour = pal.text().color()
        muted = QColor(text_colour)
        muted.setAlpha(150)
        grid_colour = QColor(text_colour)
        grid_colour.setAlpha(28)

        has_right = any(s.axis == "right" for s in self.series.values())
        left_lo, left_hi = self._left_range()
        left_ticks = [t for t in nice_ticks(left_lo, left_hi) if left_lo <= t <= left_hi]
        left_w = max(fm.horizontalAdvance(_label(t)) for t in left_ticks) + 10
        right_w = fm.horizontalAdvance("1.0") + 10 if has_right else 12
        legend_h = fm.height() + 10
        plot = QRectF(left_w + 18, legend_h + 6, self.width() - left_w - right_w - 36,
                      self.height() - legend_h - fm.height() * 2 - 14)
        if plot.width() < 20 or plot.height() < 20:
            p.end()
            return

        xs = [x for s in self.series.values() for x, _ in s.points]
        x_hi = max([self.x_max, *xs, 1.0])
        x_lo = 0.0

        def px(x: float) -> float:
            return plot.left() + (x - x_lo) / (x_hi - x_lo) * plot.width()

        def py(y: float, axis: str) -> float:
            lo, hi = (left_lo, left_hi) if axis == "left" else (0.0, 1.0)
            return plot.bottom() - (y - lo) / (hi - lo) * plot.height()

        # grid and axis labels
        p.setPen(QPen(grid_colour, 1))
        p.drawLines([QLineF(plot.left(), py(t, "left"), plot.right(), py(t, "left"))
                     for t in left_ticks])
        p.setPen(muted)
        for t in left_ticks:
            y = py(t, "left")
            p.drawText(QRectF(0, y - fm.height() / 2, left_w + 12, fm.height()),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, _label(t))
        if has_right:
            for t in (0.0, 0.25, 0.5, 0.75, 1.0):
                y = py(t, "right")
                p.drawText(QRectF(plot.right() + 6, y - fm.height() / 2, right_w, fm.height()),
                           Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                           f"{t:.2f}".rstrip("0").rstrip(".") if t not in (0, 1) else f"{t:.0f}")
        for t in nice_ticks(x_lo, x_hi, 6):
            if t != int(t):
                continue  # steps are whole numbers
            x = px(t)
            p.drawText(QRectF(x - 30, plot.bottom() + 4, 60, fm.height()),
                       Qt.AlignmentFlag.AlignHCenter, f"{int(t)}")
        p.drawText(QRectF(plot.left(), plot.bottom() + 4 + fm.height(), plot.width(),
                          fm.height()), Qt.AlignmentFlag.AlignHCenter, "training step")
        p.setPen(QPen(muted, 1))
        axes = [plot.topLeft(), plot.bottomLeft(), plot.bottomRight()]
        p.drawPolyline(QPolygonF([*axes, plot.topRight()] if has_right else axes))

        # legend
        x = plot.left()
        for s in self.series.values():
            title = s.name + (f" ({self.left_title})" if s.axis == "left" and self.left_title
                              else f" ({self.right_title})" if s.axis == "right"
                              and self.right_title else "")
            p.setPen(QPen(s.colour, 3))
            p.drawLine(QPointF(x, legend_h / 2 + 2), QPointF(x + 18, legend_h / 2 + 2))
            p.setPen(text_colour)
            p.drawText(QRectF(x + 24, 2, fm.horizontalAdvance(title) + 4, legend_h),
                       Qt.AlignmentFlag.AlignVCenter, title)
            x += 24 + fm.horizontalAdvance(title) + 22

        if not xs:
            p.setPen(muted)
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, self.empty_text)
            p.end()
            return

        # the series
        p.setClipRect(plot.adjusted(-4, -4, 4, 4))
        for s in self.series.values():
            if not s.points:
                continue
            # One call per series, not per point: a run of thousands of steps repaints at
            # every step.
            line = QPolygonF([QPointF(px(xv), py(yv, s.axis)) for xv, yv in s.points])
            p.setPen(QPen(s.colour, 2))
            p.drawPolyline(line)
            if s.markers or len(s.points) == 1:
                dots = QPen(s.colour, 7)
                dots.setCapStyle(Qt.PenCapStyle.RoundCap)
                p.setPen(dots)
                p.drawPoints(line)
        p.end()
