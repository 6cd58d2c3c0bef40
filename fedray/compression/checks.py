"""What the `compression` section can run with: the cross-field rules of the scenario.

`problems(scenario)` returns (path, message, got, expected) tuples for the scenario loader;
`model_problems(section, d)` the ones that need the model's size (checked in `prepare`).
"""

from __future__ import annotations

from fedray.compression import qsgd, sparse

SPARSE = ("topk", "randomk")


def problems(s) -> list[tuple]:
    """Every problem of `s.compression` and of its composition with the rest of `s`."""
    c = s.compression
    out = _codec_problems("compression", c) + _codec_problems("compression.downlink", c.downlink)
    if c.error_feedback and c.type == "none":
        out.append(
            (
                "compression.error_feedback",
                "error feedback carries what a compressor leaves out, and type none leaves "
                "nothing out",
                True,
                "false, or a compression.type (topk, randomk, qsgd, sign)",
            )
        )
    if c.downlink.type != "none" and s.client.vectorize == "on":
        out.append(
            (
                "client.vectorize",
                "with downlink compression each client starts from its own copy of the model, "
                "and a vectorised block starts every client from one",
                "on",
                "'auto' or 'off' (auto trains one client at a time then)",
            )
        )
    if s.secure_aggregation.protocol != "none":
        out += _secure_problems(c)
    return out


def _codec_problems(path: str, part) -> list[tuple]:
    out = []
    if part.type in SPARSE and (part.params.k is None) == (part.params.fraction is None):
        out.append(
            (
                path,
                f"{part.type} keeps k coordinates: give k (a count) or fraction (of the model's "
                "size), exactly one",
                {"k": part.params.k, "fraction": part.params.fraction},
                f"{path}.k or {path}.fraction",
            )
        )
    if part.type == "qsgd":
        most = 2 ** (part.params.bits - 1) - 1
        if part.params.levels is not None and part.params.levels > most:
            out.append(
                (
                    f"{path}.levels",
                    f"{part.params.bits} bits hold a sign and at most {most} levels",
                    part.params.levels,
                    f"<= {most}, or more {path}.bits",
                )
            )
    return out


def _secure_problems(c) -> list[tuple]:
    """Under secure aggregation the server sums masked vectors coordinate by coordinate."""
    out = []
    if c.error_feedback or c.downlink.type != "none":
        key = "error_feedback" if c.error_feedback else "downlink.type"
        out.append(
            (
                f"compression.{key}",
                "under secure aggregation the update leaves masked, and the residuals and "
                "copies it would leave for the client state store have no path there yet",
                getattr(c, key) if c.error_feedback else c.downlink.type,
                "false / none with a secure_aggregation.protocol",
            )
        )
    return out + _secure_codec_problems(c)


def _secure_codec_problems(c) -> list[tuple]:
    if c.type == "topk":
        return [
            (
                "compression.type",
                "top-k lets each client choose its own coordinates, so masked vectors would not "
                "line up for a secure sum, and the indices themselves would tell the server "
                "where each update is large",
                "topk",
                "randomk with shared: true (one draw of coordinates for the whole cohort)",
            )
        ]
    if c.type == "randomk" and not c.params.shared:
        return [
            (
                "compression.shared",
                "under secure aggregation every client must keep the same coordinates for the "
                "masked vectors to add up",
                False,
                "true (the cohort shares one seed per round)",
            )
        ]
    if c.type in ("qsgd", "sign"):
        return [
            (
                "compression.type",
                "secure aggregation already quantizes every coordinate to "
                "secure_aggregation.bits before masking; a second quantization saves no bytes",
                c.type,
                "lower secure_aggregation.bits, or randomk with shared: true",
            )
        ]
    return []


def model_problems(section, d: int) -> list[str]:
    """Problems that need d, the model's number of parameters (k larger than the model)."""
    out = []
    for path, part in (("compression", section), ("compression.downlink", section.downlink)):
        if part.type in SPARSE:
            try:
                sparse.resolve_k(part.params, d)
            except ValueError as exc:
                out.append(f"{path}.k: {exc}")
        if part.type == "qsgd":
            try:
                qsgd.levels(part.params)
            except ValueError as exc:
                out.append(f"{path}.levels: {exc}")
    return out
