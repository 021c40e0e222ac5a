"""The capabilities mask, capability bits and export type: one test per bit.

Expected values come from ma-export-format.md §17 (checked there against every ECMA2 sample
export); the Lync template's real numbers anchor the whole formula."""

from __future__ import annotations

import dataclasses

import pytest

from maforge.compiler.mim.capabilities import capability_numbers
from maforge.compiler.model import NOWHERE, Capabilities

# Everything at the value that sets no optional bit.
QUIET = Capabilities(
    distinguished_name_style="None",
    export_type="AttributeUpdate",
    data_normalization="None",
    object_confirmation="Normal",
    dn_as_anchor=False,
    concurrent_operations=False,
    partitions=True,  # "partitions disabled" is the bit
    hierarchy=True,  # likewise
    import_=True,  # likewise
    delta_import=False,
    export=True,  # likewise (and export adds the mask-only bit)
    full_export=False,
    no_reference_values_in_first_export_pass=False,
    object_rename=False,
    delete_add_as_replace=False,
    password_operations=False,
    export_password_in_first_pass=False,
    loc=NOWHERE,
)
ALWAYS = 0x80000000 | 0x00040000 | 0x00020000


def test_the_always_set_bits():
    numbers = capability_numbers(QUIET)
    assert numbers.bits == ALWAYS
    assert numbers.mask == ALWAYS | 0x1


@pytest.mark.parametrize(
    ("change", "bit"),
    [
        ({"distinguished_name_style": "Generic"}, 0x30),
        ({"distinguished_name_style": "Ldap"}, 0x70),
        ({"data_normalization": "Uppercase"}, 0x80000),
        ({"data_normalization": "RemoveAccents"}, 0x100000),
        ({"data_normalization": "Both"}, 0x180000),
        ({"object_confirmation": "NoDeleteConfirmation"}, 0x24000000),
        ({"object_confirmation": "NoAddAndDeleteConfirmation"}, 0x24000000),
        ({"dn_as_anchor": True}, 0x40000000),
        ({"concurrent_operations": True}, 0x8000),
        ({"partitions": False}, 0x01000000),
        ({"hierarchy": False}, 0x8),
        ({"import_": False}, 0x4),
        ({"delta_import": True}, 0x1000),
        ({"full_export": True}, 0x02000000),
        ({"no_reference_values_in_first_export_pass": True}, 0x400),
        ({"object_rename": True}, 0x200),
        ({"delete_add_as_replace": True}, 0x10000),
        ({"password_operations": True}, 0x800),
        ({"export_password_in_first_pass": True}, 0x10000000),
    ],
    ids=lambda v: str(v),
)
def test_each_capability_sets_its_bit(change, bit):
    numbers = capability_numbers(dataclasses.replace(QUIET, **change))
    assert numbers.bits == ALWAYS | bit
    assert numbers.mask == ALWAYS | bit | 0x1


def test_export_disabled_sets_a_bit_and_drops_the_mask_only_bit():
    numbers = capability_numbers(dataclasses.replace(QUIET, export=False))
    assert numbers.bits == ALWAYS | 0x80
    assert numbers.mask == numbers.bits


@pytest.mark.parametrize(("export_type", "code"), [("AttributeUpdate", 1), ("AttributeReplace", 2), ("ObjectReplace", 3), ("MultivaluedReferenceAttributeUpdate", 5)])
def test_export_type_codes(export_type, code):
    assert capability_numbers(dataclasses.replace(QUIET, export_type=export_type)).export_type == code


def test_the_lync_template_numbers():
    lync = dataclasses.replace(
        QUIET,
        distinguished_name_style="Ldap",
        object_confirmation="NoAddAndDeleteConfirmation",
        concurrent_operations=True,
        delta_import=True,
        no_reference_values_in_first_export_pass=True,
        object_rename=True,
        delete_add_as_replace=True,
    )
    numbers = capability_numbers(lync)
    assert numbers.bits_text == "2751960688"
    assert numbers.mask_text == "a4079671"
    assert numbers.export_type == 1
