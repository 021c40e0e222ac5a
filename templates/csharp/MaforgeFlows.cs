// maforge rules-extension runtime: moving values between MIM's entries and flow expressions.
// Copied verbatim into every generated rules extension; do not edit (maforge writes it again).
//
// A flow expression sees a row: attribute name -> value, where a value is null (absent), a
// string, a long, a bool or a List<object> (a multi-valued attribute), exactly as maforge's
// Python runtime sees a metaverse object. What the expression gives is written back with the
// same rules `maforge plan` applies (planner.desired_value), mapped onto MIM's own operations
// on Attrib (one table, two implementations):
//
//   result                         whenNull: skip            whenNull: clear
//   IgnoreThisFlow()               DeclineMappingException   DeclineMappingException
//   AuthoritativeNull()            Attrib.Delete()           Attrib.Delete()
//   no value (null, "", [] ...)    DeclineMappingException   Attrib.Delete()
//   a value                        Attrib.Value / .Values    Attrib.Value / .Values
//
// DeclineMappingException is MIM's documented way for a flow to contribute nothing: the target
// keeps its value and, on import, precedence moves on to the next source (ff771971). Delete()
// removes the value (ms694627).
using System;
using System.Collections.Generic;
using System.Globalization;
using Microsoft.MetadirectoryServices;

namespace Maforge.Runtime
{
    /// <summary>What a flow does when its expression gives no value.</summary>
    public enum WhenNull
    {
        /// <summary>Leave the target as it is (MIM: "Allow nulls" unticked).</summary>
        Skip,
        /// <summary>Delete the target's value (MIM: "Allow nulls" ticked).</summary>
        Clear
    }

    /// <summary>Reading entries into rows and writing flow results back.</summary>
    public static class Flows
    {
        /// <summary>The run's fixed clock for Now(), in ISO 8601 UTC as the Python runtime has it:
        /// taken once when MIM initialises the extension, so one run sees one time.</summary>
        public static string Now()
        {
            return DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        }

        /// <summary>The named attributes of a metaverse object (the flow's source attributes).</summary>
        public static IDictionary<string, object> Read(MVEntry entry, params string[] names)
        {
            return Read(delegate(string name) { return entry[name]; }, names);
        }

        /// <summary>The named attributes of a connector space object.</summary>
        public static IDictionary<string, object> Read(CSEntry entry, params string[] names)
        {
            return Read(delegate(string name) { return entry[name]; }, names);
        }

        private static IDictionary<string, object> Read(Func<string, Attrib> attribute, string[] names)
        {
            Dictionary<string, object> row = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);
            foreach (string name in names)
            {
                object value = ValueOf(attribute(name));
                if (value != null)
                {
                    row[name] = value;
                }
            }
            return row;
        }

        /// <summary>An attribute as a row value: null when absent, a list when multi-valued.</summary>
        public static object ValueOf(Attrib attribute)
        {
            if (!attribute.IsPresent)
            {
                return null;
            }
            if (attribute.IsMultivalued)
            {
                List<object> values = new List<object>();
                foreach (Value value in attribute.Values)
                {
                    values.Add(ItemOf(value, attribute.DataType));
                }
                return values;
            }
            switch (attribute.DataType)
            {
                case AttributeType.Integer:
                    return attribute.IntegerValue;
                case AttributeType.Boolean:
                    return attribute.BooleanValue;
                case AttributeType.Binary:
                    return Convert.ToBase64String(attribute.BinaryValue);
                case AttributeType.Reference:
                    return attribute.ReferenceValue.ToString();
                default:
                    return attribute.StringValue;
            }
        }

        private static object ItemOf(Value value, AttributeType type)
        {
            switch (type)
            {
                case AttributeType.Integer:
                    return value.ToInteger();
                case AttributeType.Boolean:
                    return value.ToBoolean();
                case AttributeType.Binary:
                    return Convert.ToBase64String(value.ToBinary());
                default:
                    return value.ToString();
            }
        }

        /// <summary>Write one flow's result to its target, by the table at the top of this file.</summary>
        public static void Write(Attrib target, object result, WhenNull whenNull, ManagementAgent ma)
        {
            if (object.ReferenceEquals(result, F.Ignore))
            {
                throw new DeclineMappingException();
            }
            if (object.ReferenceEquals(result, F.Clear))
            {
                target.Delete();
                return;
            }
            List<string> texts = Texts(result, target.IsMultivalued);
            if (texts.Count == 0)
            {
                if (whenNull == WhenNull.Clear)
                {
                    target.Delete();
                    return;
                }
                throw new DeclineMappingException();
            }
            if (target.IsMultivalued)
            {
                // A new collection replaces every value: MIM works out the value adds and deletes.
                target.Values = Collection(texts, target.DataType, target.Name);
                return;
            }
            SetTyped(target, texts[0], ma);
        }

        /// <summary>A result as the texts a target receives, as the Python runtime shapes them
        /// (planner.normalise): one text for a single-valued target (a list joined with ';'),
        /// the distinct non-empty texts in order for a multi-valued one.</summary>
        public static List<string> Texts(object result, bool multiValued)
        {
            List<string> texts = new List<string>();
            if (!multiValued)
            {
                string text = F.Text(result);
                if (!string.IsNullOrEmpty(text))
                {
                    texts.Add(text);
                }
                return texts;
            }
            List<object> items = result as List<object>;
            if (items == null)
            {
                items = new List<object>();
                if (result != null)
                {
                    items.Add(result);
                }
            }
            HashSet<string> seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (object item in items)
            {
                string text = F.Text(item);
                if (!string.IsNullOrEmpty(text) && seen.Add(text))
                {
                    texts.Add(text);
                }
            }
            return texts;
        }

        private static void SetTyped(Attrib target, string text, ManagementAgent ma)
        {
            switch (target.DataType)
            {
                case AttributeType.Integer:
                    target.IntegerValue = ParseInteger(text, target.Name);
                    return;
                case AttributeType.Boolean:
                    target.BooleanValue = ParseBoolean(text, target.Name);
                    return;
                case AttributeType.Binary:
                    target.BinaryValue = ParseBinary(text, target.Name);
                    return;
                case AttributeType.Reference:
                    if (ma == null)
                    {
                        // A metaverse reference is the engine's to set, from a connector's
                        // reference attribute; a rules extension can only name a DN in the
                        // connector space (ManagementAgent.CreateDN, ms696729).
                        throw new UnexpectedDataException(string.Format(CultureInfo.InvariantCulture, "{0}: a metaverse reference cannot come from an expression; flow it from a reference attribute", target.Name));
                    }
                    target.ReferenceValue = ma.CreateDN(text);
                    return;
                default:
                    target.Value = text;
                    return;
            }
        }

        private static ValueCollection Collection(List<string> texts, AttributeType type, string name)
        {
            if (type == AttributeType.Integer)
            {
                long[] numbers = new long[texts.Count];
                for (int i = 0; i < texts.Count; i++)
                {
                    numbers[i] = ParseInteger(texts[i], name);
                }
                return Utils.ValueCollection(numbers);
            }
            if (type == AttributeType.Binary)
            {
                byte[][] blobs = new byte[texts.Count][];
                for (int i = 0; i < texts.Count; i++)
                {
                    blobs[i] = ParseBinary(texts[i], name);
                }
                return Utils.ValueCollection(blobs);
            }
            return Utils.ValueCollection(texts.ToArray());
        }

        private static long ParseInteger(string text, string name)
        {
            long number;
            if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out number))
            {
                throw new UnexpectedDataException(string.Format(CultureInfo.InvariantCulture, "{0}: \"{1}\" is not an integer", name, text));
            }
            return number;
        }

        private static bool ParseBoolean(string text, string name)
        {
            if (string.Equals(text, "true", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
            if (string.Equals(text, "false", StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }
            throw new UnexpectedDataException(string.Format(CultureInfo.InvariantCulture, "{0}: \"{1}\" is not true or false", name, text));
        }

        private static byte[] ParseBinary(string text, string name)
        {
            try
            {
                return Convert.FromBase64String(text);
            }
            catch (FormatException)
            {
                throw new UnexpectedDataException(string.Format(CultureInfo.InvariantCulture, "{0}: binary values are written in base 64", name));
            }
        }

        /// <summary>The join values a scripted join mapping gives MIM: every value of the result,
        /// any of which may match (MapAttributesForJoin, ff771065). No value, IgnoreThisFlow()
        /// and AuthoritativeNull() give none, so the object joins nothing by this rule.</summary>
        public static void AddJoinValues(ValueCollection values, object result)
        {
            if (result == null || object.ReferenceEquals(result, F.Ignore) || object.ReferenceEquals(result, F.Clear))
            {
                return;
            }
            foreach (string text in Texts(result, true))
            {
                values.Add(text);
            }
        }
    }
}
