"""The capabilities mask, capability bits and export type MIM stores for an ECMA2 MA.

MIM keeps the Capabilities page twice: as the parameter values an admin sees and as
numbers the engine reads (`ma-data/capabilities-mask` in hex, `extension-config/
capability-bits` in decimal, and `export-type`). They must agree; this is the one place
that derives the numbers from the spec. Bit meanings were checked against every ECMA2
sample export (ma-export-format.md §17); the caveats are noted per bit.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import Capabilities

# Always set in MIM 2016-era ECMA2 exports. Absent in a 2014 FIM 2010 R2 export, so it
# depends on the engine build; maforge targets MIM 2016.
ENGINE_BASELINE = 0x80000000
ATTRIBUTE_UPDATE_LIST_ON_EXPORT = 0x00020000  # always set for ECMA2
GET_CLASS_SCHEMA = 0x00040000  # always set for ECMA2

DN_STYLE_BITS = {"None": 0x0, "Generic": 0x30, "Ldap": 0x70}
NORMALIZATION_BITS = {"None": 0x0, "Uppercase": 0x80000, "RemoveAccents": 0x100000, "Both": 0x180000}
# Both non-Normal choices produced the same two bits in the samples (NoDeleteConfirmation in
# one MA, NoAddAndDeleteConfirmation in another); how MIM tells them apart is unverified.
# The Object Confirmation parameter value, written beside the bits, carries the choice.
OBJECT_CONFIRMATION_BITS = 0x24000000
DN_AS_ANCHOR = 0x40000000  # from a third-party probe; no sample export shows it
CONCURRENT_OPERATIONS = 0x00008000
NO_PARTITIONS = 0x01000000
NO_HIERARCHY = 0x00000008
NO_IMPORT = 0x00000004
DELTA_IMPORT = 0x00001000
NO_EXPORT = 0x00000080
FULL_EXPORT = 0x02000000
NO_REFERENCE_VALUES_IN_FIRST_EXPORT_PASS = 0x00000400
OBJECT_RENAME = 0x00000200
DELETE_ADD_AS_REPLACE = 0x00010000
PASSWORD_OPERATIONS = 0x00000800
EXPORT_PASSWORD_IN_FIRST_PASS = 0x10000000
EXPORT_ENABLED_MASK_ONLY = 0x00000001  # in capabilities-mask, never in capability-bits

EXPORT_TYPES = {"AttributeUpdate": 1, "AttributeReplace": 2, "ObjectReplace": 3, "MultivaluedReferenceAttributeUpdate": 5}


@dataclass(frozen=True, slots=True)
class CapabilityNumbers:
    bits: int
    mask: int
    export_type: int

    @property
    def bits_text(self) -> str:
        """`capability-bits`: unsigned decimal."""
        return str(self.bits)

    @property
    def mask_text(self) -> str:
        """`capabilities-mask`: lower-case hex, no prefix, no padding."""
        return format(self.mask, "x")


def capability_numbers(caps: Capabilities) -> CapabilityNumbers:
    """Derive the three numbers MIM stores from the Capabilities page values."""
    bits = ENGINE_BASELINE | ATTRIBUTE_UPDATE_LIST_ON_EXPORT | GET_CLASS_SCHEMA
    bits |= DN_STYLE_BITS[caps.distinguished_name_style]
    bits |= NORMALIZATION_BITS[caps.data_normalization]
    flags = (
        (caps.object_confirmation != "Normal", OBJECT_CONFIRMATION_BITS),
        (caps.dn_as_anchor, DN_AS_ANCHOR),
        (caps.concurrent_operations, CONCURRENT_OPERATIONS),
        (not caps.partitions, NO_PARTITIONS),
        (not caps.hierarchy, NO_HIERARCHY),
        (not caps.import_, NO_IMPORT),
        (caps.delta_import, DELTA_IMPORT),
        (not caps.export, NO_EXPORT),
        (caps.full_export, FULL_EXPORT),
        (caps.no_reference_values_in_first_export_pass, NO_REFERENCE_VALUES_IN_FIRST_EXPORT_PASS),
        (caps.object_rename, OBJECT_RENAME),
        (caps.delete_add_as_replace, DELETE_ADD_AS_REPLACE),
        (caps.password_operations, PASSWORD_OPERATIONS),
        (caps.export_password_in_first_pass, EXPORT_PASSWORD_IN_FIRST_PASS),
    )
    for condition, bit in flags:
        if condition:
            bits |= bit
    mask = bits | (EXPORT_ENABLED_MASK_ONLY if caps.export else 0)
    return CapabilityNumbers(bits=bits, mask=mask, export_type=EXPORT_TYPES[caps.export_type])
