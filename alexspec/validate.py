"""validate: expanded raw sections -> `ir.Spec` (frozen pydantic models), every error at once.

Keys are matched case-insensitively against the aliases of the layer type's model (see
`fields.py`); values are read by `values.py` and converted by pydantic; pydantic's errors are
mapped back to the span of the key, the value or the list entry they are about.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from alexspec import ir
from alexspec.errors import Diagnostic, Span, SpecError
from alexspec.expand import Expanded
from alexspec.fields import CODE_HOOKS, FieldSpec, layer_fields, layer_models, settings_fields
from alexspec.near import closest
from alexspec.parse import RawItem, RawSection
from alexspec.values import ValueProblem, parse_neuron, parse_schedule, split_list

# cuda-convnet's values for per-input keys left out (conv, local): written into the IR so that a
# file that spells them out and one that does not give equal layers.
_PER_INPUT_DEFAULTS = {"padding": "0", "stride": "1", "groups": "1"}


# Per-entry bounds of tuple fields (pydantic's gt/ge do not reach inside a tuple): alias -> (low,
# strict). cuda-convnet's verify_num_range rules: sizes and counts positive, padding non-negative.
_ENTRY_BOUNDS = {
    "channels": (0, True), "filters": (0, True), "filterSize": (0, True), "stride": (0, True),
    "groups": (0, True), "filterChannels": (0, True), "padding": (0, False), "initW": (0, False),
    "wc": (0, False), "momW": (0, False), "coeffs": (None, False),
}


def _bounds(s: "_Section", layer: ir.Layer, diags: list[Diagnostic]) -> bool:
    """Check the entries of per-input lists; True when they are all in range."""
    ok = True
    for alias, (low, strict) in _ENTRY_BOUNDS.items():
        if low is None or alias not in s.data:
            continue
        name = next((n for n, f in type(layer).model_fields.items() if (f.alias or n) == alias), None)
        values = getattr(layer, name, ()) if name else ()
        if not isinstance(values, tuple):
            continue
        seen: set[Span] = set()
        for i, v in enumerate(values):
            if (v <= low) if strict else (v < low):
                ok = False
                span = s.elem_spans.get((alias, i), s.spans.get(alias, s.sec.span))
                if span in seen:
                    continue  # one value broadcast to every input: one problem
                seen.add(span)
                broadcast = len(values) == 1 or span == s.spans.get(alias)
                label = alias if broadcast else f"{alias}[{i}]"
                need = "positive" if strict else "0 or more"
                diags.append(s.diag(span, "value", f"{label} must be {need} (got {v:g})"))
    return ok


class _Section:
    """The values of one section on their way to a model, with their spans."""

    def __init__(self, sec: RawSection, what: str):
        self.sec, self.what = sec, what
        self.data: dict[str, Any] = {}
        self.spans: dict[str, Span] = {}  # alias and attribute name -> value span
        self.elem_spans: dict[tuple[str, int], Span] = {}
        self.key_spans: dict[str, Span] = {}
        self.bad_keys: set[str] = set()  # aliases whose value could not be read
        self.unknown_keys = False

    def diag(self, span: Span, code: str, message: str, hint: str | None = None) -> Diagnostic:
        return Diagnostic(span, code, f"{self.what}: {message}", hint)


def _read_element(text: str, span: Span, fs: FieldSpec) -> Any:
    if fs.element == "schedule":
        return parse_schedule(text, span)
    if fs.element == "neuron":
        return parse_neuron(text, span)
    return text


def _read_item(s: _Section, item: RawItem, fs: FieldSpec, n_inputs: int, diags: list[Diagnostic]) -> None:
    """Convert one item's text and store it under the field's alias."""
    if not item.value.strip():
        s.bad_keys.add(fs.key)
        diags.append(s.diag(item.value_span, "empty-value", f"{item.key}= has no value"))
        return
    s.spans[fs.key] = s.spans[fs.name] = item.value_span
    s.key_spans[fs.key] = item.key_span
    try:
        if not fs.is_list:
            elems = split_list(item.value, item.value_span)
            if len(elems) > 1 and fs.element != "neuron":
                raise ValueProblem(elems[1][1], f"{fs.key} takes one value, not a list")
            s.data[fs.key] = _read_element(item.value.strip(), item.value_span, fs)
            return
        elems = split_list(item.value, item.value_span)
        for text, span in elems:
            if not text and fs.name != "weight_source":  # `weightSource=,conv7` = own matrix first
                raise ValueProblem(span, f"{fs.key} has an empty entry in its list")
        if fs.name == "weight_source" and n_inputs and len(elems) != n_inputs:
            # cuda-convnet2's verify_num_params(['weightSource'], auto_expand=False): no broadcast
            raise ValueProblem(item.value_span,
                               f"weightSource has {len(elems)} entries for {n_inputs} input{'s' if n_inputs != 1 else ''}",
                               "give one entry per input; an empty entry keeps that input's own matrix "
                               "(e.g. weightSource=,conv7)")
        if fs.per_input and n_inputs > 1 and len(elems) == 1:
            elems = elems * n_inputs  # cuda-convnet's broadcast of one value to every input
        elif fs.per_input and n_inputs and len(elems) != n_inputs:
            raise ValueProblem(item.value_span,
                               f"{fs.key} has {len(elems)} values for {n_inputs} inputs",
                               "give one value per input, or one value for all")
        s.data[fs.key] = [_read_element(t, sp, fs) for t, sp in elems]
        for i, (_, sp) in enumerate(elems):
            s.elem_spans[(fs.key, i)] = sp
    except ValueProblem as p:
        s.bad_keys.add(fs.key)
        diags.append(s.diag(p.span, "value", p.message, p.hint))


def _locate(s: _Section, loc: tuple) -> Span:
    if not loc:
        return s.sec.span
    key = loc[0]
    if len(loc) > 1 and isinstance(loc[1], int) and (key, loc[1]) in s.elem_spans:
        return s.elem_spans[(key, loc[1])]
    return s.spans.get(key, s.sec.span)


def _pydantic_diags(s: _Section, err: ValidationError) -> list[Diagnostic]:
    out = []
    seen: set[tuple[Span, str]] = set()
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])  # models are validated directly: no discriminator tag in loc
        key = str(loc[0]) if loc else "?"
        if e["type"] == "missing" and (s.unknown_keys or key in s.bad_keys):
            continue  # a misspelt or unreadable key already explains it
        if e["type"] == "missing":
            msg = f"required key {key!r} is missing"
            if len(loc) > 1:
                msg = f"{'.'.join(map(str, loc))} is missing"
            out.append(s.diag(_locate(s, loc), "missing-key", msg))
            continue
        span = _locate(s, loc)
        if (span, e["msg"]) in seen:
            continue  # one value broadcast to every input: one problem, not one per input
        seen.add((span, e["msg"]))
        broadcast = span == s.spans.get(key)  # the list entry is the whole value
        path = key + "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in loc[1:]
                             if not (broadcast and isinstance(x, int)))
        got = e.get("input")
        shown = f" (got {got!r})" if isinstance(got, (str, int, float)) else ""
        out.append(s.diag(span, "value", f"{path}: {e['msg']}{shown}"))
    return out


# What the hint of an unknown key in a layer section adds: cuda-convnet's parsers read the keys
# they know from ConfigParser and never looked at the rest.
IGNORED_BY_CUDA_CONVNET = "cuda-convnet itself would have ignored this key; --lenient ignores it with a warning"


def _unknown_key(s: _Section, item: RawItem, fields: dict[str, FieldSpec], kind: str,
                 ignored_by_cuda_convnet: bool = False) -> Diagnostic:
    allowed = sorted(fs.key for k, fs in fields.items() if k != "type" and k not in CODE_HOOKS)
    # the section's own type's keys only; at equal closeness one the section does not set yet
    given = {i.lkey for i in s.sec.items}
    near = closest(item.lkey, [a.lower() for a in allowed], prefer=lambda k: k not in given)
    hint = f"did you mean {fields[near].key!r}? " if near else ""
    hint += f"{kind} takes: " + ", ".join(allowed)
    if ignored_by_cuda_convnet:
        hint += f"; {IGNORED_BY_CUDA_CONVNET}"
    return s.diag(item.key_span, "unknown-key", f"unknown key {item.key!r}", hint)


def _validate_layer(sec: RawSection, allow_code: bool, diags: list[Diagnostic],
                    warnings: list[Diagnostic], lenient: bool) -> ir.Layer | None:
    s = _Section(sec, f"layer '{sec.name}'")
    type_item = sec.get("type")
    known = sorted(layer_models())
    if type_item is None or not type_item.value.strip():
        diags.append(s.diag(sec.span, "missing-type", "no type given",
                            "add type=..., one of: " + ", ".join(known) + " (or type=net for run settings)"))
        return None
    type_ = type_item.value.strip().lower()
    if type_ not in layer_models():
        near = closest(type_, known)
        hint = (f"did you mean {near!r}? " if near else "") + "known types: " + ", ".join(known)
        diags.append(s.diag(type_item.value_span, "unknown-type", f"unknown layer type {type_item.value!r}", hint))
        return None
    fields = layer_fields(type_)
    s.data["type"] = type_
    s.spans["type"] = type_item.value_span
    n_before = len(diags)

    inputs_item = sec.get("inputs")
    n_inputs = 0
    if inputs_item is not None:
        _read_item(s, inputs_item, fields["inputs"], 0, diags)
        n_inputs = len(s.data.get("inputs", ()))
    for item in sec.items:
        if item.lkey in ("type", "inputs"):
            continue
        if item.lkey in CODE_HOOKS and not allow_code:
            diags.append(s.diag(item.key_span, "code-hook",
                                f"{item.key}= names Python code to import and run; refused",
                                "pass --allow-code (allow_code=True) to accept the key if you trust this file; "
                                "alexspec checks it but never imports it (build refuses it)"))
            continue
        fs = fields.get(item.lkey)
        if fs is None and lenient:
            d = _unknown_key(s, item, fields, f"type={type_}")
            warnings.append(replace(d, message=d.message + " (ignored: --lenient)", severity="warning"))
            continue
        if fs is None:
            s.unknown_keys = True
            diags.append(_unknown_key(s, item, fields, f"type={type_}", ignored_by_cuda_convnet=True))
            continue
        _read_item(s, item, fs, n_inputs, diags)
    for key, value in _PER_INPUT_DEFAULTS.items():
        fs = fields.get(key)
        if fs is not None and fs.per_input and fs.key not in s.data and n_inputs:
            s.data[fs.key] = [value] * n_inputs
    model = layer_models()[type_]
    try:
        layer = model.model_validate({**s.data, "name": sec.name, "span": sec.span, "spans": s.spans})
        return layer if _bounds(s, layer, diags) and len(diags) == n_before else None
    except ValidationError as e:
        diags.extend(_pydantic_diags(s, e))
        return None


def _validate_settings(sec: RawSection, diags: list[Diagnostic]) -> ir.RunSettings | None:
    s = _Section(sec, f"[{sec.name}] (type=net)")
    fields = settings_fields()
    n_before = len(diags)
    for item in sec.items:
        if item.lkey == "type":
            continue
        fs = fields.get(item.lkey)
        if fs is None:
            s.unknown_keys = True
            diags.append(_unknown_key(s, item, fields, "type=net"))
            continue
        _read_item(s, item, fs, 0, diags)
    try:
        settings = ir.RunSettings.model_validate(s.data)
        return settings if len(diags) == n_before else None
    except ValidationError as e:
        diags.extend(_pydantic_diags(s, e))
        return None


def validate(expanded: Expanded, *, allow_code: bool = False, lenient: bool = False) -> ir.Spec:
    """Turn expanded sections into a validated `Spec`. Raises SpecError with every problem.

    With `lenient`, a key a layer type does not take is a warning (added to
    `expanded.warnings`) and ignored, as cuda-convnet ignored it.
    """
    spec, diags, _ = validate_partial(expanded, allow_code=allow_code, lenient=lenient)
    if diags:
        raise SpecError(diags + expanded.warnings, expanded.sources)
    return spec


def validate_partial(expanded: Expanded, *, allow_code: bool = False, lenient: bool = False
                     ) -> tuple[ir.Spec, list[Diagnostic], dict[str, tuple[str, ...]]]:
    """(the Spec of the layers that validated, every problem, failed layer name -> the input
    names its section writes), so that the later checks can still run on the layers the problems
    do not touch (every error at once)."""
    diags: list[Diagnostic] = []
    layers = [_validate_layer(sec, allow_code, diags, expanded.warnings, lenient) for sec in expanded.layers]
    settings = ir.RunSettings()
    if expanded.settings is not None:
        settings = _validate_settings(expanded.settings, diags) or settings
    if not expanded.layers:
        diags.append(Diagnostic(Span(expanded.path, 1, 1), "empty", "the file defines no layers",
                                "a spec has [name] sections with type=..."))
    failed = {}
    for sec, layer in zip(expanded.layers, layers):
        if layer is None:
            item = sec.get("inputs")
            names = split_list(item.value, item.value_span) if item is not None and item.value.strip() else []
            failed[sec.name] = tuple(n for n, _ in names)
    # model_construct: the layers and settings are validated models already; validating the Spec
    # again would build the AnyLayer union, and so the validator of every layer type.
    spec = ir.Spec.model_construct(path=expanded.path, layers=tuple(x for x in layers if x is not None),
                                   settings=settings,
                                   settings_span=expanded.settings.span if expanded.settings else None)
    return spec, diags, failed
