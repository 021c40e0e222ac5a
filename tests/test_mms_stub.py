"""The Microsoft.MetadirectoryServices stub and the Maforge.TestHost doubles, under Mono.

Compiles tests/csharp/Microsoft.MetadirectoryServices.cs as Microsoft.MetadirectoryServicesEx.dll,
tests/csharp/MmsTestHost.cs against it, and a small rules extension plus a driver written below;
runs the driver with mono and checks what the extension did to each attribute and which
exceptions came out. Without mcs/mono the tests skip locally and fail under CI (CI=true).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from csharp_support import run_mcs, toolchain

CSHARP = Path(__file__).parent / "csharp"
STUB = CSHARP / "Microsoft.MetadirectoryServices.cs"
HOST = CSHARP / "MmsTestHost.cs"

# A rules extension as maforge would generate one: one export flow, one deletion, one declined
# flow; every other entry point throws EntryPointNotImplementedException.
SAMPLE_EXTENSION = r"""
using System;
using Microsoft.MetadirectoryServices;

namespace Sample
{
    public class HrExtension : IMASynchronization
    {
        public void Initialize() { }
        public void Terminate() { }

        public bool ShouldProjectToMV(CSEntry csentry, out string MVObjectType)
        { throw new EntryPointNotImplementedException(); }

        public bool FilterForDisconnection(CSEntry csentry)
        { throw new EntryPointNotImplementedException(); }

        public void MapAttributesForJoin(string FlowRuleName, CSEntry csentry, ref ValueCollection values)
        { throw new EntryPointNotImplementedException(); }

        public bool ResolveJoinSearch(string joinCriteriaName, CSEntry csentry, MVEntry[] rgmventry,
                                      out int imventry, ref string MVObjectType)
        { throw new EntryPointNotImplementedException(); }

        public void MapAttributesForImport(string FlowRuleName, CSEntry csentry, MVEntry mventry)
        { throw new EntryPointNotImplementedException(); }

        public void MapAttributesForExport(string FlowRuleName, MVEntry mventry, CSEntry csentry)
        {
            switch (FlowRuleName)
            {
                case "displayName":
                    if (!mventry["sn"].IsPresent) throw new DeclineMappingException();
                    csentry["displayName"].Value = mventry["givenName"].Value + " " + mventry["sn"].Value;
                    break;
                case "title":
                    csentry["title"].Delete();
                    break;
                case "costCenter":
                    throw new DeclineMappingException("no cost center in this source");
                default:
                    throw new UnexpectedDataException("unknown flow rule " + FlowRuleName);
            }
        }

        public DeprovisionAction Deprovision(CSEntry csentry)
        { throw new EntryPointNotImplementedException(); }
    }
}
"""

# Drives the extension through the host and prints one block per case:
#   == <case>
#   outcome <TAB> <status> <TAB> <exception type or -> <TAB> <return value or ->
#   cs|mv <TAB> <AttributeReport.ToLine()>
DRIVER = r"""
using System;
using System.Linq;
using Maforge.TestHost;
using Microsoft.MetadirectoryServices;

static class Driver
{
    static TestCSEntry Cs()
    {
        var ma = new TestManagementAgent("HR");
        return new TestCSEntry("person", ma)
            .WithDN("CN=Ann Smith,OU=People,DC=fabrikam,DC=com")
            .With("displayName", "old name")
            .With("title", "Boss")
            .With("employeeNumber", 7L)
            .With("enabled", true)
            .WithReference("manager", "CN=Bob,OU=People,DC=fabrikam,DC=com")
            .WithMulti("proxyAddresses", "smtp:ann@x", "SMTP:Ann@X")
            .Declare("mail", AttributeType.String);
    }

    static TestMVEntry Mv(bool withSn)
    {
        var mv = new TestMVEntry("person").With("givenName", "Ann");
        if (withSn) mv.With("sn", "Smith"); else mv.Declare("sn", AttributeType.String);
        return mv;
    }

    static void Case(string name, Outcome o, TestCSEntry cs, TestMVEntry mv)
    {
        Console.WriteLine("== " + name);
        Console.WriteLine("outcome\t" + o.ToLine());
        if (cs != null) foreach (var r in cs.Report()) Console.WriteLine("cs\t" + r.ToLine());
        if (mv != null) foreach (var r in mv.Report()) Console.WriteLine("mv\t" + r.ToLine());
    }

    static void Probe(string name, Func<object> f) { Case("probe " + name, Outcome.Run(f), null, null); }

    static void Main()
    {
        MmsHost.Install();
        IMASynchronization ext = new Sample.HrExtension();
        ext.Initialize();

        var cs = Cs(); var mv = Mv(true);
        Case("export displayName", Outcome.Run(() => ext.MapAttributesForExport("displayName", mv, cs)), cs, mv);
        cs = Cs(); mv = Mv(true);
        Case("export title", Outcome.Run(() => ext.MapAttributesForExport("title", mv, cs)), cs, mv);
        cs = Cs(); mv = Mv(true);
        Case("export costCenter", Outcome.Run(() => ext.MapAttributesForExport("costCenter", mv, cs)), cs, mv);
        cs = Cs(); mv = Mv(false);
        Case("export displayName without sn", Outcome.Run(() => ext.MapAttributesForExport("displayName", mv, cs)), cs, mv);
        cs = Cs(); mv = Mv(true);
        Case("export unknown", Outcome.Run(() => ext.MapAttributesForExport("nope", mv, cs)), cs, mv);
        cs = Cs();
        Case("deprovision", Outcome.Run(() => ext.Deprovision(cs)), cs, null);
        Case("project", Outcome.Run(() => { string t; return ext.ShouldProjectToMV(cs, out t); }), null, null);
        Case("join", Outcome.Run(() => { ValueCollection v = Utils.ValueCollection("x"); ext.MapAttributesForJoin("j", cs, ref v); }), null, null);

        // MIM semantics of the host itself.
        cs = Cs();
        Probe("absent value", () => cs["mail"].Value);
        Probe("absent is present", () => cs["mail"].IsPresent);
        Probe("unknown attribute", () => cs["noSuchThing"]);
        Probe("case-insensitive name", () => cs["DISPLAYNAME"].Value);
        Probe("value of multi-valued", () => cs["proxyAddresses"].Value);
        Probe("values of multi-valued", () => string.Join("|", cs["proxyAddresses"].Values.ToStringArray()));
        Probe("values of single-valued", () => cs["title"].Values.Count);
        Probe("values of absent", () => cs["mail"].Values.Count);
        Probe("integer value", () => cs["employeeNumber"].IntegerValue);
        Probe("integer as string view", () => cs["employeeNumber"].Value);
        Probe("string value of integer", () => cs["employeeNumber"].StringValue);
        Probe("boolean value", () => cs["enabled"].BooleanValue);
        Probe("reference depth", () => cs["manager"].ReferenceValue.Depth);
        Probe("reference parent", () => cs["manager"].ReferenceValue.Parent().ToString());
        Probe("set value null", () => { cs["title"].Value = null; return null; });
        Probe("second value on single-valued", () => { cs["title"].Values.Add("Chief"); return null; });
        Probe("set integer from string", () => { cs["employeeNumber"].Value = "12"; return cs["employeeNumber"].IntegerValue; });
        Probe("set integer from junk", () => { cs["employeeNumber"].Value = "twelve"; return null; });
        Probe("deleted then read", () => { cs["title"].Delete(); return cs["title"].IsPresent; });
        Probe("deleted value", () => cs["title"].Value);
        Probe("utils collection", () => Utils.ValueCollection(new[] { "a", "b" }).Count);
        Probe("escape dn", () => cs.MA.EscapeDNComponent("CN=Smith, Ann", "OU=People").ToString());

        var live = Cs();
        live["proxyAddresses"].Values.Add("smtp:ann2@x");
        live["mail"].Values = Utils.ValueCollection("ann@x");
        live["enabled"].BooleanValue = false;
        Case("live values", Outcome.Run(() => 0), live, null);

        ext.Terminate();
    }
}
"""

# Code that must NOT compile against the stub: real code cannot instantiate the abstract API
# classes, nor reach the stub's internal host backend.
MISUSE = r"""
using Microsoft.MetadirectoryServices;
static class Misuse
{
    static void Main()
    {
        var c = new ValueCollection();
        var b = Utils.Backend;
    }
}
"""


def _mcs(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """An mcs run whose failure a test expects (code that must not compile)."""
    return subprocess.run([toolchain().mcs, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _unescape(cell: str) -> str:
    out, i = [], 0
    while i < len(cell):
        if cell[i] == "\\" and i + 1 < len(cell):
            out.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}.get(cell[i + 1], cell[i + 1]))
            i += 2
        else:
            out.append(cell[i])
            i += 1
    return "".join(out)


def _parse(stdout: str) -> dict:
    """{case: {"outcome": (status, exception type, return value), "cs": {attr: {...}}, "mv": {...}}}"""
    cases: dict = {}
    current = None
    for line in stdout.splitlines():
        if line.startswith("== "):
            current = cases.setdefault(line[3:], {"cs": {}, "mv": {}})
            continue
        kind, *cells = line.split("\t")
        if kind == "outcome":
            current["outcome"] = tuple(cells)
        elif kind in ("cs", "mv"):
            name, state, data_type, arity, *values = (_unescape(c) for c in cells)
            current[kind][name] = {"state": state, "type": data_type, "multi": arity == "multi",
                                   "values": values}
    return cases


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    toolchain()
    out = tmp_path_factory.mktemp("mms")
    run_mcs(out, ["-target:library", "-out:Microsoft.MetadirectoryServicesEx.dll", str(STUB)])
    run_mcs(out, ["-target:library", "-out:MmsTestHost.dll", "-r:Microsoft.MetadirectoryServicesEx.dll",
             str(HOST)])
    return out


@pytest.fixture(scope="module")
def cases(build: Path) -> dict:
    (build / "Sample.cs").write_text(SAMPLE_EXTENSION)
    (build / "Driver.cs").write_text(DRIVER)
    run_mcs(build, ["-out:driver.exe", "-r:Microsoft.MetadirectoryServicesEx.dll", "-r:MmsTestHost.dll",
             "Sample.cs", "Driver.cs"])
    run = subprocess.run([toolchain().mono, "driver.exe"], cwd=build, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    return _parse(run.stdout)


MMS = "Microsoft.MetadirectoryServices."


def _untouched_except(entry: dict, *names: str) -> None:
    for name, attr in entry.items():
        if name not in names:
            assert attr["state"] == "untouched", (name, attr)


def test_export_flow_sets_one_attribute(cases):
    case = cases["export displayName"]
    assert case["outcome"] == ("ok", "-", "-")
    assert case["cs"]["displayName"] == {"state": "set", "type": "String", "multi": False,
                                         "values": ["Ann Smith"]}
    _untouched_except(case["cs"], "displayName")
    _untouched_except(case["mv"])


def test_delete_is_reported_and_leaves_the_attribute_absent(cases):
    case = cases["export title"]
    assert case["outcome"] == ("ok", "-", "-")
    assert case["cs"]["title"]["state"] == "deleted"
    assert case["cs"]["title"]["values"] == []
    _untouched_except(case["cs"], "title")


def test_declined_flows(cases):
    assert cases["export costCenter"]["outcome"] == ("declined", MMS + "DeclineMappingException", "-")
    _untouched_except(cases["export costCenter"]["cs"])
    without_sn = cases["export displayName without sn"]
    assert without_sn["outcome"][0] == "declined"
    assert without_sn["cs"]["displayName"]["values"] == ["old name"]
    _untouched_except(without_sn["cs"])


def test_unexpected_data_and_not_implemented(cases):
    assert cases["export unknown"]["outcome"][:2] == ("unexpected-data", MMS + "UnexpectedDataException")
    for name in ("deprovision", "project", "join"):
        assert cases[name]["outcome"] == ("not-implemented", MMS + "EntryPointNotImplementedException", "-")


def test_seeded_values_of_every_type(cases):
    cs = cases["export displayName"]["cs"]
    assert cs["employeeNumber"]["type"] == "Integer" and cs["employeeNumber"]["values"] == ["7"]
    assert cs["enabled"]["type"] == "Boolean" and cs["enabled"]["values"] == ["True"]
    assert cs["manager"]["type"] == "Reference"
    assert cs["manager"]["values"] == ["CN=Bob,OU=People,DC=fabrikam,DC=com"]
    assert cs["proxyAddresses"] == {"state": "untouched", "type": "String", "multi": True,
                                    "values": ["smtp:ann@x", "SMTP:Ann@X"]}
    assert cs["mail"]["values"] == []


@pytest.mark.parametrize("probe, expected", [
    ("absent value", ("error", MMS + "AttributeNotPresentException", "-")),
    ("absent is present", ("ok", "-", "False")),
    ("unknown attribute", ("error", MMS + "NoSuchAttributeException", "-")),
    ("case-insensitive name", ("ok", "-", "old name")),
    ("value of multi-valued", ("error", "System.InvalidOperationException", "-")),
    ("values of multi-valued", ("ok", "-", "smtp:ann@x|SMTP:Ann@X")),
    ("values of single-valued", ("ok", "-", "1")),
    ("values of absent", ("ok", "-", "0")),
    ("integer value", ("ok", "-", "7")),
    ("integer as string view", ("ok", "-", "7")),
    ("string value of integer", ("error", "System.InvalidOperationException", "-")),
    ("boolean value", ("ok", "-", "True")),
    ("reference depth", ("ok", "-", "4")),
    ("reference parent", ("ok", "-", "OU=People,DC=fabrikam,DC=com")),
    ("set value null", ("error", "System.InvalidOperationException", "-")),
    ("second value on single-valued", ("error", MMS + "TooManyValuesException", "-")),
    ("set integer from string", ("ok", "-", "12")),
    ("set integer from junk", ("error", "System.InvalidOperationException", "-")),
    ("deleted then read", ("ok", "-", "False")),
    ("deleted value", ("error", MMS + "AttributeNotPresentException", "-")),
    ("utils collection", ("ok", "-", "2")),
    ("escape dn", ("ok", "-", "CN=Smith\\, Ann,OU=People")),
])
def test_mim_semantics(cases, probe, expected):
    assert cases["probe " + probe]["outcome"] == expected


def test_values_collection_is_live(cases):
    cs = cases["live values"]["cs"]
    assert cs["proxyAddresses"]["state"] == "set"
    assert cs["proxyAddresses"]["values"] == ["smtp:ann@x", "SMTP:Ann@X", "smtp:ann2@x"]
    assert cs["mail"]["state"] == "set" and cs["mail"]["values"] == ["ann@x"]
    assert cs["enabled"]["state"] == "set" and cs["enabled"]["values"] == ["False"]
    _untouched_except(cs, "proxyAddresses", "mail", "enabled")


def test_stub_exposes_only_the_public_api(build):
    (build / "Misuse.cs").write_text(MISUSE)
    result = _mcs("-out:misuse.exe", "-r:Microsoft.MetadirectoryServicesEx.dll", "Misuse.cs", cwd=build)
    assert result.returncode != 0
    errors = result.stdout + result.stderr
    assert "CS0144" in errors  # cannot create an instance of the abstract class ValueCollection
    assert "CS0122" in errors  # Utils.Backend is inaccessible due to its protection level
