"""A compiled structural check: what fhir.resources R4B accepts, without building its models.

fhir.resources validates a resource by constructing a pydantic model for every element, each
nested type passing through Python validators of the library: about a sixth of an ingest
request's CPU (issue #17). This check is compiled once per type from the same model classes
(their elements' JSON names, cardinality, required elements and choice groups) and validates
every primitive with the library's own pydantic type, so it is sound by construction: what it
accepts, `model_validate` accepts (tests/unit/test_structure.py checks it against the library on
generated resources). It is also conservative: what it does not model (primitive extensions
`_element`, contained resources, `fhir_comments`, empty objects, a model with validators of
its own) it does not accept, and the caller then asks fhir.resources, whose verdict and messages stand.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, Callable

from fhir.resources.R4B import get_fhir_model_class
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from fhir_core.types import FhirBase, FhirElementOrResourceBase
from pydantic import TypeAdapter, ValidationError

# The validators every model has, which this check mirrors (no nulls; required elements; one
# type per choice element). A model with any other validator is left to the library.
_MIRRORED_VALIDATORS = frozenset({"reject_null_complex_elements", "validate_after_model_construction"})
# How a complex type's value becomes its model: `model_validate` of the dict, nothing more.
_PLAIN_VALIDATOR = FhirBase.fhir_model_validator.__func__


@dataclass(frozen=True)
class _Field:
    is_list: bool
    accepts: Callable[[Any], bool]  # one value (one item of a list)


@dataclass(frozen=True)
class _Shape:
    fields: dict[str, _Field]  # by JSON name
    required: tuple[str, ...]
    choices: tuple[tuple[tuple[str, ...], bool], ...]  # (JSON names of one choice element, required)


_UNMODELLED = _Shape(fields={}, required=(), choices=())


def _without_none(annotation):
    """`X | None` and `Optional[X]` as X; None for any other union (which is not modelled)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _without_none(rest[0]) if len(rest) == 1 else None
    return annotation


@cache
def _primitive(annotation) -> Callable[[Any], bool]:
    """The library's own validation of one primitive (its pydantic type: patterns, dates, numbers)."""
    adapter = TypeAdapter(annotation)

    def accepts(value) -> bool:
        if value is None or isinstance(value, (dict, list)):
            return False
        try:
            adapter.validate_python(value)
        except (ValidationError, ValueError, TypeError):
            return False
        return True

    return accepts


def _complex(model: type[FHIRAbstractModel]) -> Callable[[Any], bool]:
    def accepts(value) -> bool:
        # an empty object is refused by our rules, and not modelled here
        return type(value) is dict and bool(value) and _accepts(_shape(model), value)

    return accepts


def _field(annotation) -> _Field | None:
    """How one element is checked; None when this check does not model it."""
    inner = _without_none(annotation)
    if inner is None:
        return None
    is_list = typing.get_origin(inner) in (list, typing.List)
    if is_list:
        inner = _without_none(typing.get_args(inner)[0])
        if inner is None:
            return None
    if isinstance(inner, type) and issubclass(inner, FhirBase):
        if issubclass(inner, FhirElementOrResourceBase) or inner.fhir_model_validator.__func__ is not _PLAIN_VALIDATOR:
            return None  # a resource inside a resource (its type is read from the JSON), or a type of its own kind
        return _Field(is_list, _complex(inner.get_model_klass()))
    return _Field(is_list, _primitive(inner))


@cache
def _shape(model: type[FHIRAbstractModel]) -> _Shape:
    """The compiled shape of one model class (built once)."""
    decorators = model.__pydantic_decorators__
    if set(decorators.model_validators) - _MIRRORED_VALIDATORS or decorators.field_validators or decorators.validators:
        return _UNMODELLED
    aliases = {name: info.alias or name for name, info in model.model_fields.items()}
    elements = set(model.elements_sequence())
    fields: dict[str, _Field] = {}
    for name, info in model.model_fields.items():
        if info.metadata:
            return _UNMODELLED  # constraints on the field itself
        json_name = aliases[name]
        if json_name not in elements:
            continue  # `_element` extensions and fhir_comments: not accepted here
        compiled = _field(info.annotation)
        if compiled is not None:
            fields[json_name] = compiled
    pydantic_required = [aliases[n] for n, info in model.model_fields.items() if info.is_required()]
    # get_required_fields and get_one_of_many_fields are per class; they read nothing of the instance.
    required = tuple(dict.fromkeys(pydantic_required + [aliases[n] for n, _ext in model.get_required_fields(None)]))
    choices = []
    for names in model.get_one_of_many_fields(None).values():
        extra = model.model_fields[names[0]].json_schema_extra or {}
        choices.append((tuple(aliases[n] for n in names), extra.get("one_of_many_required") is True))
    return _Shape(fields=fields, required=required, choices=tuple(choices))


def _accepts(shape: _Shape, node: dict, *, skip: str | None = None) -> bool:
    if shape is _UNMODELLED:
        return False
    fields = shape.fields
    for key, value in node.items():
        if key == skip:
            continue
        field = fields.get(key)
        if field is None:
            return False
        if field.is_list:
            if type(value) is not list:
                return False
            check = field.accepts
            for item in value:
                if not check(item):
                    return False
        elif not field.accepts(value):
            return False
    for name in shape.required:
        if name not in node:
            return False
    for names, required in shape.choices:
        present = sum(1 for name in names if name in node)
        if present > 1 or (required and present == 0):
            return False
    return True


def accepts(resource_type: str, resource: dict) -> bool:
    """True only if fhir.resources' `model_validate` accepts `resource` as `resource_type`."""
    if type(resource) is not dict or resource.get("resourceType") != resource_type:
        return False
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError):  # not an R4B resource type
        return False
    return _accepts(_shape(model), resource, skip="resourceType")
