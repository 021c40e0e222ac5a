// Test host for tests/test_csharp_expressions.py: evaluates compiled flow expressions over
// rows read as JSON lines on stdin, one result line per input line on stdout.
//
// Input:  {"case": <index into Cases.All>, "row": {...}, "now": "2026-11-26T05:00:00Z"}
// Output: {"value": <result>} | {"marker": "IGNORE" | "CLEAR"} | {"error": "<exception type>", "message": "..."}
//
// The cases themselves (one method per expression, compiled by maforge's to_csharp) are
// generated into a second file that completes the partial class Cases.
using System;
using System.Collections.Generic;
using System.Text;
using Maforge.Runtime;

namespace Maforge.Tests
{
    public delegate object CompiledExpression(IDictionary<string, object> row, string now);

    public static partial class Cases
    {
    }

    public static class ExpressionHarness
    {
        public static int Main()
        {
            string line;
            while ((line = Console.In.ReadLine()) != null)
            {
                if (line.Length == 0) continue;
                Console.Out.Write(Evaluate(line));
                Console.Out.Write('\n');
            }
            Console.Out.Flush();
            return 0;
        }

        private static string Evaluate(string line)
        {
            Dictionary<string, object> result = new Dictionary<string, object>();
            try
            {
                IDictionary<string, object> request = (IDictionary<string, object>)Json.Parse(line);
                int index = (int)(long)request["case"];
                IDictionary<string, object> row = (IDictionary<string, object>)request["row"];
                object value = Cases.All[index](row, (string)request["now"]);
                Marker marker = value as Marker;
                if (marker != null) result["marker"] = marker.Name;
                else result["value"] = Plain(value);
                return Json.Write(result);
            }
            catch (Exception error)
            {
                result.Clear();
                result["error"] = error.GetType().Name;
                result["message"] = error.Message;
            }
            return Json.Write(result);
        }

        /// <summary>A marker inside a list (RemoveDuplicates(IgnoreThisFlow())) as {"$marker": name}.</summary>
        private static object Plain(object value)
        {
            Marker marker = value as Marker;
            if (marker != null)
            {
                Dictionary<string, object> tag = new Dictionary<string, object>();
                tag["$marker"] = marker.Name;
                return tag;
            }
            List<object> list = value as List<object>;
            if (list == null) return value;
            List<object> plain = new List<object>();
            foreach (object item in list) plain.Add(Plain(item));
            return plain;
        }
    }
}
