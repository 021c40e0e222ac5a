// Runs a generated rules extension the way the Synchronization Service calls it, one case per
// JSON line on stdin, and writes what the extension did as one JSON line on stdout.
//
// A case: {"member": "export" | "import" | "join", "rule": flow-rule name,
//          "mv": [attribute, ...], "cs": [attribute, ...], "target": attribute name}
// an attribute: {"name", "type": string|integer|boolean|reference|binary, "multi": bool,
//                "values": [ ... ] or null (in the schema, not present)}
// The answer: {"status": ok|declined|not-implemented|unexpected-data|error, "exception",
//              "message", "state": untouched|set|deleted, "values": [ ... ]}; for a join the
// values are those the extension added to the ValueCollection MIM searches with.
using System;
using System.Collections.Generic;
using Maforge.TestHost;
using Microsoft.MetadirectoryServices;

namespace Maforge.Tests
{
    public static class ExtensionDriver
    {
        public static int Main(string[] args)
        {
            MmsHost.Install();
            Type type = Type.GetType(args[0], true);
            IMASynchronization extension = (IMASynchronization)Activator.CreateInstance(type);
            extension.Initialize();
            string line;
            while ((line = Console.In.ReadLine()) != null)
            {
                if (line.Trim().Length == 0)
                {
                    continue;
                }
                MmsHost.Reset();
                Dictionary<string, object> call = (Dictionary<string, object>)Json.Parse(line);
                Console.Out.WriteLine(Json.Write(Run(extension, call)));
            }
            extension.Terminate();
            return 0;
        }

        private static Dictionary<string, object> Run(IMASynchronization extension, Dictionary<string, object> call)
        {
            string member = (string)call["member"];
            string rule = (string)call["rule"];
            TestManagementAgent ma = new TestManagementAgent("maforge test MA");
            TestCSEntry cs = new TestCSEntry("object", ma);
            TestMVEntry mv = new TestMVEntry("person");
            Seed(cs.Store, (List<object>)call["cs"]);
            Seed(mv.Store, (List<object>)call["mv"]);
            Dictionary<string, object> answer = new Dictionary<string, object>();
            Outcome outcome;
            if (member == "join")
            {
                ValueCollection values = Utils.ValueCollection(new string[0]);
                outcome = Outcome.Run(delegate { extension.MapAttributesForJoin(rule, cs, ref values); });
                List<object> found = new List<object>();
                foreach (Value value in values)
                {
                    found.Add(value.ToString());
                }
                answer["values"] = found;
            }
            else
            {
                string target = (string)call["target"];
                TestAttrib attribute;
                if (member == "export")
                {
                    outcome = Outcome.Run(delegate { extension.MapAttributesForExport(rule, mv, cs); });
                    attribute = cs.Attr(target);
                }
                else
                {
                    outcome = Outcome.Run(delegate { extension.MapAttributesForImport(rule, cs, mv); });
                    attribute = mv.Attr(target);
                }
                answer["state"] = attribute.State.ToString().ToLowerInvariant();
                List<object> current = new List<object>();
                foreach (string value in attribute.Current)
                {
                    current.Add(value);
                }
                answer["values"] = current;
            }
            answer["status"] = outcome.Status;
            answer["exception"] = outcome.ExceptionType;
            answer["message"] = outcome.Message;
            return answer;
        }

        private static void Seed(AttributeStore store, List<object> attributes)
        {
            foreach (object item in attributes)
            {
                Dictionary<string, object> spec = (Dictionary<string, object>)item;
                string name = (string)spec["name"];
                AttributeType type = TypeOf((string)spec["type"]);
                bool multi = (bool)spec["multi"];
                List<object> values = spec["values"] as List<object>;
                if (values == null)
                {
                    store.Declare(name, type, multi);
                    continue;
                }
                object[] typed = new object[values.Count];
                for (int i = 0; i < values.Count; i++)
                {
                    typed[i] = values[i];
                }
                if (multi)
                {
                    store.Seed(name, type, true, typed);
                }
                else if (typed.Length == 0)
                {
                    store.Declare(name, type, false);
                }
                else
                {
                    store.Seed(name, type, false, typed[0]);
                }
            }
        }

        private static AttributeType TypeOf(string name)
        {
            switch (name)
            {
                case "integer": return AttributeType.Integer;
                case "boolean": return AttributeType.Boolean;
                case "reference": return AttributeType.Reference;
                case "binary": return AttributeType.Binary;
                default: return AttributeType.String;
            }
        }
    }
}
