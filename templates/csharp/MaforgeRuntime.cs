// maforge expression runtime for the MIM 2016 rules extension (.NET Framework 4.x).
//
// The flow expressions of a maforge spec compile to C# calls of F.<Name>(...) (see
// compiler/csharp/expressions.py). This file gives those functions their meaning. It is the
// twin of maforge's Python runtime (connectors/sync/functions.py): both must compute the same
// value for the same row, and tests/test_csharp_expressions.py checks that they do. Where
// Python and .NET would naturally differ, .NET's documented behaviour is the rule, because
// MIM runs this code.
//
// Values are objects: null (no value), string, long (MIM's Integer is Int64), double, bool,
// List<object> (a multi-valued attribute), or one of the markers F.Ignore and F.Clear.
// Written in C# 5 so that the csc of any .NET Framework 4.x and Mono's mcs compile it.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Maforge.Runtime
{
    /// <summary>A value an expression function cannot work with (a date that does not
    /// parse, a count that is not a number, ...). The Python runtime raises
    /// ExpressionValueError in exactly the same cases.</summary>
    public class ExpressionValueException : Exception
    {
        public ExpressionValueException(string message) : base(message) { }
    }

    /// <summary>IgnoreThisFlow() and AuthoritativeNull(): results that are not values.</summary>
    public sealed class Marker
    {
        private readonly string name;
        internal Marker(string name) { this.name = name; }
        public string Name { get { return name; } }
        public override string ToString() { return name; }
    }

    public static class F
    {
        /// <summary>IgnoreThisFlow(): leave the target as it is.</summary>
        public static readonly Marker Ignore = new Marker("IGNORE");
        /// <summary>AuthoritativeNull(): clear the target whatever else flows.</summary>
        public static readonly Marker Clear = new Marker("CLEAR");

        private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

        // ------------------------------------------------------------------ values

        /// <summary>Reads an attribute; a missing one is null.</summary>
        public static object Get(IDictionary<string, object> row, string name)
        {
            object value;
            return row != null && row.TryGetValue(name, out value) ? value : null;
        }

        /// <summary>No value, empty text or an empty list: what every "not present" means.</summary>
        public static bool IsEmpty(object value)
        {
            if (value == null) return true;
            string s = value as string;
            if (s != null) return s.Length == 0;
            List<object> list = value as List<object>;
            return list != null && list.Count == 0;
        }

        /// <summary>A value as text: integers invariant, doubles as FormatDouble, booleans
        /// true/false, lists joined with ';' (empty parts left out). null and markers: null.</summary>
        public static string Text(object value)
        {
            if (value == null || value is Marker) return null;
            string s = value as string;
            if (s != null) return s;
            if (value is bool) return (bool)value ? "true" : "false";
            if (value is long) return ((long)value).ToString(Inv);
            if (value is int) return ((int)value).ToString(Inv);
            if (value is double) return FormatDouble((double)value);
            List<object> list = value as List<object>;
            if (list != null)
            {
                StringBuilder sb = new StringBuilder();
                foreach (object item in list)
                {
                    string t = Text(item);
                    if (string.IsNullOrEmpty(t)) continue;
                    if (sb.Length > 0) sb.Append(';');
                    sb.Append(t);
                }
                return sb.ToString();
            }
            return Convert.ToString(value, Inv);
        }

        /// <summary>Double.ToString() of the .NET Framework: "G15" in the invariant culture
        /// (.NET Core 3.0+ switched to the shortest round-trip form, MIM does not run it).
        /// Negative zero is written "0" as the .NET Framework writes it. Spelled out here so
        /// that the result does not depend on the runtime's default.</summary>
        public static string FormatDouble(double value)
        {
            if (double.IsNaN(value)) return "NaN";
            if (double.IsPositiveInfinity(value)) return "Infinity";
            if (double.IsNegativeInfinity(value)) return "-Infinity";
            if (value == 0) return "0";
            return value.ToString("G15", Inv);
        }

        /// <summary>Text is false when, trimmed and in lower case, it is empty, "false", "0"
        /// or "no"; any other value is true when present.</summary>
        public static bool Truthy(object value)
        {
            if (value is bool) return (bool)value;
            string s = value as string;
            if (s != null)
            {
                string t = s.Trim().ToLowerInvariant();
                return !(t.Length == 0 || t == "false" || t == "0" || t == "no");
            }
            return !IsEmpty(value);
        }

        private static List<object> Values(object value)
        {
            if (value == null) return new List<object>();
            List<object> list = value as List<object>;
            return list != null ? new List<object>(list) : new List<object> { value };
        }

        // White space around a number, as NumberStyles.AllowLeadingWhite/AllowTrailingWhite
        // define it (U+0009-U+000D, U+0020); the symbols Infinity and NaN are not read,
        // because .NET versions spell and accept them differently.
        private static readonly Regex NumberText = new Regex(
            "^[\\t\\n\\v\\f\\r ]*([+-]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[\\t\\n\\v\\f\\r ]*$",
            RegexOptions.CultureInvariant);

        /// <summary>A value as a number (long or double), or null when it is not one. A text
        /// of digits within Int64 reads as a long. Booleans are not numbers.</summary>
        public static object Number(object value)
        {
            if (value is long || value is double) return value;
            if (value is int) return (long)(int)value;
            string s = value as string;
            if (s == null) return null;
            Match m = NumberText.Match(s);
            if (!m.Success || m.Index != 0 || m.Length != s.Length) return null;
            string core = m.Groups[1].Value;
            long whole;
            if (core.TrimStart('+', '-').Length > 0 && IsDigits(core.TrimStart('+', '-'))
                && long.TryParse(core, NumberStyles.AllowLeadingSign, Inv, out whole))
                return whole;
            double d;
            // .NET Framework throws OverflowException (TryParse: false) past Double.MaxValue.
            if (!double.TryParse(core, NumberStyles.Float, Inv, out d) || double.IsInfinity(d)) return null;
            return d;
        }

        private static bool IsDigits(string s)
        {
            foreach (char c in s) if (c < '0' || c > '9') return false;
            return true;
        }

        /// <summary>A count or position: a double is truncated toward zero; Int64 range.</summary>
        public static long CountOf(object value, string name)
        {
            object n = Number(value);
            if (n == null)
                throw new ExpressionValueException(string.Format("{0}: {1} is not a number", name, Describe(value)));
            if (n is long) return (long)n;
            double d = (double)n;
            if (double.IsNaN(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
                throw new ExpressionValueException(string.Format("{0}: {1} is not a finite number within the Int64 range", name, Describe(value)));
            return (long)Math.Truncate(d);
        }

        private static string Describe(object value)
        {
            if (value == null) return "no value";
            string s = value as string;
            if (s != null) return "'" + s + "'";
            return Text(value) ?? value.ToString();
        }

        private static int Clamp(long value)
        {
            return value > int.MaxValue ? int.MaxValue : value < int.MinValue ? int.MinValue : (int)value;
        }

        // ------------------------------------------------------------------ operators

        public static object Concat(object left, object right)
        {
            string s = (Text(left) ?? "") + (Text(right) ?? "");
            return s.Length == 0 ? null : s;
        }

        /// <summary>As numbers when both read as numbers (two longs exactly, else as doubles),
        /// otherwise as text in ordinal order (String.CompareOrdinal: UTF-16 code units).</summary>
        private static int Compare(object left, object right)
        {
            object a = Number(left), b = Number(right);
            if (a != null && b != null)
            {
                if (a is long && b is long) return ((long)a).CompareTo((long)b);
                double x = a is long ? (double)(long)a : (double)a;
                double y = b is long ? (double)(long)b : (double)b;
                return x < y ? -1 : x > y ? 1 : 0;
            }
            int c = string.CompareOrdinal(Text(left) ?? "", Text(right) ?? "");
            return c < 0 ? -1 : c > 0 ? 1 : 0;
        }

        public static bool Eq(object left, object right)
        {
            if (IsEmpty(left) && IsEmpty(right)) return true;
            return Compare(left, right) == 0;
        }

        public static bool Ne(object left, object right) { return !Eq(left, right); }
        public static bool Lt(object left, object right) { return Compare(left, right) < 0; }
        public static bool Le(object left, object right) { return Compare(left, right) <= 0; }
        public static bool Gt(object left, object right) { return Compare(left, right) > 0; }
        public static bool Ge(object left, object right) { return Compare(left, right) >= 0; }

        /// <summary>Minus a number; an integer stays Int64 and -(-2^63) overflows.</summary>
        public static object Neg(object value)
        {
            object n = Number(value);
            if (n == null)
                throw new ExpressionValueException(string.Format("cannot negate {0}: not a number", Describe(value)));
            if (n is double) return -(double)n;
            long l = (long)n;
            if (l == long.MinValue)
                throw new ExpressionValueException(string.Format("negation: {0} is outside the Int64 range of MIM's integers", "9223372036854775808"));
            return -l;
        }

        // ------------------------------------------------------------------ the catalogue

        public static object Coalesce(params object[] values)
        {
            foreach (object value in values)
                if (!IsEmpty(value)) return value;
            return null;
        }

        public static object IIF(bool condition, object whenTrue, object whenFalse)
        {
            // The generated code uses the conditional operator, so only one branch runs;
            // this overload is there for hand-written rules.
            return condition ? whenTrue : whenFalse;
        }

        public static object Switch(object value, object defaultValue, params object[] pairs)
        {
            string key = Text(value);
            for (int i = 0; i + 1 < pairs.Length; i += 2)
                if (string.Equals(Text(pairs[i]), key, StringComparison.Ordinal)) return pairs[i + 1];
            return defaultValue;
        }

        public static object Join(object separator, params object[] values)
        {
            List<string> parts = new List<string>();
            foreach (object v in values)
                foreach (object item in Values(v))
                {
                    string t = Text(item);
                    if (!string.IsNullOrEmpty(t)) parts.Add(t);
                }
            string s = string.Join(Text(separator) ?? "", parts.ToArray());
            return s.Length == 0 ? null : s;
        }

        /// <summary>Cut at every separator (";" when it is empty); pieces that are empty or
        /// only white space (Char.IsWhiteSpace) are dropped, the others kept as they are.</summary>
        public static object Split(object value, object separator)
        {
            if (IsEmpty(value)) return null;
            string sep = Text(separator);
            if (string.IsNullOrEmpty(sep)) sep = ";";
            List<object> result = new List<object>();
            foreach (string part in (Text(value) ?? "").Split(new string[] { sep }, StringSplitOptions.None))
                if (part.Trim().Length > 0) result.Add(part);
            return result;
        }

        /// <summary>String.Replace: ordinal, every occurrence; an empty find changes nothing
        /// (String.Replace itself throws on an empty oldValue).</summary>
        public static object Replace(object value, object find, object replacement)
        {
            string source = Text(value);
            if (source == null) return null;
            string wanted = Text(find);
            if (string.IsNullOrEmpty(wanted)) return source;
            return source.Replace(wanted, Text(replacement) ?? "");
        }

        /// <summary>Regex.Replace with the replacement's own $1, ${name}, $$, $&amp; ... The
        /// pattern must stay within the part of the language Python's re reads the same way
        /// (PortableRegex); a run away pattern stops after two seconds.</summary>
        public static object RegexReplace(object value, object pattern, object replacement)
        {
            string source = Text(value);
            if (source == null) return null;
            string translated = PortableRegex(Text(pattern) ?? "");
            Regex regex;
            try
            {
                regex = new Regex(translated, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(2));
            }
            catch (ArgumentException error)
            {
                throw new ExpressionValueException(string.Format("RegexReplace: bad regular expression '{0}': {1}", Text(pattern), error.Message));
            }
            try
            {
                return regex.Replace(source, Text(replacement) ?? "");
            }
            catch (RegexMatchTimeoutException)
            {
                throw new ExpressionValueException(string.Format("RegexReplace: '{0}' took too long", Text(pattern)));
            }
        }

        private const string Word = "[A-Za-z0-9_]";
        private const int MaxRepeat = 1000;
        private static readonly Regex Quantifier = new Regex("\\G\\{([0-9]{1,4})(,([0-9]{1,4})?)?\\}", RegexOptions.CultureInvariant);
        private static readonly Regex GroupName = new Regex("\\G[A-Za-z_][A-Za-z0-9_]{0,31}", RegexOptions.CultureInvariant);

        private static string OutsideEscape(char c)
        {
            switch (c)
            {
                case 'd': return "[0-9]";
                case 'D': return "[^0-9]";
                case 'w': return Word;
                case 'W': return "[^A-Za-z0-9_]";
                case 's': return "[\\t\\n\\x0b\\f\\r ]";
                case 'S': return "[^\\t\\n\\x0b\\f\\r ]";
                case 'b': return "(?:(?<=" + Word + ")(?!" + Word + ")|(?<!" + Word + ")(?=" + Word + "))";
                case 'B': return "(?:(?<=" + Word + ")(?=" + Word + ")|(?<!" + Word + ")(?!" + Word + "))";
                case 'A': return "\\A";
                case 'z': return "\\z";
                case 't': return "\\t";
                case 'n': return "\\n";
                case 'r': return "\\r";
                case 'f': return "\\f";
                case 'v': return "\\x0b";
                default: return null;
            }
        }

        private static bool IsAsciiPunctuation(char c)
        {
            return c < 128 && !char.IsLetterOrDigit(c) && c != '_';
        }

        private static ExpressionValueException Refuse(string pattern, string why)
        {
            return new ExpressionValueException(string.Format(
                "RegexReplace: '{0}' {1}; maforge accepts the part of the .NET regex language Python means the same by (docs/expressions.md)", pattern, why));
        }

        /// <summary>Why a subset: .NET's \d, \w, \s and \b are Unicode-wide and Python's differ
        /// in detail, so they are written out in ASCII; inline options, lookbehind, \p{..},
        /// class subtraction, \k and \Z read differently or not at all in Python, and .NET
        /// numbers named groups after unnamed ones, so mixing them is refused. The Python
        /// runtime's portable_regex makes exactly the same decisions.</summary>
        public static string PortableRegex(string pattern)
        {
            StringBuilder o = new StringBuilder();
            List<string> names = new List<string>();
            int unnamed = 0, i = 0, n = pattern.Length;
            bool quantified = false, lazy = false;
            while (i < n)
            {
                char ch = pattern[i];
                if ((ch == '*' || ch == '+' || ch == '?' || ch == '{') && quantified)
                {
                    if (ch == '?' && !lazy) { o.Append('?'); lazy = true; i++; continue; }
                    throw Refuse(pattern, "puts a quantifier on a quantifier (possessive or nested)");
                }
                quantified = ch == '*' || ch == '+' || ch == '?';
                lazy = false;
                if (quantified) { o.Append(ch); i++; continue; }
                if (ch == '\\')
                {
                    if (i + 1 >= n) throw Refuse(pattern, "ends with a lone backslash");
                    char next = pattern[i + 1];
                    string escape = OutsideEscape(next);
                    if (escape != null) o.Append(escape);
                    else if (next >= '1' && next <= '9') o.Append("(?:\\").Append(next).Append(')');
                    else if (IsAsciiPunctuation(next)) o.Append('\\').Append(next);
                    else throw Refuse(pattern, "uses \\" + next);
                    i += 2;
                }
                else if (ch == '[')
                {
                    i = CharacterClass(pattern, i, o);
                }
                else if (ch == '(')
                {
                    if (string.CompareOrdinal(pattern, i, "(?:", 0, 3) == 0 || string.CompareOrdinal(pattern, i, "(?=", 0, 3) == 0
                        || string.CompareOrdinal(pattern, i, "(?!", 0, 3) == 0)
                    {
                        o.Append(pattern, i, 3);
                        i += 3;
                    }
                    else if (string.CompareOrdinal(pattern, i, "(?<", 0, 3) == 0 && string.CompareOrdinal(pattern, i, "(?<=", 0, 4) != 0
                        && string.CompareOrdinal(pattern, i, "(?<!", 0, 4) != 0)
                    {
                        Match m = GroupName.Match(pattern, i + 3);
                        int end = m.Success ? m.Index + m.Length : -1;
                        if (!m.Success || end >= n || pattern[end] != '>' || names.Contains(m.Value))
                            throw Refuse(pattern, "has a group name maforge does not accept");
                        names.Add(m.Value);
                        o.Append("(?<").Append(m.Value).Append('>');
                        i = end + 1;
                    }
                    else if (string.CompareOrdinal(pattern, i, "(?", 0, 2) == 0)
                    {
                        throw Refuse(pattern, "uses the construct '" + pattern.Substring(i, Math.Min(3, n - i)) + "'");
                    }
                    else
                    {
                        unnamed++;
                        o.Append('(');
                        i++;
                    }
                }
                else if (ch == '{')
                {
                    Match m = Quantifier.Match(pattern, i);
                    if (!m.Success || o.Length == 0 || int.Parse(m.Groups[1].Value, Inv) > MaxRepeat
                        || (m.Groups[3].Success && int.Parse(m.Groups[3].Value, Inv) > MaxRepeat))
                        throw Refuse(pattern, "has a { that is not a quantifier {n}, {n,} or {n,m} with n, m up to 1000 (write \\{ for the character)");
                    if (m.Groups[3].Success && int.Parse(m.Groups[3].Value, Inv) < int.Parse(m.Groups[1].Value, Inv))
                        throw Refuse(pattern, "has a quantifier {n,m} with m below n");
                    o.Append(m.Value);
                    i += m.Length;
                    quantified = true;
                }
                else if (ch == '}' || ch == ']')
                {
                    throw Refuse(pattern, "has an unescaped " + ch + " (write \\" + ch + ")");
                }
                else
                {
                    o.Append(ch);
                    i++;
                }
            }
            if (names.Count > 0 && unnamed > 0)
                throw Refuse(pattern, "mixes named and numbered groups (.NET numbers named groups last)");
            return o.ToString();
        }

        private static int CharacterClass(string pattern, int start, StringBuilder o)
        {
            int i = start + 1;
            o.Append('[');
            if (i < pattern.Length && pattern[i] == '^') { o.Append('^'); i++; }
            bool first = true;
            while (i < pattern.Length)
            {
                char ch = pattern[i];
                if (ch == ']' && !first) { o.Append(']'); return i + 1; }
                if (ch == '[' || ch == ']') throw Refuse(pattern, "has " + ch + " inside a character class (write \\" + ch + ")");
                if (ch == '-' && i + 1 < pattern.Length && pattern[i + 1] == '[') throw Refuse(pattern, "uses class subtraction");
                if (ch == '\\')
                {
                    char next = i + 1 < pattern.Length ? pattern[i + 1] : '\0';
                    if (next == 'd') o.Append("0-9");
                    else if (next == 'w') o.Append("A-Za-z0-9_");
                    else if (next == 's') o.Append("\\t\\n\\x0b\\f\\r ");
                    else if (next == 't' || next == 'n' || next == 'r' || next == 'f') o.Append('\\').Append(next);
                    else if (next == 'v') o.Append("\\x0b");
                    else if (next != '\0' && IsAsciiPunctuation(next)) o.Append('\\').Append(next);
                    else throw Refuse(pattern, "uses \\" + (next == '\0' ? "" : next.ToString()) + " inside a character class");
                    i += 2;
                }
                else
                {
                    if (ch == '&' || ch == '~' || ch == '|') o.Append('\\');
                    o.Append(ch);
                    i++;
                }
                first = false;
            }
            throw Refuse(pattern, "has a character class that is never closed");
        }

        /// <summary>MIM's Left: a count of 0 gives no value, a negative count the whole input.
        /// Counts UTF-16 code units, as String.Substring does.</summary>
        public static object Left(object value, object count)
        {
            string source = Text(value);
            if (source == null) return null;
            long n = CountOf(count, "Left");
            if (n < 0) return source;
            string s = source.Substring(0, Clamp(Math.Min(n, source.Length)));
            return s.Length == 0 ? null : s;
        }

        /// <summary>MIM's Mid: a start before 1 or past the end gives the whole input; a count of
        /// 0 or less gives no value; a count past the end gives what remains.</summary>
        public static object Mid(object value, object start, object count)
        {
            string source = Text(value);
            if (source == null) return null;
            long begin = CountOf(start, "Mid"), n = CountOf(count, "Mid");
            if (begin <= 0 || begin > source.Length) return source;
            if (n <= 0) return null;
            int from = (int)begin - 1;
            string s = source.Substring(from, Clamp(Math.Min(n, source.Length - from)));
            return s.Length == 0 ? null : s;
        }

        /// <summary>MIM's Right: a count of 0 gives no value, a negative count the whole input.</summary>
        public static object Right(object value, object count)
        {
            string source = Text(value);
            if (source == null) return null;
            long n = CountOf(count, "Right");
            if (n < 0) return source;
            if (n == 0) return null;
            int take = Clamp(Math.Min(n, source.Length));
            string s = source.Substring(source.Length - take);
            return s.Length == 0 ? null : s;
        }

        /// <summary>String.Trim(): since .NET Framework 4 it trims every Char.IsWhiteSpace
        /// character (Python's strip() also trims U+001C-U+001F).</summary>
        public static object Trim(object value)
        {
            string source = Text(value);
            if (source == null) return null;
            string s = source.Trim();
            return s.Length == 0 ? null : s;
        }

        /// <summary>ToLowerInvariant: one character to one, no Turkish İ/ı pairs.</summary>
        public static object ToLower(object value)
        {
            string source = Text(value);
            return source == null ? null : source.ToLowerInvariant();
        }

        /// <summary>ToUpperInvariant: one character to one, so "ß" stays "ß" (Python: "SS").</summary>
        public static object ToUpper(object value)
        {
            string source = Text(value);
            return source == null ? null : source.ToUpperInvariant();
        }

        /// <summary>MIM's ProperCase: each space-delimited word gets its first letter
        /// (Char.IsLetter) in upper case and everything else in lower case.</summary>
        public static object PCase(object value)
        {
            string source = Text(value);
            if (source == null) return null;
            string[] words = source.Split(' ');
            for (int w = 0; w < words.Length; w++)
            {
                char[] chars = words[w].ToLowerInvariant().ToCharArray();
                for (int i = 0; i < chars.Length; i++)
                {
                    if (char.IsLetter(chars[i])) { chars[i] = char.ToUpperInvariant(chars[i]); break; }
                }
                words[w] = new string(chars);
            }
            return string.Join(" ", words);
        }

        private static readonly string[,] DiacriticFolds = {
            { "ø", "o" }, { "Ø", "O" }, { "æ", "ae" }, { "Æ", "AE" }, { "ß", "ss" }, { "đ", "d" }, { "Đ", "D" },
            { "ł", "l" }, { "Ł", "L" }, { "þ", "th" }, { "Þ", "Th" }, { "œ", "oe" }, { "Œ", "OE" } };

        /// <summary>Fold the letters NFKD leaves alone, decompose with
        /// String.Normalize(NormalizationForm.FormKD) and drop UnicodeCategory.NonSpacingMark.
        /// Normalize throws ArgumentException for a lone surrogate on the .NET Framework; the
        /// check is explicit so that every runtime refuses it the same way.</summary>
        public static object NormalizeDiacritics(object value)
        {
            string source = Text(value);
            if (source == null) return null;
            for (int i = 0; i < source.Length; i++)
            {
                char c = source[i];
                bool pair = char.IsHighSurrogate(c) && i + 1 < source.Length && char.IsLowSurrogate(source[i + 1]);
                if (pair) { i++; continue; }
                if (char.IsSurrogate(c))
                    throw new ExpressionValueException(string.Format("NormalizeDiacritics: '{0}' holds half a surrogate pair, which is not Unicode text", source));
            }
            StringBuilder folded = new StringBuilder(source);
            for (int f = 0; f < DiacriticFolds.GetLength(0); f++) folded.Replace(DiacriticFolds[f, 0], DiacriticFolds[f, 1]);
            string decomposed = folded.ToString().Normalize(NormalizationForm.FormKD);
            StringBuilder o = new StringBuilder(decomposed.Length);
            for (int i = 0; i < decomposed.Length; i++)
            {
                if (char.IsHighSurrogate(decomposed[i]) && i + 1 < decomposed.Length && char.IsLowSurrogate(decomposed[i + 1]))
                {
                    if (CharUnicodeInfo.GetUnicodeCategory(decomposed, i) != UnicodeCategory.NonSpacingMark)
                        o.Append(decomposed, i, 2);
                    i++;
                    continue;
                }
                if (CharUnicodeInfo.GetUnicodeCategory(decomposed[i]) != UnicodeCategory.NonSpacingMark) o.Append(decomposed[i]);
            }
            return o.ToString();
        }

        // ------------------------------------------------------------------ dates

        private static readonly string[] DateTokens = { "yyyy", "yy", "MM", "M", "dd", "d", "HH", "H", "hh", "h", "mm", "m", "ss", "s", "fff", "ff", "f", "tt" };
        private const string DateLiterals = " -./:,_T";

        /// <summary>The custom format specifiers maforge accepts. One-letter (standard)
        /// formats, names of days and months, time zones (z, K read the machine's zone) and
        /// quoting are refused so that DateTime.ParseExact/ToString and the Python runtime
        /// read and write alike.</summary>
        private static List<string> DateFormat(string pattern)
        {
            if (pattern.Length < 2)
                throw new ExpressionValueException(string.Format("FormatDateTime: '{0}' is a standard .NET format or empty; write a custom pattern such as yyyy-MM-dd", pattern));
            List<string> tokens = new List<string>();
            int i = 0;
            while (i < pattern.Length)
            {
                string found = null;
                foreach (string token in DateTokens)
                    if (string.CompareOrdinal(pattern, i, token, 0, token.Length) == 0 && i + token.Length <= pattern.Length) { found = token; break; }
                if (found == null)
                {
                    if (DateLiterals.IndexOf(pattern[i]) < 0)
                        throw new ExpressionValueException(string.Format("FormatDateTime: '{0}' uses '{1}'; maforge accepts {2} and the characters '{3}'", pattern, pattern[i], string.Join(", ", DateTokens), " ,-./:T_"));
                    found = pattern[i].ToString();
                }
                tokens.Add(found);
                i += found.Length;
                if (i < pattern.Length && found.Length > 0 && Array.IndexOf(DateTokens, found) >= 0 && pattern[i] == found[0])
                    throw new ExpressionValueException(string.Format("FormatDateTime: '{0}' repeats a letter more times than a specifier takes", pattern));
            }
            return tokens;
        }

        /// <summary>DateTime.ParseExact(value, inputFormat, InvariantCulture) and
        /// ToString(outputFormat, InvariantCulture), within the accepted specifiers.</summary>
        public static object FormatDateTime(object value, object inputFormat, object outputFormat)
        {
            string source = Text(value);
            if (string.IsNullOrEmpty(source)) return null;
            string inPattern = Text(inputFormat) ?? "", outPattern = Text(outputFormat) ?? "";
            List<string> reading = DateFormat(inPattern);
            DateFormat(outPattern);
            if (reading.Contains("h") || reading.Contains("hh") || reading.Contains("tt"))
                throw new ExpressionValueException(string.Format("FormatDateTime: read times with HH (0-23), not h or tt: '{0}'", inPattern));
            DateTime moment;
            if (!DateTime.TryParseExact(source, inPattern, Inv, DateTimeStyles.None, out moment))
                throw new ExpressionValueException(string.Format("FormatDateTime: '{0}' does not match the format '{1}'", source, inPattern));
            return moment.ToString(outPattern, Inv);
        }

        private static readonly Regex Iso = new Regex(
            "^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\\.([0-9]{1,6}))?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?$",
            RegexOptions.CultureInvariant);

        private static ExpressionValueException NotADate(string source, object count, object interval)
        {
            string c = Text(count) ?? "";
            return new ExpressionValueException(string.Format("DateAdd: '{0}' moved by {1} {2} is not a date (outside the years 1 to 9999)",
                source, c.Length > 30 ? c.Substring(0, 30) : c, Text(interval)));
        }

        /// <summary>DateTime.AddYears/AddMonths/AddDays/... on an ISO 8601 date
        /// (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM[:SS[.ffffff]] with Z or ±HH:MM kept as
        /// written). AddMonths and AddYears clamp to the last day of the month: 2024-01-31
        /// plus one month is 2024-02-29 (Python's date arithmetic raises instead).</summary>
        public static object DateAdd(object interval, object count, object date)
        {
            string source = Text(date);
            if (string.IsNullOrEmpty(source)) return null;
            Match m = Iso.Match(source);
            DateTime moment;
            string zone = null;
            bool dateOnly;
            try
            {
                if (!m.Success || m.Length != source.Length) throw new FormatException();
                dateOnly = !m.Groups[4].Success;
                zone = m.Groups[8].Success ? m.Groups[8].Value : null;
                if (zone != null && zone != "Z" && (int.Parse(zone.Substring(1, 2), Inv) > 23 || int.Parse(zone.Substring(4, 2), Inv) > 59))
                    throw new FormatException();
                moment = new DateTime(int.Parse(m.Groups[1].Value, Inv), int.Parse(m.Groups[2].Value, Inv), int.Parse(m.Groups[3].Value, Inv),
                    dateOnly ? 0 : int.Parse(m.Groups[4].Value, Inv), dateOnly ? 0 : int.Parse(m.Groups[5].Value, Inv),
                    m.Groups[6].Success ? int.Parse(m.Groups[6].Value, Inv) : 0);
                if (m.Groups[7].Success) moment = moment.AddTicks(long.Parse(m.Groups[7].Value.PadRight(6, '0'), Inv) * 10);
            }
            catch (Exception error)
            {
                if (!(error is FormatException || error is ArgumentOutOfRangeException)) throw;
                throw new ExpressionValueException(string.Format("DateAdd: '{0}' is not an ISO 8601 date or date-time", source));
            }
            long n = CountOf(count, "DateAdd");
            string unit = (Text(interval) ?? "").ToLowerInvariant();
            try
            {
                switch (unit)
                {
                    case "yyyy":
                    case "y":
                        if (n < -10000 || n > 10000) throw NotADate(source, count, interval);
                        moment = moment.AddMonths((int)n * 12);
                        break;
                    case "m":
                        if (n < -120000 || n > 120000) throw NotADate(source, count, interval);
                        moment = moment.AddMonths((int)n);
                        break;
                    case "d": moment = AddSeconds(moment, n, 86400, source, count, interval); break;
                    case "h": moment = AddSeconds(moment, n, 3600, source, count, interval); break;
                    case "n": moment = AddSeconds(moment, n, 60, source, count, interval); break;
                    case "s": moment = AddSeconds(moment, n, 1, source, count, interval); break;
                    default:
                        throw new ExpressionValueException(string.Format("DateAdd: unknown interval '{0}' (yyyy, m, d, h, n, s)", Text(interval)));
                }
            }
            catch (ArgumentOutOfRangeException)
            {
                throw NotADate(source, count, interval);
            }
            if (dateOnly) return moment.ToString("yyyy-MM-dd", Inv);
            string written = moment.ToString("yyyy-MM-dd'T'HH:mm:ss", Inv);
            long micro = (moment.Ticks % TimeSpan.TicksPerSecond) / 10;
            if (micro != 0) written += "." + micro.ToString("D6", Inv);  // as Python's isoformat()
            return written + (zone ?? "");
        }

        private const long MaxSeconds = 3652059L * 86400L;  // DateTime.MinValue to MaxValue

        private static DateTime AddSeconds(DateTime moment, long n, long unit, string source, object count, object interval)
        {
            if (n > MaxSeconds / unit || n < -(MaxSeconds / unit)) throw NotADate(source, count, interval);
            return moment.AddTicks(n * unit * TimeSpan.TicksPerSecond);
        }

        /// <summary>The run's fixed clock; the generated code reads `now` directly.</summary>
        public static object Now(string now) { return now; }

        // ------------------------------------------------------------------ multi-valued

        public static object Item(object values, object index)
        {
            List<object> items = Values(values);
            long position = CountOf(index, "Item");
            return position >= 1 && position <= items.Count ? items[(int)position - 1] : null;
        }

        public static object Count(object values)
        {
            long n = 0;
            foreach (object v in Values(values)) if (!IsEmpty(v)) n++;
            return n;
        }

        /// <summary>Object.Equals: the type counts (1, 1.0, "1" and true are four values) and
        /// text compares ordinally, case and all; lists compare item by item.</summary>
        public static bool SameValue(object a, object b)
        {
            if (a == null || b == null) return a == null && b == null;
            List<object> x = a as List<object>, y = b as List<object>;
            if (x != null || y != null)
            {
                if (x == null || y == null || x.Count != y.Count) return false;
                for (int i = 0; i < x.Count; i++) if (!SameValue(x[i], y[i])) return false;
                return true;
            }
            return a.Equals(b);
        }

        public static object RemoveDuplicates(object values)
        {
            List<object> items = Values(values);
            if (items.Count == 0) return null;
            List<object> kept = new List<object>();
            foreach (object item in items)
            {
                bool seen = false;
                foreach (object k in kept) if (SameValue(k, item)) { seen = true; break; }
                if (!seen) kept.Add(item);
            }
            return kept;
        }

        public static object IsPresent(object value) { return !IsEmpty(value); }
        public static object IsNullOrEmpty(object value) { return IsEmpty(value); }
        public static object CStr(object value) { return Text(value); }
        public static object IgnoreThisFlow() { return Ignore; }
        public static object AuthoritativeNull() { return Clear; }
    }
}
