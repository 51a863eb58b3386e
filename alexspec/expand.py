"""expand: the extensions that rewrite raw sections before validation.

* `[*]` defaults: each key is given to every layer whose type accepts it and that does not set it.
* `columns=N` / `connect=same|all`: one section becomes N layers `<name>a`, `<name>b`, ... with
  `gpu=k` written on column k (docs/architecture.md, "Compact split"). A layer that merges split
  inputs (columns=1, or a layer without `columns=` whose first input is not split) reads every
  column and gets `gpu=` of its first input's first column, so that the compact file and the
  explicit cuda-convnet2 towers file give the same layers.
* the layer params file (`--layer-params`): its sections add keys to the layers of the same name
  (or to every column of a split name), overriding the same key in the definition file.
* the `type=net` section is set aside as the run settings.

Everything works on `RawSection`s and keeps every span, so later errors still point at the text
the user wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from string import ascii_lowercase

from alexspec.errors import Diagnostic, Span, SpecError
from alexspec.fields import SPLIT_KEYS, layer_fields, layer_models
from alexspec.layers import kinds
from alexspec.near import closest
from alexspec.parse import RawFile, RawItem, RawSection
from alexspec.values import split_list

DEFAULTS_SECTION = "*"
# Keys of every section that place it in the network (never read from a params file).
_ARCHITECTURE_KEYS = ("type", "inputs", "gpu") + SPLIT_KEYS


@dataclass
class Expanded:
    """The definition file after the extensions: plain cuda-convnet layer sections."""

    path: str
    layers: list[RawSection]
    settings: RawSection | None = None
    sources: dict[str, str] = field(default_factory=dict)
    warnings: list[Diagnostic] = field(default_factory=list)


def _type_of(sec: RawSection) -> str | None:
    item = sec.get("type")
    return item.value.strip().lower() if item else None


def _item(key: str, value: str, span: Span) -> RawItem:
    return RawItem(key, value, span, span)


def _with_items(sec: RawSection, name: str, items: list[RawItem]) -> RawSection:
    return RawSection(name, sec.span, items)


def _split_section(sec: RawSection, columns_of: dict[str, int], known: set[str], tainted: set[str],
                   diags: list[Diagnostic]) -> list[RawSection]:
    """One raw section -> the layer sections it stands for (itself when nothing is split).

    A section that reads (directly or not) a name not defined above it is `tainted`: check.py
    reports that name, so the column rules are not enforced on it (they would only echo it).
    """
    cols_item, conn_item, inputs_item = sec.get("columns"), sec.get("connect"), sec.get("inputs")
    inputs = split_list(inputs_item.value, inputs_item.value_span) if inputs_item and inputs_item.value else []
    split_inputs = [x for x, _ in inputs if x in columns_of]
    known.add(sec.name)
    if any(x not in known or x in tainted for x, _ in inputs):
        tainted.add(sec.name)
    lenient = sec.name in tainted

    n = 1
    if cols_item is not None:
        v = cols_item.value.strip()
        if not (v.isascii() and v.isdigit() and len(v) <= 2) or not 1 <= int(v) <= len(ascii_lowercase):
            diags.append(Diagnostic(cols_item.value_span, "columns",
                                    f"layer '{sec.name}': columns must be a whole number from 1 to 26 (got {v!r})"))
            return []
        n = int(v)
    elif split_inputs:
        n = columns_of[split_inputs[0]]

    connect = "same"
    if conn_item is not None:
        connect = conn_item.value.strip().lower()
        if connect not in ("same", "all"):
            diags.append(Diagnostic(conn_item.value_span, "connect",
                                    f"layer '{sec.name}': connect must be 'same' or 'all' (got {conn_item.value!r})"))
            return []
        if lenient and (not split_inputs or n == 1):
            pass
        elif not split_inputs:
            diags.append(Diagnostic(conn_item.key_span, "connect",
                                    f"layer '{sec.name}': connect= has no effect, no input of this layer is split",
                                    "connect= chooses how a split layer reads split inputs; remove it"))
            return []
        elif n == 1:
            diags.append(Diagnostic(conn_item.key_span, "connect",
                                    f"layer '{sec.name}': connect= has no effect on a layer that is not split",
                                    "a single layer always reads every column of a split input"))
            return []
    rest = [i for i in sec.items if i.lkey not in SPLIT_KEYS]
    if n == 1 and not split_inputs:
        return [_with_items(sec, sec.name, rest)]

    gpu_item = sec.get("gpu")
    if n > 1 and gpu_item is not None:
        diags.append(Diagnostic(gpu_item.key_span, "gpu",
                                f"layer '{sec.name}': gpu= cannot be combined with columns= (column k runs on GPU k)",
                                "remove gpu=, or write the columns as separate sections"))
        return []
    for x, span in inputs:
        if n > 1 and connect == "same" and x in columns_of and columns_of[x] != n and not lenient:
            diags.append(Diagnostic(span, "columns",
                                    f"layer '{sec.name}' has {n} columns but its input '{x}' has {columns_of[x]}",
                                    "say connect=all to read every column, or make the column counts equal"))
            return []

    def column_inputs(k: int | None) -> list[list[str]]:
        """One list of expanded input names per written input, for column `k` (None: not split)."""
        out = []
        for x, _ in inputs:
            m = columns_of.get(x, 0)
            if not m:
                out.append([x])
            elif k is not None and connect == "same":
                out.append([x + ascii_lowercase[min(k, m - 1)]])
            else:
                out.append([x + ascii_lowercase[j] for j in range(m)])
        return out

    type_ = _type_of(sec)
    fields = layer_fields(type_) if type_ in layer_models() else {}
    made = []
    for k in (range(n) if n > 1 else [None]):
        groups = column_inputs(k)
        items = []
        for item in rest:
            fs = fields.get(item.lkey)
            if item.lkey == "inputs":
                item = replace(item, value=",".join(x for g in groups for x in g))
            elif fs is not None and fs.per_input and item.value:
                elems = split_list(item.value, item.value_span)
                if len(elems) == len(groups) > 1:  # one entry per written input -> per expanded input
                    item = replace(item, value=",".join(e for (e, _), g in zip(elems, groups) for _ in g))
            items.append(item)
        if k is not None:
            where = cols_item.value_span if cols_item else sec.span
            items.append(_item("gpu", str(k), where))
            made.append(_with_items(sec, sec.name + ascii_lowercase[k], items))
        else:
            if gpu_item is None and inputs and inputs[0][0] in columns_of:
                items.append(_item("gpu", "0", inputs[0][1]))
            made.append(_with_items(sec, sec.name, items))
    if n > 1:
        columns_of[sec.name] = n
    known.update(s.name for s in made)
    return made


def _merge(target: RawSection, items: list[RawItem]) -> None:
    """Add `items` to `target`, replacing an item with the same key (case-insensitive)."""
    for new in items:
        target.items = [i for i in target.items if i.lkey != new.lkey] + [new]


def params_file_keys(type_: str) -> dict[str, str]:
    """Lower-cased key -> spelling of the keys cuda-convnet read from the layer params file for
    this type (its family's `params`: `add_params` in cuda-convnet's layer.py)."""
    kind = kinds()[type_]
    return {(kind.model.model_fields[n].alias or n).lower(): kind.model.model_fields[n].alias or n
            for n in sorted(kind.params_keys)}


def _params_items(sec: RawSection, type_: str | None, diags: list[Diagnostic], warnings: list[Diagnostic],
                  lenient: bool) -> list[RawItem]:
    """The items of a params section that cuda-convnet would have read for a layer of `type_`
    (None: `[*]`, any type's). Architecture keys are errors (or, with `lenient`, warnings and
    ignored, as cuda-convnet ignored them); keys no type takes are left to validate."""
    if type_ in kinds():
        allowed = params_file_keys(type_)
        fields = layer_fields(type_)
    else:
        allowed = {k: v for t in kinds() for k, v in params_file_keys(t).items()}
        fields = {k: fs for t in kinds() for k, fs in layer_fields(t).items()}
    keep = []
    for i in sec.items:
        if i.lkey in allowed or (i.lkey not in fields and i.lkey not in _ARCHITECTURE_KEYS):
            keep.append(i)
            continue
        what = f"type={type_}" if type_ in kinds() else "any layer type"
        listed = ", ".join(sorted(allowed.values())) or "nothing"
        msg = (f"[{sec.name}]: {i.key}= belongs in the layer definition file: cuda-convnet reads only "
               f"{listed} from a layer params file for {what}, and would have ignored it")
        if lenient:
            warnings.append(Diagnostic(i.key_span, "params-key", msg + " (ignored: --lenient)",
                                       "move it to the layer definition file", severity="warning"))
        else:
            diags.append(Diagnostic(i.key_span, "params-key", msg,
                                    "move it to the layer definition file, or pass --lenient to ignore it "
                                    "as cuda-convnet did"))
    return keep


def _apply_params(params: RawFile, layers: list[RawSection], columns_of: dict[str, int],
                  defaults: list[RawItem], diags: list[Diagnostic], warnings: list[Diagnostic],
                  lenient: bool) -> None:
    by_name = {s.name: s for s in layers}
    for sec in params.sections:
        if sec.name == DEFAULTS_SECTION:
            items = _params_items(sec, None, diags, warnings, lenient)
            defaults[:] = [d for d in defaults if d.lkey not in {i.lkey for i in items}] + items
            continue
        if sec.name in by_name:
            targets = [by_name[sec.name]]
        elif sec.name in columns_of:
            targets = [by_name[sec.name + ascii_lowercase[k]] for k in range(columns_of[sec.name])]
        else:
            near = closest(sec.name, list(columns_of) + list(by_name))  # compact names first
            warnings.append(Diagnostic(
                sec.span, "unknown-layer",
                f"layer params section [{sec.name}] names no layer of {_params_target(layers)}; ignored, "
                "as cuda-convnet ignored it", f"did you mean [{near}]?" if near else "delete the section",
                severity="warning"))
            continue
        items = _params_items(sec, _type_of(targets[0]), diags, warnings, lenient)
        for target in targets:
            _merge(target, items)


def _params_target(layers: list[RawSection]) -> str:
    return "the definition file" if not layers else f"'{layers[0].span.path}'"


def _apply_defaults(defaults: list[RawItem], layers: list[RawSection], diags: list[Diagnostic]) -> None:
    used = set()
    for sec in layers:
        type_ = _type_of(sec)
        if type_ not in layer_models():
            continue
        fields = layer_fields(type_)
        have = {i.lkey for i in sec.items}
        for d in defaults:
            if d.lkey in fields and d.lkey not in have and d.lkey not in ("type", "inputs", "gpu"):
                sec.items.append(d)
                used.add(d.lkey)
    known = {k: fs.key for t in layer_models() for k, fs in layer_fields(t).items()
             if k not in ("type", "inputs", "gpu")}
    for d in defaults:
        if d.lkey not in known:
            near = closest(d.lkey, sorted(known))
            diags.append(Diagnostic(d.key_span, "unknown-key",
                                    f"[*]: no layer type takes the key {d.key!r}",
                                    f"did you mean {known[near]!r}?" if near else None))


def expand(spec: RawFile, params: RawFile | None = None, *, lenient: bool = False) -> Expanded:
    """Apply the extensions to a parsed definition file (and params file).

    Raises SpecError with every problem found (bad `columns`/`connect`, a definition key in the
    params file, a `[*]` key no layer takes, two layers with one name after the split). A params
    section that names no layer is a warning (`Expanded.warnings`), as are, with `lenient`, the
    definition keys of a params file (cuda-convnet ignored both).
    """
    diags: list[Diagnostic] = []
    warnings: list[Diagnostic] = list(spec.warnings) + (list(params.warnings) if params else [])
    sources = {spec.path: spec.text}
    if params is not None:
        sources[params.path] = params.text
    defaults: list[RawItem] = []
    settings: RawSection | None = None
    layers: list[RawSection] = []
    columns_of: dict[str, int] = {}
    known: set[str] = set()
    tainted: set[str] = set()
    for sec in spec.sections:
        if sec.name == DEFAULTS_SECTION:
            defaults.extend(sec.items)
        elif _type_of(sec) == "net":
            if settings is not None:
                diags.append(Diagnostic(sec.span, "duplicate-section",
                                        f"a second type=net section [{sec.name}] (the first is "
                                        f"[{settings.name}] at line {settings.span.line})"))
            settings = sec
        else:
            before = len(diags)
            layers.extend(_split_section(sec, columns_of, known, tainted, diags))
            if len(diags) > before:  # its readers would only echo the problem
                tainted.add(sec.name)

    seen: dict[str, RawSection] = {}
    for sec in layers:
        if sec.name in seen and seen[sec.name].span != sec.span:
            diags.append(Diagnostic(sec.span, "duplicate-layer",
                                    f"layer '{sec.name}' is defined twice (once by the compact split "
                                    f"of the section at line {seen[sec.name].span.line})"))
        seen.setdefault(sec.name, sec)
    if params is not None:
        _apply_params(params, layers, columns_of, defaults, diags, warnings, lenient)
    _apply_defaults(defaults, layers, diags)
    if diags:
        raise SpecError(diags + warnings, sources)
    return Expanded(spec.path, layers, settings, sources, warnings)
