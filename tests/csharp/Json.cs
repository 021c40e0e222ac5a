// A small JSON reader and writer for the test hosts, so that they need nothing beyond
// mscorlib (no System.Web.Extensions, no Newtonsoft: CI's Mono is only mono-runtime and
// mono-mcs). Integers read as long, other numbers as double, arrays as List<object>, objects
// as Dictionary<string, object>. The writer escapes everything outside printable ASCII, so
// the output is the same bytes whatever the console encoding, and writes doubles so that they
// read back as the same double and stay doubles (1.0, not 1).
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Maforge.Tests
{
    public class JsonException : Exception
    {
        public JsonException(string message) : base(message) { }
    }

    public static class Json
    {
        public static object Parse(string text)
        {
            int i = 0;
            object value = ReadValue(text, ref i);
            SkipSpace(text, ref i);
            if (i != text.Length) throw new JsonException("text after the JSON value at " + i);
            return value;
        }

        private static void SkipSpace(string s, ref int i)
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
        }

        private static object ReadValue(string s, ref int i)
        {
            SkipSpace(s, ref i);
            if (i >= s.Length) throw new JsonException("unexpected end of JSON");
            char c = s[i];
            if (c == '{') return ReadObject(s, ref i);
            if (c == '[') return ReadArray(s, ref i);
            if (c == '"') return ReadString(s, ref i);
            if (Word(s, ref i, "null")) return null;
            if (Word(s, ref i, "true")) return true;
            if (Word(s, ref i, "false")) return false;
            if (Word(s, ref i, "NaN")) return double.NaN;
            if (Word(s, ref i, "Infinity")) return double.PositiveInfinity;
            if (Word(s, ref i, "-Infinity")) return double.NegativeInfinity;
            return ReadNumber(s, ref i);
        }

        private static bool Word(string s, ref int i, string word)
        {
            if (string.CompareOrdinal(s, i, word, 0, word.Length) != 0 || i + word.Length > s.Length) return false;
            i += word.Length;
            return true;
        }

        private static object ReadNumber(string s, ref int i)
        {
            int start = i;
            bool integral = true;
            while (i < s.Length && "+-0123456789.eE".IndexOf(s[i]) >= 0)
            {
                if (s[i] == '.' || s[i] == 'e' || s[i] == 'E') integral = false;
                i++;
            }
            string text = s.Substring(start, i - start);
            if (text.Length == 0) throw new JsonException("unexpected character at " + start);
            if (integral)
            {
                long l;
                if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l))
                    throw new JsonException("integer outside Int64: " + text);
                return l;
            }
            return double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
        }

        private static string ReadString(string s, ref int i)
        {
            StringBuilder sb = new StringBuilder();
            i++;
            while (true)
            {
                if (i >= s.Length) throw new JsonException("unterminated string");
                char c = s[i++];
                if (c == '"') return sb.ToString();
                if (c != '\\') { sb.Append(c); continue; }
                char e = s[i++];
                switch (e)
                {
                    case '"': sb.Append('"'); break;
                    case '\\': sb.Append('\\'); break;
                    case '/': sb.Append('/'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'u':
                        sb.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 4;
                        break;
                    default: throw new JsonException("bad escape \\" + e);
                }
            }
        }

        private static List<object> ReadArray(string s, ref int i)
        {
            List<object> list = new List<object>();
            i++;
            SkipSpace(s, ref i);
            if (i < s.Length && s[i] == ']') { i++; return list; }
            while (true)
            {
                list.Add(ReadValue(s, ref i));
                SkipSpace(s, ref i);
                if (i >= s.Length) throw new JsonException("unterminated array");
                char c = s[i++];
                if (c == ']') return list;
                if (c != ',') throw new JsonException("expected , or ] at " + (i - 1));
            }
        }

        private static Dictionary<string, object> ReadObject(string s, ref int i)
        {
            Dictionary<string, object> map = new Dictionary<string, object>();
            i++;
            SkipSpace(s, ref i);
            if (i < s.Length && s[i] == '}') { i++; return map; }
            while (true)
            {
                SkipSpace(s, ref i);
                if (i >= s.Length || s[i] != '"') throw new JsonException("expected a key at " + i);
                string key = ReadString(s, ref i);
                SkipSpace(s, ref i);
                if (i >= s.Length || s[i++] != ':') throw new JsonException("expected : at " + (i - 1));
                map[key] = ReadValue(s, ref i);
                SkipSpace(s, ref i);
                if (i >= s.Length) throw new JsonException("unterminated object");
                char c = s[i++];
                if (c == '}') return map;
                if (c != ',') throw new JsonException("expected , or } at " + (i - 1));
            }
        }

        public static string Write(object value)
        {
            StringBuilder sb = new StringBuilder();
            Write(sb, value);
            return sb.ToString();
        }

        public static void Write(StringBuilder sb, object value)
        {
            if (value == null) { sb.Append("null"); return; }
            string s = value as string;
            if (s != null) { WriteString(sb, s); return; }
            if (value is bool) { sb.Append((bool)value ? "true" : "false"); return; }
            if (value is long || value is int) { sb.Append(Convert.ToString(value, CultureInfo.InvariantCulture)); return; }
            if (value is double) { WriteDouble(sb, (double)value); return; }
            IDictionary<string, object> map = value as IDictionary<string, object>;
            if (map != null)
            {
                sb.Append('{');
                bool first = true;
                foreach (KeyValuePair<string, object> pair in map)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    WriteString(sb, pair.Key);
                    sb.Append(':');
                    Write(sb, pair.Value);
                }
                sb.Append('}');
                return;
            }
            System.Collections.IEnumerable items = value as System.Collections.IEnumerable;
            if (items != null)
            {
                sb.Append('[');
                bool first = true;
                foreach (object item in items)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    Write(sb, item);
                }
                sb.Append(']');
                return;
            }
            throw new JsonException("cannot write a " + value.GetType().FullName + " as JSON");
        }

        private static void WriteDouble(StringBuilder sb, double d)
        {
            if (double.IsNaN(d)) { sb.Append("NaN"); return; }
            if (double.IsPositiveInfinity(d)) { sb.Append("Infinity"); return; }
            if (double.IsNegativeInfinity(d)) { sb.Append("-Infinity"); return; }
            // G17 always reads back as the same double; ".0" keeps an integral double a double.
            string text = d.ToString("G17", CultureInfo.InvariantCulture);
            if (text.IndexOf('.') < 0 && text.IndexOf('E') < 0) text += ".0";
            sb.Append(text);
        }

        private static void WriteString(StringBuilder sb, string s)
        {
            sb.Append('"');
            foreach (char c in s)
            {
                if (c == '"') sb.Append("\\\"");
                else if (c == '\\') sb.Append("\\\\");
                else if (c >= 0x20 && c < 0x7F) sb.Append(c);
                else sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            }
            sb.Append('"');
        }
    }
}
