"""Vectorised validation of raw rating records: ids, rating scale, timestamps.

Rules, in the order they are checked (the first failing rule names the line's
reason, so every rejected line has exactly one):

1. ``user`` and ``item`` must be non-empty (after stripping spaces). Ids are
   kept as the source gives them: a column (across all input files) becomes
   Int64 ids only when every value is an integer that fits in int64, compared
   as integers (``007`` is ``7``, as in any numeric column); otherwise every id
   of that column is kept as its exact text, so ids beyond int64 and ids such
   as ``tt0111161`` survive unchanged. Dense positions are made only inside the
   ``Dataset``.
2. ``rating`` must be a finite number in ``[low, high]`` of the scale and, when
   the scale has a step, on its grid (``low + k * step`` within 1e-6). Values are
   never rounded or clipped.
3. ``timestamp`` (when the file has one) must be an integer epoch, a decimal
   epoch (floored to seconds) or an ISO-8601 date/datetime (naive means UTC).
   The unit of each integer is read from its size: below 1e11
   seconds, below 1e14 milliseconds, below 1e17 microseconds, else
   nanoseconds; everything is stored as int64 UTC seconds (floored). The result
   must fall in [1970-01-01, 2100-01-01) so a wrong unit can never put a date in
   the far future.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import polars as pl

from movierec.data.dataset import RatingScale
from movierec.data.report import QUARANTINE_SCHEMA

TS_MAX = 4_102_444_800  # 2100-01-01T00:00:00Z
UNIT_LIMITS = ((1e11, "seconds", 1), (1e14, "milliseconds", 1_000), (1e17, "microseconds", 1_000_000))
INTEGER = r"^[+-]?[0-9]+$"
ISO = len(UNIT_LIMITS) + 1  # unit code of ISO-8601 text


def stars(x: float) -> str:
    """A rating for messages: ``5.0``, ``0.5``, ``3.75``."""
    return f"{x:.1f}" if round(x, 1) == x else f"{x:g}"


def _text(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Utf8).str.strip_chars()


def _id_expr(frame: pl.DataFrame, col: str, integer: bool | None = None) -> tuple[pl.Expr, str]:
    """The id column and the reason a null in it gets.

    Integers stay integers, integral floats become Int64. Text is integer ids with a few junk
    values when most non-empty values spell integers: those become Int64 and the others null,
    rejected as not an integer (one junk id used to turn a whole id column into text, so user
    ``"1"`` no longer matched user ``1``). Otherwise every id is kept as its stripped text.
    ``integer`` decides for text instead of the majority (the rest of the file's ids are integers,
    or are not).
    """
    dtype = frame.schema[col]
    not_int = "id is not an integer (most ids of the file are)"
    if dtype.is_integer():
        return pl.col(col).cast(pl.Int64), not_int
    if dtype.is_float():
        c = pl.col(col)
        whole = c.is_finite() & (c.round(0) == c) & (c.abs() < 9e18)
        return pl.when(whole).then(c.cast(pl.Int64, strict=False)).otherwise(None), "id is not a whole number"
    t = _text(col)
    if integer is None:
        n_int, n_text = frame.select(t.str.contains(INTEGER).sum().alias("n_int"), (t != "").sum().alias("n")).row(0)
        integer = bool(n_text and 2 * (n_int or 0) > n_text)
    if integer:
        return pl.when(t.str.contains(INTEGER)).then(t.cast(pl.Int64, strict=False)).otherwise(None), not_int
    return pl.when(t == "").then(pl.lit(None, pl.Utf8)).otherwise(t), "id is not an integer or text"


def _iso_epochs(values: list[str]) -> dict[str, int | None]:
    """ISO-8601 date/datetime text -> UTC epoch seconds (floored), None when not ISO."""
    out: dict[str, int | None] = {}
    for v in values:
        try:
            d = dt.datetime.fromisoformat(v.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            out[v] = None
            continue
        if d.tzinfo is None:
            d = d.replace(tzinfo=dt.UTC)
        try:
            out[v] = int(d.timestamp() // 1)
        except (OverflowError, OSError, ValueError):
            out[v] = None
    return out


def _iso_expr() -> pl.Expr:
    """Vectorised parse of the common ISO-8601 spellings to UTC epoch seconds (floored); null otherwise.

    ``2001-09-09``, ``2001-09-09T01:46:40[.f][Z]``, ``2001-09-09 01:46:40[.f]`` (naive = UTC) and
    ``2001-09-09T01:46:40[.f]+02:00``; the same results as ``datetime.fromisoformat``.
    """
    t = _text("timestamp")
    naive = t.str.strip_suffix("Z")
    return pl.coalesce(
        naive.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us").dt.epoch("s"),
        naive.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us").dt.epoch("s"),
        t.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us").dt.epoch("s"),
        t.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")).dt.epoch("s"),
    )


def _timestamps(frame: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
    """Add ``ts`` (Int64 UTC seconds, null when unparseable) and ``ts_unit`` (UInt8 code, see ``UNIT_LIMITS``)."""
    dtype = frame.schema["timestamp"]
    if dtype.is_integer():  # the common case, all in seconds: one min/max pass instead of the unit ladder
        lo, hi, nulls = frame.select(
            pl.col("timestamp").min().alias("lo"),
            pl.col("timestamp").max().alias("hi"),
            pl.col("timestamp").null_count(),
        ).row(0)
        if lo is None or (lo >= 0 and hi < UNIT_LIMITS[0][0]):
            n = frame.height - nulls
            return frame.with_columns(pl.col("timestamp").cast(pl.Int64).alias("ts")), Counter(
                {"seconds": n} if n else {}
            )
    if isinstance(dtype, pl.Datetime | pl.Date):
        when = pl.col("timestamp").cast(pl.Datetime("us", "UTC")) if isinstance(dtype, pl.Date) else pl.col("timestamp")
        frame = frame.with_columns(when.dt.epoch("s").alias("ts"), pl.lit(ISO, pl.UInt8).alias("ts_unit"))
    else:
        if dtype.is_numeric():
            num = pl.col("timestamp").cast(pl.Float64)
            as_int = pl.col("timestamp").cast(pl.Int64, strict=False) if dtype.is_integer() else pl.lit(None, pl.Int64)
        else:
            t = _text("timestamp")
            as_int = t.cast(pl.Int64, strict=False)
            num = t.cast(pl.Float64, strict=False)
        # integers exactly; other finite decimals floored (inf/nan stay null)
        raw = pl.coalesce(as_int, pl.when(num.is_finite() & (num.abs() < 9e18)).then(num.floor().cast(pl.Int64)))
        mag = raw.abs()
        # chained when/then: Polars types each link differently, so these are typed Any
        unit: Any = pl.when(mag < UNIT_LIMITS[0][0]).then(pl.lit(0, pl.UInt8))
        div: Any = pl.when(mag < UNIT_LIMITS[0][0]).then(pl.lit(1, pl.Int64))
        for k, (limit, _, factor) in enumerate(UNIT_LIMITS[1:], 1):
            unit = unit.when(mag < limit).then(pl.lit(k, pl.UInt8))
            div = div.when(mag < limit).then(pl.lit(factor, pl.Int64))
        unit = unit.when(raw.is_not_null()).then(pl.lit(len(UNIT_LIMITS), pl.UInt8))
        div = div.otherwise(pl.lit(1_000_000_000, pl.Int64))
        frame = frame.with_columns((raw // div).alias("ts"), unit.alias("ts_unit"))
        if not dtype.is_numeric() and frame["ts"].null_count():
            iso = _iso_expr()
            frame = frame.with_columns(
                pl.coalesce("ts", iso).alias("ts"),
                pl.when(pl.col("ts").is_null() & iso.is_not_null())
                .then(pl.lit(ISO, pl.UInt8))
                .otherwise("ts_unit")
                .alias("ts_unit"),
            )
            # the rest (other ISO spellings, or not a time at all): Python's parser, once per distinct text
            todo = frame.filter(pl.col("ts").is_null() & (_text("timestamp") != ""))
            if todo.height:
                texts = todo.select(_text("timestamp").unique())["timestamp"].to_list()
                epochs = _iso_epochs(texts)
                parsed = pl.DataFrame(
                    {"_t": texts, "_iso": [epochs[x] for x in texts]},
                    schema={"_t": pl.Utf8, "_iso": pl.Int64},
                )
                frame = (
                    frame.with_columns(_text("timestamp").alias("_t"))
                    .join(parsed, on="_t", how="left", maintain_order="left")
                    .with_columns(
                        pl.coalesce("ts", "_iso").alias("ts"),
                        pl.when(pl.col("_iso").is_not_null())
                        .then(pl.lit(ISO, pl.UInt8))
                        .otherwise("ts_unit")
                        .alias("ts_unit"),
                    )
                    .drop("_t", "_iso")
                )
    names = [name for _, name, _ in UNIT_LIMITS] + ["nanoseconds", "iso-8601"]
    units = Counter({names[u]: int(n) for u, n in frame["ts_unit"].drop_nulls().value_counts().iter_rows()})
    return frame, units


def _empty(frame: pl.DataFrame, col: str) -> pl.Expr:
    """True where the source field was empty (typed columns: null)."""
    return _text(col) == "" if frame.schema[col] == pl.Utf8 else pl.col(col).is_null()


def validate(
    frame: pl.DataFrame, file: str, scale: RatingScale, integer_ids: dict[str, bool] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, Counter[str], tuple[float | None, float | None], dict[str, pl.Series]]:
    """Check every record of one file.

    Parameters
    ----------
    frame : polars.DataFrame of n records
        Columns ``user``, ``item``, ``rating``, optionally ``timestamp`` (text
        or typed) and ``line`` (Int64).
    file : str
        For the quarantine rows.
    scale : RatingScale
        The scale ratings must fall on.
    integer_ids : dict of str to bool, optional
        ``user`` / ``item``: whether text ids must be integers (the other rows of the same file
        decided it); default: the majority of this frame's ids.

    Returns
    -------
    accepted : polars.DataFrame
        ``user``, ``item`` (Int64 or Utf8), ``rating`` (Float32), ``timestamp``
        (Int64 UTC seconds; 0 when the file has none) and ``line``.
    rejects : polars.DataFrame
        Quarantine rows, one per rejected record.
    units : Counter
        Parsed timestamps per unit, accepted or not.
    rating_range : (float or None, float or None)
        Smallest and largest finite rating seen.
    rejected_ids : dict of str to polars.Series
        ``user`` and ``item``: distinct non-empty ids (as stripped text) on rejected records.
    """
    has_ts = "timestamp" in frame.columns
    rtype = frame.schema["rating"]
    rating = (
        pl.col("rating").cast(pl.Float64, strict=False)
        if rtype.is_numeric()
        else _text("rating").cast(pl.Float64, strict=False)
    )
    kinds = integer_ids or {}
    user, user_why = _id_expr(frame, "user", kinds.get("user"))
    item, item_why = _id_expr(frame, "item", kinds.get("item"))
    frame = frame.with_columns(user.alias("u"), item.alias("i"), rating.alias("r"))
    units: Counter[str] = Counter()
    if has_ts:
        frame, units = _timestamps(frame)
    else:
        frame = frame.with_columns(pl.lit(0, pl.Int64).alias("ts"))
    r = pl.col("r")
    low, high, step = scale.low, scale.high, scale.step
    checks: list[tuple[pl.Expr, str, str]] = [
        (pl.col("u").is_null() & _empty(frame, "user"), "user", "missing user id"),
        (pl.col("u").is_null(), "user", f"user {user_why}"),
        (pl.col("i").is_null() & _empty(frame, "item"), "item", "missing movie id"),
        (pl.col("i").is_null(), "item", f"movie {item_why}"),
        (r.is_null() & _empty(frame, "rating"), "rating", "missing rating"),
        (r.is_null(), "rating", "rating is not a number"),
        (~r.is_finite(), "rating", "rating is not finite"),
        ((r < low) | (r > high), "rating", f"rating outside [{stars(low)}, {stars(high)}]"),
    ]
    if step:
        off = (((r - low) / step).round(0) * step + low - r).abs() > 1e-6
        checks.append((off, "rating", f"rating off the {step:g}-star grid from {stars(low)}"))
    if has_ts:
        ts = pl.col("ts")
        checks += [
            (ts.is_null() & _empty(frame, "timestamp"), "timestamp", "missing timestamp"),
            (ts.is_null(), "timestamp", "timestamp is not epoch seconds, milliseconds or an ISO date"),
            ((ts < 0) | (ts >= TS_MAX), "timestamp", "timestamp outside 1970-01-01..2100-01-01 after unit detection"),
        ]
    code: Any = pl.when(checks[0][0]).then(pl.lit(0, pl.UInt8))  # a when/then chain (see above)
    for k, (cond, _, _) in enumerate(checks[1:], 1):
        code = code.when(cond).then(pl.lit(k, pl.UInt8))
    frame = frame.with_columns(code.otherwise(None).alias("_code"))
    rng = frame.select(r.filter(r.is_finite()).min().alias("lo"), r.filter(r.is_finite()).max().alias("hi")).row(0)
    clean = frame["_code"].null_count() == frame.height
    bad = frame.clear() if clean else frame.filter(pl.col("_code").is_not_null())
    reasons = {k: why for k, (_, _, why) in enumerate(checks)}
    cols = {k: col for k, (_, col, _) in enumerate(checks)}
    bad = bad.with_columns(
        pl.col("_code").replace_strict(reasons, return_dtype=pl.Utf8).alias("_reason"),
        pl.col("_code").replace_strict(cols, return_dtype=pl.Utf8).alias("_column"),
    )
    value = pl.lit("")
    for c in ("user", "item", "rating", "timestamp"):
        if c in frame.columns:
            value = pl.when(pl.col("_column") == c).then(pl.col(c).cast(pl.Utf8)).otherwise(value)
    rejects = bad.select(
        pl.lit(file).alias("file"),
        pl.col("line"),
        pl.col("_column").alias("column"),
        value.str.slice(0, 80).fill_null("").alias("value"),
        pl.col("_reason").alias("reason"),
        pl.lit("").alias("text"),
    ).cast(QUARANTINE_SCHEMA)  # type: ignore[arg-type]
    ok = (frame if clean else frame.filter(pl.col("_code").is_null())).select(
        pl.col("u").alias("user"),
        pl.col("i").alias("item"),
        pl.col("r").cast(pl.Float32).alias("rating"),  # as the Dataset stores it (scale values are exact)
        pl.col("ts").alias("timestamp"),
        "line",
    )
    rejected_ids = {c: _distinct(bad, c) for c in ("user", "item")}
    return ok, rejects, units, (rng[0], rng[1]), rejected_ids


def _distinct(frame: pl.DataFrame, col: str) -> pl.Series:
    s = frame.select(_text(col).unique()).to_series()
    return s.filter(s.is_not_null() & (s != ""))


def unify_ids(frames: list[pl.DataFrame], col: str) -> tuple[list[pl.DataFrame], str]:
    """Give ``col`` one dtype across files: Int64 when every value is an integer within int64, else Utf8.

    Integer ids are compared as integers (``007`` and ``7`` are one id, as in
    any numeric column); a column with any other value keeps every id as its
    exact text (ids beyond int64 included).

    Returns
    -------
    (frames, kind) : (list of polars.DataFrame, str)
        ``kind`` is ``"integer"`` or ``"string"``.
    """

    def all_int(f: pl.DataFrame) -> bool:
        s = f[col]
        if s.dtype.is_integer():
            return True
        return bool(s.str.contains(INTEGER).all()) and s.cast(pl.Int64, strict=False).null_count() == 0

    if all(all_int(f) for f in frames):
        return [f.with_columns(pl.col(col).cast(pl.Int64)) for f in frames], "integer"
    return [f.with_columns(pl.col(col).cast(pl.Utf8)) for f in frames], "string"
