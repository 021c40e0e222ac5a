"""The catalogue of expression functions: names, arities and one documented example each.

This table is the contract shared by the parser (arity checks), the reference docs and
every back-end that implements the functions (the Python runtime, the MIM rules
extension notes). A function exists once here or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    min_args: int
    max_args: int | None  # None: any number from min_args up
    signature: str
    summary: str
    example: str
    result: str
    pairs_after: int | None = None  # arguments after this many come in (key, value) pairs
    inputs: tuple[tuple[str, object], ...] = ()  # the example's attribute values ...
    expected: object = None  # ... and what the example evaluates to (tests run every example)

    def arity_problem(self, count: int) -> str | None:
        """Why ``count`` arguments do not fit, or None when they do."""
        if count < self.min_args or (self.max_args is not None and count > self.max_args):
            if self.max_args == self.min_args:
                wanted = f"{self.min_args} argument{'s' if self.min_args != 1 else ''}"
            elif self.max_args is None:
                wanted = f"at least {self.min_args} arguments"
            else:
                wanted = f"{self.min_args} to {self.max_args} arguments"
            return f"{self.name} takes {wanted}, got {count}: {self.signature}"
        if self.pairs_after is not None and (count - self.pairs_after) % 2:
            return f"{self.name} takes its arguments after the first {self.pairs_after} in pairs, got {count}: {self.signature}"
        return None


_CATALOGUE = (
    Function("Coalesce", 1, None, "Coalesce(value, value, ...)", "The first argument that is present and not empty.",
             'Coalesce([preferredName], [firstName])', '"Adele" when preferredName is empty and firstName is "Adele"'),
    Function("IIF", 3, 3, "IIF(condition, whenTrue, whenFalse)", "whenTrue if the condition holds, else whenFalse.",
             'IIF([country] = "NO", "Norway", [country])', '"Norway" for country "NO"'),
    Function("Switch", 4, None, "Switch(value, default, key1, result1, key2, result2, ...)",
             "The result paired with the first key equal to value, or default when none is.",
             'Switch([officeCode], "Remote", "OSL", "Oslo", "LON", "London")', '"London" for officeCode "LON"', pairs_after=2),
    Function("Join", 2, None, "Join(separator, value, ...)",
             "The present values (multi-valued ones flattened) joined with the separator.",
             'Join(" ", [firstName], [lastName])', '"Adele Vance"'),
    Function("Split", 2, 2, "Split(value, separator)", "A multi-valued result: value cut at every separator.",
             'Split([skills], ";")', '["SharePoint", "PowerShell"] for "SharePoint;PowerShell"'),
    Function("Replace", 3, 3, "Replace(value, find, replacement)", "value with every occurrence of the text find replaced.",
             'Replace([phone], " ", "")', '"+4722334455" for "+47 22 33 44 55"'),
    Function("RegexReplace", 3, 3, "RegexReplace(value, pattern, replacement)",
             "value with every match of the regular expression replaced; $1 refers to a group.",
             'RegexReplace([phone], "[^0-9+]", "")', '"+4722334455" for "+47 (22) 33-44-55"'),
    Function("Left", 2, 2, "Left(value, count)", "The first count characters.", 'Left([lastName], 3)', '"Van" for "Vance"'),
    Function("Mid", 3, 3, "Mid(value, start, count)", "count characters from the 1-based position start.",
             'Mid([employeeId], 2, 4)', '"1234" for "E12345"'),
    Function("Right", 2, 2, "Right(value, count)", "The last count characters.", 'Right([employeeId], 2)', '"45" for "E12345"'),
    Function("Trim", 1, 1, "Trim(value)", "value without leading and trailing white space.", 'Trim([department])', '"Sales" for "  Sales "'),
    Function("ToLower", 1, 1, "ToLower(value)", "value in lower case.", 'ToLower([mail])', '"adele.vance@contoso.com"'),
    Function("ToUpper", 1, 1, "ToUpper(value)", "value in upper case.", 'ToUpper([country])', '"NO" for "no"'),
    Function("PCase", 1, 1, "PCase(value)", "MIM's ProperCase: each space-separated word with an upper-case first letter and the rest lower case.",
             'PCase([lastName])', '"Van Der Berg" for "VAN DER BERG"'),
    Function("NormalizeDiacritics", 1, 1, "NormalizeDiacritics(value)", "value with accents removed (é → e, Å → A, ø → o).",
             'NormalizeDiacritics([lastName])', '"Angstrom" for "Ångström"'),
    Function("FormatDateTime", 3, 3, "FormatDateTime(value, inputFormat, outputFormat)",
             "A date read with inputFormat and written with outputFormat (.NET-style patterns such as yyyy-MM-dd).",
             'FormatDateTime([hireDate], "dd.MM.yyyy", "yyyy-MM-dd")', '"2024-03-01" for "01.03.2024"'),
    Function("DateAdd", 3, 3, "DateAdd(interval, count, date)",
             "date moved by count intervals (yyyy, m, d, h, n, s); an ISO 8601 date or date-time.",
             'DateAdd("d", 30, [hireDate])', '"2024-03-31" for "2024-03-01"'),
    Function("Now", 0, 0, "Now()", "The current UTC date and time in ISO 8601 (fixed for one plan run).",
             'Now()', '"2026-11-26T05:00:00Z"'),
    Function("Item", 2, 2, "Item(values, index)", "The value at the 1-based index of a multi-valued attribute.",
             'Item([proxyAddresses], 1)', 'the first proxy address'),
    Function("Count", 1, 1, "Count(values)", "How many values a multi-valued attribute holds (0 when absent).",
             'Count([skills])', '2 for ["SharePoint", "PowerShell"]'),
    Function("RemoveDuplicates", 1, 1, "RemoveDuplicates(values)", "The values without repeats, first occurrence kept.",
             'RemoveDuplicates(Split([skills], ";"))', '["a", "b"] for "a;b;a"'),
    Function("IsPresent", 1, 1, "IsPresent(value)", "true when the value is present and not empty.",
             'IIF(IsPresent([mobile]), [mobile], [phone])', 'mobile when set, else phone'),
    Function("IsNullOrEmpty", 1, 1, "IsNullOrEmpty(value)", "true when the value is absent or empty.",
             'IIF(IsNullOrEmpty([office]), "Remote", [office])', '"Remote" when office is empty'),
    Function("CStr", 1, 1, "CStr(value)", "value as text (numbers in invariant culture, booleans as true/false).",
             'CStr([employeeNumber])', '"1042" for 1042'),
    Function("IgnoreThisFlow", 0, 0, "IgnoreThisFlow()", "Skip this flow for this object: the target keeps its value.",
             'IIF(IsPresent([aboutMe]), [aboutMe], IgnoreThisFlow())', 'aboutMe, or no change when it is empty'),
    Function("AuthoritativeNull", 0, 0, "AuthoritativeNull()", "Clear the target's value, whatever flows with lower precedence say.",
             'IIF([leaver] = "yes", AuthoritativeNull(), [office])', 'the office cleared for a leaver'),
)

# The examples as data: the attributes each example reads and the value it must give.
# "NOW" stands for the run's fixed clock, 2026-11-26T05:00:00Z in the tests.
_EXAMPLE_DATA: dict[str, tuple[dict[str, object], object]] = {
    "Coalesce": ({"preferredName": None, "firstName": "Adele"}, "Adele"),
    "IIF": ({"country": "NO"}, "Norway"),
    "Switch": ({"officeCode": "LON"}, "London"),
    "Join": ({"firstName": "Adele", "lastName": "Vance"}, "Adele Vance"),
    "Split": ({"skills": "SharePoint;PowerShell"}, ["SharePoint", "PowerShell"]),
    "Replace": ({"phone": "+47 22 33 44 55"}, "+4722334455"),
    "RegexReplace": ({"phone": "+47 (22) 33-44-55"}, "+4722334455"),
    "Left": ({"lastName": "Vance"}, "Van"),
    "Mid": ({"employeeId": "E12345"}, "1234"),
    "Right": ({"employeeId": "E12345"}, "45"),
    "Trim": ({"department": "  Sales "}, "Sales"),
    "ToLower": ({"mail": "Adele.Vance@Contoso.com"}, "adele.vance@contoso.com"),
    "ToUpper": ({"country": "no"}, "NO"),
    "PCase": ({"lastName": "VAN DER BERG"}, "Van Der Berg"),
    "NormalizeDiacritics": ({"lastName": "Ångström"}, "Angstrom"),
    "FormatDateTime": ({"hireDate": "01.03.2024"}, "2024-03-01"),
    "DateAdd": ({"hireDate": "2024-03-01"}, "2024-03-31"),
    "Now": ({}, "2026-11-26T05:00:00Z"),
    "Item": ({"proxyAddresses": ["SMTP:adele@contoso.com", "smtp:av@contoso.com"]}, "SMTP:adele@contoso.com"),
    "Count": ({"skills": ["SharePoint", "PowerShell"]}, 2),
    "RemoveDuplicates": ({"skills": "a;b;a"}, ["a", "b"]),
    "IsPresent": ({"mobile": "+47 900 00 000", "phone": "+47 22 00 00 00"}, "+47 900 00 000"),
    "IsNullOrEmpty": ({"office": ""}, "Remote"),
    "CStr": ({"employeeNumber": 1042}, "1042"),
    "IgnoreThisFlow": ({"aboutMe": ""}, "IGNORE"),
    "AuthoritativeNull": ({"leaver": "yes", "office": "Oslo"}, "CLEAR"),
}
_CATALOGUE = tuple(
    Function(**{**{k: getattr(f, k) for k in f.__dataclass_fields__}, "inputs": tuple(_EXAMPLE_DATA[f.name][0].items()), "expected": _EXAMPLE_DATA[f.name][1]})
    for f in _CATALOGUE
)

FUNCTIONS: dict[str, Function] = {f.name: f for f in _CATALOGUE}


def find_function(name: str) -> Function | None:
    """Look a function up by its exact name."""
    return FUNCTIONS.get(name)
