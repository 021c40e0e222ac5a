// In-memory test doubles for the Microsoft.MetadirectoryServices stub (namespace Maforge.TestHost).
//
// Build it as a library named MmsTestHost (the stub grants this assembly, and only it, access to its
// internal Utils backend):
//   mcs -target:library -out:MmsTestHost.dll -r:Microsoft.MetadirectoryServicesEx.dll tests/csharp/MmsTestHost.cs
//
// A test builds a CS or MV entry with typed attributes, calls an IMASynchronization method through
// Outcome.Run, then reads back what the extension did to each attribute (untouched / set / deleted,
// with the resulting values) and which exception, if any, came out.
//
//   var ma = new TestManagementAgent("HR");
//   var cs = new TestCSEntry("person", ma).WithDN("CN=Ann,OU=People,DC=x")
//                .With("givenName", "Ann").With("employeeNumber", 42L).With("enabled", true)
//                .WithMulti("proxyAddresses", "smtp:a@x", "SMTP:A@x")
//                .WithReference("manager", "CN=Bob,OU=People,DC=x")
//                .Declare("title", AttributeType.String);          // in the schema, not present
//   var mv = new TestMVEntry("person").With("displayName", "Ann A");
//   Outcome o = Outcome.Run(() => ext.MapAttributesForImport("cd.person:givenName->mv.person:firstName", cs, mv));
//   o.Status                 // "ok", "declined", "not-implemented", "unexpected-data", "error"
//   mv.Attr("firstName").State / .Current   // AttrState.Set, ["Ann"]
//   mv.Describe()            // one tab-separated line per attribute (see AttributeReport.ToLine)
//
// MIM behaviour reproduced (documentation in the stub's comments and below):
//  * Attribute names are case-insensitive (CSEntry.Item / MVEntry.Item, forefront-2010/ff771804, ff771797).
//  * The entry indexer throws NoSuchAttributeException for a name not in the entry's schema (same pages).
//  * IsPresent is false for a never-set or Delete()d attribute (Attrib members, forefront-2010/ff771157).
//  * Reading Value/StringValue/IntegerValue/BooleanValue/BinaryValue/ReferenceValue of an absent
//    attribute throws AttributeNotPresentException ("thrown when a rules extension accesses an
//    attribute that is not present on an object", forefront-2010r2/ff771914). Note: the ILM page of
//    Attrib.Value (identity-lifecycle-manager/ms694667) lists InvalidOperationException for "zero or
//    more than one value"; we follow the exception class's own description — unverified which one
//    real MIM raises for an absent single-valued attribute.
//  * The single-value accessors on a multi-valued attribute throw InvalidOperationException ("Use this
//    property with single-valued attributes only", ms694667).
//  * Values works on single- AND multi-valued attributes ("This property applies to both",
//    ms694668); reading it on an absent attribute gives an empty collection; assigning an empty
//    collection clears the attribute; assigning null throws ArgumentNullException. The collection
//    returned is live: Values.Add(...) changes the attribute.
//  * More than one value on a single-valued attribute throws TooManyValuesException (ms698775).
//  * The typed accessors require the attribute's type (StringValue needs String, IntegerValue
//    Integer, ...) and throw InvalidOperationException otherwise, also when set to null
//    (Attrib.StringValue ff771716, BooleanValue ms694652, IntegerValue ms694656). Value is the
//    type-neutral string view: it converts to and from the attribute's type. Setting Value = null
//    throws InvalidOperationException (unverified: the docs do not say what null does; Delete() is
//    the documented way to remove an attribute).
//  * ReferenceValue set to null throws ArgumentNullException (ms694664).
//  * ValueCollection.Item throws ArgumentOutOfRangeException for a missing index (forefront-2010r2/ff771855).

using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using Microsoft.MetadirectoryServices;

namespace Maforge.TestHost
{
    // ------------------------------------------------------------------ values

    static class Conv
    {
        internal static string Hex(byte[] b)
        {
            var sb = new StringBuilder(b.Length * 2);
            foreach (var x in b) sb.Append(x.ToString("x2", CultureInfo.InvariantCulture));
            return sb.ToString();
        }

        static InvalidOperationException Cannot(object raw, AttributeType target)
        {
            return new InvalidOperationException(string.Format(CultureInfo.InvariantCulture,
                "a value of type {0} cannot be converted to {1}", raw == null ? "null" : raw.GetType().Name, target));
        }

        static object RawOf(Value v)
        {
            var t = v as TestValue;
            return t != null ? t.Raw : v.ToString();   // references (and foreign Values) by their string form
        }

        // The single conversion point: raw .NET value (string, long, int, bool, byte[], Value) to a
        // Value of the target attribute type. Undefined target keeps the value's own type.
        internal static Value To(AttributeType target, object raw)
        {
            if (raw == null) throw new ArgumentNullException("val");
            var v = raw as Value;
            if (v != null)
            {
                if (target == AttributeType.Undefined || v.DataType == target) return v;
                raw = RawOf(v);
            }
            if (raw is int) raw = (long)(int)raw;
            if (target == AttributeType.Undefined)
            {
                if (raw is string) return new TestValue(AttributeType.String, raw);
                if (raw is long) return new TestValue(AttributeType.Integer, raw);
                if (raw is bool) return new TestValue(AttributeType.Boolean, raw);
                if (raw is byte[]) return new TestValue(AttributeType.Binary, ((byte[])raw).Clone());
                throw Cannot(raw, target);
            }
            var s = raw as string;
            switch (target)
            {
                case AttributeType.String:
                    if (s != null) return new TestValue(target, s);
                    if (raw is long) return new TestValue(target, ((long)raw).ToString(CultureInfo.InvariantCulture));
                    if (raw is bool) return new TestValue(target, ((bool)raw).ToString());
                    break;
                case AttributeType.Integer:
                    if (raw is long) return new TestValue(target, raw);
                    long l;
                    if (s != null && long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out l))
                        return new TestValue(target, l);
                    break;
                case AttributeType.Boolean:
                    if (raw is bool) return new TestValue(target, raw);
                    bool b;
                    if (s != null && bool.TryParse(s, out b)) return new TestValue(target, b);
                    break;
                case AttributeType.Binary:
                    if (raw is byte[]) return new TestValue(target, ((byte[])raw).Clone());
                    break;
                case AttributeType.Reference:
                    if (s != null) return new TestReferenceValue(s);
                    break;
            }
            throw Cannot(raw, target);
        }
    }

    // A Value of one of the non-reference types.
    public class TestValue : Value
    {
        readonly AttributeType type;
        readonly object raw;   // string, long, bool, byte[]; for references the DN string

        internal TestValue(AttributeType type, object raw) { this.type = type; this.raw = raw; }

        public static TestValue Of(string s) { return new TestValue(AttributeType.String, s); }
        public static TestValue Of(long l) { return new TestValue(AttributeType.Integer, l); }
        public static TestValue Of(bool b) { return new TestValue(AttributeType.Boolean, b); }
        public static TestValue Of(byte[] b) { return new TestValue(AttributeType.Binary, b.Clone()); }

        public object Raw { get { return raw; } }
        public override AttributeType DataType { get { return type; } }

        public override byte[] ToBinary()
        {
            if (type == AttributeType.Binary) return (byte[])((byte[])raw).Clone();
            throw new InvalidOperationException("the value cannot be converted to binary");
        }

        public override bool ToBoolean()
        {
            if (type == AttributeType.Boolean) return (bool)raw;
            throw new InvalidOperationException("the value cannot be converted to Boolean");
        }

        public override long ToInteger()
        {
            if (type == AttributeType.Integer) return (long)raw;
            long l;
            if (type == AttributeType.String && long.TryParse((string)raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out l))
                return l;
            throw new InvalidOperationException("the value cannot be converted to an integer");
        }

        // Integers in invariant decimal, Booleans as "True"/"False", binary as lowercase hex in byte
        // order (the docs say "hexadecimal digits in little-endian byte order": exact form unverified).
        public override string ToString()
        {
            switch (type)
            {
                case AttributeType.Integer: return ((long)raw).ToString(CultureInfo.InvariantCulture);
                case AttributeType.Boolean: return ((bool)raw).ToString();
                case AttributeType.Binary: return Conv.Hex((byte[])raw);
                default: return (string)raw;
            }
        }

        public override bool Equals(object obj)
        {
            var o = obj as TestValue;
            if (o == null || o.type != type) return false;
            if (type == AttributeType.Binary) return ((byte[])raw).SequenceEqual((byte[])o.raw);
            if (type == AttributeType.Reference)
                return string.Equals((string)raw, (string)o.raw, StringComparison.OrdinalIgnoreCase);
            return raw.Equals(o.raw);
        }

        public override int GetHashCode()
        {
            if (type == AttributeType.Binary) return ((byte[])raw).Length;
            if (type == AttributeType.Reference) return StringComparer.OrdinalIgnoreCase.GetHashCode((string)raw);
            return raw.GetHashCode();
        }
    }

    // A distinguished name. Components are split on unescaped commas (RFC 4514 escaping with '\').
    public sealed class TestReferenceValue : ReferenceValue
    {
        readonly string dn;
        readonly List<string> parts;

        public TestReferenceValue(string dn)
        {
            if (dn == null) throw new ArgumentNullException("dn");
            this.dn = dn;
            parts = Split(dn);
        }

        static List<string> Split(string dn)
        {
            var result = new List<string>();
            if (dn.Length == 0) return result;
            var cur = new StringBuilder();
            for (int i = 0; i < dn.Length; i++)
            {
                char c = dn[i];
                if (c == '\\' && i + 1 < dn.Length) { cur.Append(c).Append(dn[++i]); continue; }
                if (c == ',') { result.Add(cur.ToString().Trim()); cur.Clear(); continue; }
                cur.Append(c);
            }
            result.Add(cur.ToString().Trim());
            return result;
        }

        static TestReferenceValue Join(IEnumerable<string> p) { return new TestReferenceValue(string.Join(",", p)); }

        public override AttributeType DataType { get { return AttributeType.Reference; } }
        public override int Depth { get { return parts.Count; } }
        public override string this[int index] { get { return parts[index]; } }

        public override ReferenceValue Concat(ReferenceValue DN)
        {
            if (DN == null) throw new ArgumentNullException("DN");
            return Join(parts.Concat(Split(DN.ToString())));
        }

        public override ReferenceValue Concat(string DN)
        {
            if (DN == null) throw new ArgumentNullException("DN");
            return Join(parts.Concat(Split(DN)));
        }

        public override ReferenceValue Parent() { return Parent(1); }

        public override ReferenceValue Parent(int level)
        {
            if (level < 0 || level > parts.Count) throw new ArgumentOutOfRangeException("level");
            return Join(parts.Skip(level));
        }

        public override ReferenceValue Subcomponents(int startingComponent, int endingComponent)
        {
            if (startingComponent < 0 || endingComponent > parts.Count || startingComponent >= endingComponent)
                throw new ArgumentOutOfRangeException("startingComponent");
            return Join(parts.Skip(startingComponent).Take(endingComponent - startingComponent));
        }

        // "Because the binary value of a reference makes no sense ... InvalidOperationException"
        // (ReferenceValue, identity-lifecycle-manager/ms698376); likewise Boolean and integer.
        public override byte[] ToBinary() { throw new InvalidOperationException("a reference has no binary value"); }
        public override bool ToBoolean() { throw new InvalidOperationException("a reference has no Boolean value"); }
        public override long ToInteger() { throw new InvalidOperationException("a reference has no integer value"); }
        public override string ToString() { return dn; }

        public override bool Equals(object obj)
        {
            var o = obj as ReferenceValue;
            return o != null && string.Equals(dn, o.ToString(), StringComparison.OrdinalIgnoreCase);
        }

        public override int GetHashCode() { return StringComparer.OrdinalIgnoreCase.GetHashCode(dn); }
    }

    // ------------------------------------------------------------------ value collections

    // A ValueCollection: either free-standing (Utils.ValueCollection, the join "values" argument),
    // typed by its first value, or bound live to an attribute (Attrib.Values).
    public sealed class TestValueCollection : ValueCollection
    {
        readonly TestAttrib owner;          // null when free-standing
        readonly List<Value> own;       // storage when free-standing
        AttributeType freeType = AttributeType.Undefined;

        public TestValueCollection() { own = new List<Value>(); }
        internal TestValueCollection(TestAttrib owner) { this.owner = owner; }

        public static TestValueCollection Of(params object[] values)
        {
            var c = new TestValueCollection();
            foreach (var v in values) c.AddRaw(v);
            return c;
        }

        List<Value> Items { get { return owner != null ? owner.Items : own; } }
        AttributeType Type { get { return owner != null ? owner.DataType : freeType; } }

        internal IEnumerable<Value> Snapshot() { return Items.ToList(); }

        void AddRaw(object raw)
        {
            var v = Conv.To(Type, raw);
            if (owner != null) { owner.AddValue(v); return; }
            if (freeType == AttributeType.Undefined) freeType = v.DataType;
            own.Add(v);
        }

        void Mutate(Action<List<Value>> change)
        {
            if (owner != null) owner.Mutate(change); else change(own);
        }

        bool Has(object raw)
        {
            Value v;
            try { v = Conv.To(Type, raw); } catch (InvalidOperationException) { return false; }
            return Items.Contains(v);
        }

        void RemoveRaw(object raw)
        {
            var v = Conv.To(Type, raw);
            Mutate(l => l.Remove(v));
        }

        public override int Count { get { return Items.Count; } }

        public override Value this[int index]
        {
            get
            {
                if (index < 0 || index >= Items.Count) throw new ArgumentOutOfRangeException("index");
                return Items[index];
            }
        }

        public override void Add(string val) { AddRaw(val); }
        public override void Add(long val) { AddRaw(val); }
        public override void Add(byte[] val) { AddRaw(val); }
        public override void Add(Value value) { AddRaw(value); }

        public override void Add(ValueCollection val)
        {
            if (val == null) throw new ArgumentNullException("val");
            if (ReferenceEquals(val, this)) throw new ArgumentException("cannot add a collection to itself", "val");
            var copy = new List<Value>();
            foreach (Value v in val) copy.Add(v);
            foreach (var v in copy) AddRaw(v);
        }

        public override void Clear() { Mutate(l => l.Clear()); }

        public override bool Contains(string val) { return Has(val); }
        public override bool Contains(long val) { return Has(val); }
        public override bool Contains(byte[] val) { return Has(val); }
        public override bool Contains(Value val) { return Has(val); }

        public override void Remove(string val) { RemoveRaw(val); }
        public override void Remove(long val) { RemoveRaw(val); }
        public override void Remove(byte[] val) { RemoveRaw(val); }
        public override void Remove(Value val) { RemoveRaw(val); }

        public override void Set(bool val)
        {
            var v = Conv.To(Type, val);
            Mutate(l => { l.Clear(); l.Add(v); });
            if (owner == null && freeType == AttributeType.Undefined) freeType = v.DataType;
        }

        public override byte[][] ToByteArrays() { return Items.Select(v => v.ToBinary()).ToArray(); }
        public override long[] ToIntegerArray() { return Items.Select(v => v.ToInteger()).ToArray(); }
        public override string[] ToStringArray() { return Items.Select(v => v.ToString()).ToArray(); }
        public override IEnumerator GetEnumerator() { return Items.ToList().GetEnumerator(); }
    }

    // ------------------------------------------------------------------ attributes

    public enum AttrState { Untouched, Set, Deleted }

    public sealed class TestAttrib : Attrib
    {
        readonly string name;
        readonly AttributeType type;
        readonly bool multivalued;
        internal readonly List<Value> Items = new List<Value>();
        List<Value> initial = new List<Value>();

        public TestAttrib(string name, AttributeType type, bool multivalued)
        {
            if (type == AttributeType.Undefined) throw new ArgumentException("an attribute needs a type", "type");
            this.name = name;
            this.type = type;
            this.multivalued = multivalued;
            State = AttrState.Untouched;
        }

        // What the extension did: Untouched, Set (any write, even of the same value) or Deleted
        // (Delete(), or the last write left it empty).
        public AttrState State { get; private set; }
        public ManagementAgent ContributingMA { get; set; }          // returned by LastContributingMA
        public DateTime ContributionTime { get; set; }               // returned by LastContributionTime
        public string[] Initial { get { return initial.Select(v => v.ToString()).ToArray(); } }
        public string[] Current { get { return Items.Select(v => v.ToString()).ToArray(); } }

        // Host-side population: no state change.
        internal void Seed(IEnumerable<object> values)
        {
            Items.Clear();
            foreach (var raw in values)
            {
                var v = Conv.To(type, raw);
                if (!multivalued && Items.Count == 1) throw new TooManyValuesException(name);
                Items.Add(v);
            }
            initial = Items.ToList();
            State = AttrState.Untouched;
        }

        void Touched() { State = Items.Count == 0 ? AttrState.Deleted : AttrState.Set; }

        internal void AddValue(Value v)
        {
            if (!multivalued && Items.Count >= 1) throw new TooManyValuesException(name);
            Items.Add(v);
            Touched();
        }

        internal void Mutate(Action<List<Value>> change)
        {
            change(Items);
            Touched();
        }

        void SetSingle(object raw)
        {
            if (multivalued) throw new InvalidOperationException("'" + name + "' is multi-valued: use Values");
            if (raw == null) throw new InvalidOperationException("'" + name + "' cannot be set to null: use Delete()");
            var v = Conv.To(type, raw);
            Items.Clear();
            Items.Add(v);
            State = AttrState.Set;
        }

        Value Single()
        {
            if (multivalued) throw new InvalidOperationException("'" + name + "' is multi-valued: use Values");
            if (Items.Count == 0) throw new AttributeNotPresentException(name);
            return Items[0];
        }

        void Need(AttributeType t)
        {
            if (type != t)
                throw new InvalidOperationException("'" + name + "' holds " + type + " values, not " + t);
        }

        public override AttributeType DataType { get { return type; } }
        public override bool IsMultivalued { get { return multivalued; } }
        public override bool IsPresent { get { return Items.Count > 0; } }
        public override string Name { get { return name; } }
        public override ManagementAgent LastContributingMA { get { return ContributingMA; } }
        public override DateTime LastContributionTime { get { return ContributionTime; } }

        public override string Value
        {
            get { return Single().ToString(); }
            set { SetSingle(value); }
        }

        public override string StringValue
        {
            get { Need(AttributeType.String); return Single().ToString(); }
            set { Need(AttributeType.String); SetSingle(value); }
        }

        public override long IntegerValue
        {
            get { Need(AttributeType.Integer); return Single().ToInteger(); }
            set { Need(AttributeType.Integer); SetSingle(value); }
        }

        public override bool BooleanValue
        {
            get { Need(AttributeType.Boolean); return Single().ToBoolean(); }
            set { Need(AttributeType.Boolean); SetSingle(value); }
        }

        public override byte[] BinaryValue
        {
            get { Need(AttributeType.Binary); return Single().ToBinary(); }
            set { Need(AttributeType.Binary); SetSingle(value); }
        }

        public override ReferenceValue ReferenceValue
        {
            get { Need(AttributeType.Reference); return (ReferenceValue)Single(); }
            set
            {
                if (value == null) throw new ArgumentNullException("value");
                Need(AttributeType.Reference);
                SetSingle(value.ToString());
            }
        }

        public override ValueCollection Values
        {
            get { return new TestValueCollection(this); }
            set
            {
                if (value == null) throw new ArgumentNullException("value");
                var copy = new List<Value>();
                foreach (Value v in value) copy.Add(Conv.To(type, v));
                if (!multivalued && copy.Count > 1) throw new TooManyValuesException(name);
                Items.Clear();
                Items.AddRange(copy);
                Touched();
            }
        }

        public override void Delete()
        {
            Items.Clear();
            State = AttrState.Deleted;
        }

        public override string ToString() { return name; }

        public AttributeReport Report()
        {
            return new AttributeReport(name, State, type, multivalued, IsPresent, Current);
        }
    }

    // One attribute's outcome, for assertions or for printing.
    public sealed class AttributeReport
    {
        public AttributeReport(string name, AttrState state, AttributeType type, bool multivalued, bool present, string[] values)
        {
            Name = name; State = state; DataType = type; IsMultivalued = multivalued; IsPresent = present; Values = values;
        }

        public string Name { get; private set; }
        public AttrState State { get; private set; }
        public AttributeType DataType { get; private set; }
        public bool IsMultivalued { get; private set; }
        public bool IsPresent { get; private set; }
        public string[] Values { get; private set; }

        static string Esc(string s)
        {
            return s.Replace("\\", "\\\\").Replace("\t", "\\t").Replace("\n", "\\n").Replace("\r", "\\r");
        }

        // name <TAB> untouched|set|deleted <TAB> String|Integer|... <TAB> single|multi [<TAB> value]...
        // Backslash, tab, CR and LF inside names and values are escaped as \\, \t, \r, \n.
        public string ToLine()
        {
            var cells = new List<string> { Esc(Name), State.ToString().ToLowerInvariant(), DataType.ToString(), IsMultivalued ? "multi" : "single" };
            cells.AddRange(Values.Select(Esc));
            return string.Join("\t", cells);
        }
    }

    // ------------------------------------------------------------------ entries

    // The attribute table of one entry (schema plus values), shared by TestCSEntry and TestMVEntry.
    public sealed class AttributeStore
    {
        readonly Dictionary<string, TestAttrib> byName = new Dictionary<string, TestAttrib>(StringComparer.OrdinalIgnoreCase);
        readonly List<TestAttrib> order = new List<TestAttrib>();

        public TestAttrib Declare(string name, AttributeType type, bool multivalued)
        {
            TestAttrib a;
            if (byName.TryGetValue(name, out a))
            {
                if (a.DataType != type || a.IsMultivalued != multivalued)
                    throw new ArgumentException("attribute '" + name + "' is already declared differently");
                return a;
            }
            a = new TestAttrib(name, type, multivalued);
            byName[name] = a;
            order.Add(a);
            return a;
        }

        public void Seed(string name, AttributeType type, bool multivalued, params object[] values)
        {
            Declare(name, type, multivalued).Seed(values);
        }

        // MIM semantics: a name outside the schema throws NoSuchAttributeException.
        public TestAttrib this[string attributeName]
        {
            get
            {
                if (attributeName == null) throw new ArgumentNullException("attributeName");
                TestAttrib a;
                if (!byName.TryGetValue(attributeName, out a)) throw new NoSuchAttributeException(attributeName);
                return a;
            }
        }

        public bool Has(string name) { return byName.ContainsKey(name); }
        public IEnumerable<TestAttrib> All { get { return order; } }
        public IEnumerable<AttributeReport> Report() { return order.Select(a => a.Report()); }
        public IEnumerable<AttributeReport> Changes() { return Report().Where(r => r.State != AttrState.Untouched); }
        public string Describe() { return string.Join("\n", Report().Select(r => r.ToLine())); }

        internal bool Matches(string attributeName, Value v)
        {
            TestAttrib a;
            return byName.TryGetValue(attributeName, out a) && a.Items.Contains(v);
        }
    }

    public sealed class TestCSEntry : CSEntry
    {
        public readonly AttributeStore Store = new AttributeStore();
        readonly string objectType;
        ReferenceValue dn;

        public TestCSEntry(string objectType, TestManagementAgent ma = null)
        {
            if (objectType == null) throw new ArgumentNullException("objectType");
            this.objectType = objectType;
            Agent = ma;
            State = ConnectionState.Connected;
            Rule = RuleType.Unknown;
            ObjectClassValues = new TestValueCollection();
            ObjectClassValues.Add(objectType);
        }

        // Host-side knobs behind the read-only MIM properties.
        public TestManagementAgent Agent { get; set; }
        public ConnectionState State { get; set; }
        public RuleType Rule { get; set; }
        public DateTime ChangeTime { get; set; }
        public ValueCollection ObjectClassValues { get; set; }

        // What the extension did to the entry itself.
        public bool Deprovisioned { get; private set; }
        public bool Committed { get; private set; }
        public bool DNChanged { get; private set; }

        // Builders: declare an attribute in this entry's schema and give it initial values, which
        // do not count as changes.
        public TestCSEntry Declare(string name, AttributeType type, bool multivalued = false) { Store.Declare(name, type, multivalued); return this; }
        public TestCSEntry With(string name, string value) { Store.Seed(name, AttributeType.String, false, value); return this; }
        public TestCSEntry With(string name, long value) { Store.Seed(name, AttributeType.Integer, false, value); return this; }
        public TestCSEntry With(string name, bool value) { Store.Seed(name, AttributeType.Boolean, false, value); return this; }
        public TestCSEntry With(string name, byte[] value) { Store.Seed(name, AttributeType.Binary, false, value); return this; }
        public TestCSEntry WithReference(string name, string dn) { Store.Seed(name, AttributeType.Reference, false, dn); return this; }
        public TestCSEntry WithMulti(string name, params string[] values) { Store.Seed(name, AttributeType.String, true, values); return this; }
        public TestCSEntry WithMulti(string name, AttributeType type, params object[] values) { Store.Seed(name, type, true, values); return this; }
        public TestCSEntry WithDN(string dnText) { dn = new TestReferenceValue(dnText); return this; }

        public TestAttrib Attr(string name) { return Store[name]; }
        public IEnumerable<AttributeReport> Report() { return Store.Report(); }
        public IEnumerable<AttributeReport> Changes() { return Store.Changes(); }
        public string Describe() { return Store.Describe(); }

        public override DateTime ConnectionChangeTime { get { return ChangeTime; } }
        public override RuleType ConnectionRule { get { return Rule; } }
        public override ConnectionState ConnectionState { get { return State; } }

        public override ReferenceValue DN
        {
            get { return dn; }
            set
            {
                if (value == null) throw new ArgumentNullException("value");
                dn = value;
                DNChanged = true;
            }
        }

        public override Attrib this[string attributeName] { get { return Store[attributeName]; } }
        public override ManagementAgent MA { get { return Agent; } }

        public override ValueCollection ObjectClass
        {
            get { return ObjectClassValues; }
            set
            {
                if (value == null) throw new ArgumentNullException("value");
                ObjectClassValues = value;
            }
        }

        public override string ObjectType { get { return objectType; } }

        // RDN: the first DN component. Set replaces it, escaping the value (the property "escapes
        // characters as required", identity-lifecycle-manager/ms695453); "name=value" input keeps its name.
        public override string RDN
        {
            get { return dn == null || dn.Depth == 0 ? null : dn[0]; }
            set
            {
                if (value == null) throw new ArgumentNullException("value");
                string rest = dn == null || dn.Depth <= 1 ? "" : "," + dn.Parent().ToString();
                dn = new TestReferenceValue(value + rest);
                DNChanged = true;
            }
        }

        public override void CommitNewConnector()
        {
            if (dn == null) throw new InvalidOperationException("the DN of the new connector has not been set");
            if (Agent != null)
            {
                if (Agent.Find(dn) != null) throw new ObjectAlreadyExistsException(dn.ToString());
                Agent.Connected.Add(this);
            }
            Committed = true;
        }

        public override void Deprovision() { Deprovisioned = true; State = ConnectionState.Disconnected; }

        public override IEnumerator GetEnumerator()
        {
            return Store.All.Where(a => a.IsPresent).Select(a => a.Name).ToList().GetEnumerator();
        }

        // "contains the name of the management agent, the Object Type and distinguished name"
        // (CSEntry.ToString, forefront-2010/ff771455); exact format unverified.
        public override string ToString()
        {
            return string.Format("{0}, {1}, {2}", Agent == null ? "" : Agent.Name, objectType, dn == null ? "" : dn.ToString());
        }
    }

    public sealed class TestMVEntry : MVEntry
    {
        public readonly AttributeStore Store = new AttributeStore();
        readonly string objectType;
        readonly TestConnectedMACollection mas = new TestConnectedMACollection();

        public TestMVEntry(string objectType, Guid? objectId = null)
        {
            if (objectType == null) throw new ArgumentNullException("objectType");
            this.objectType = objectType;
            Id = objectId ?? Guid.NewGuid();
        }

        public Guid Id { get; set; }
        public TestConnectedMACollection Agents { get { return mas; } }

        public TestMVEntry Declare(string name, AttributeType type, bool multivalued = false) { Store.Declare(name, type, multivalued); return this; }
        public TestMVEntry With(string name, string value) { Store.Seed(name, AttributeType.String, false, value); return this; }
        public TestMVEntry With(string name, long value) { Store.Seed(name, AttributeType.Integer, false, value); return this; }
        public TestMVEntry With(string name, bool value) { Store.Seed(name, AttributeType.Boolean, false, value); return this; }
        public TestMVEntry With(string name, byte[] value) { Store.Seed(name, AttributeType.Binary, false, value); return this; }
        public TestMVEntry WithReference(string name, string dn) { Store.Seed(name, AttributeType.Reference, false, dn); return this; }
        public TestMVEntry WithMulti(string name, params string[] values) { Store.Seed(name, AttributeType.String, true, values); return this; }
        public TestMVEntry WithMulti(string name, AttributeType type, params object[] values) { Store.Seed(name, type, true, values); return this; }
        public TestMVEntry ConnectedTo(TestManagementAgent ma) { mas.Add(ma); return this; }

        public TestAttrib Attr(string name) { return Store[name]; }
        public IEnumerable<AttributeReport> Report() { return Store.Report(); }
        public IEnumerable<AttributeReport> Changes() { return Store.Changes(); }
        public string Describe() { return Store.Describe(); }

        public override ConnectedMACollection ConnectedMAs { get { return mas; } }
        public override Attrib this[string attributeName] { get { return Store[attributeName]; } }
        public override Guid ObjectID { get { return Id; } }
        public override string ObjectType { get { return objectType; } }

        public override IEnumerator GetEnumerator()
        {
            return Store.All.Where(a => a.IsPresent).Select(a => a.Name).ToList().GetEnumerator();
        }

        public override string ToString() { return objectType + " " + Id.ToString(); }
    }

    // ------------------------------------------------------------------ management agents

    public sealed class TestManagementAgent : ConnectedMA
    {
        readonly string name;
        internal readonly List<TestCSEntry> Connected = new List<TestCSEntry>();
        readonly TestConnectorCollection connectors;

        public TestManagementAgent(string name)
        {
            if (name == null) throw new ArgumentNullException("name");
            this.name = name;
            connectors = new TestConnectorCollection(this);
        }

        // Host-side: register an existing connector of this MA.
        public TestManagementAgent Connect(TestCSEntry cs)
        {
            cs.Agent = this;
            Connected.Add(cs);
            return this;
        }

        internal TestCSEntry Find(ReferenceValue dn)
        {
            return Connected.FirstOrDefault(c => c.DN != null && c.DN.Equals(dn));
        }

        public override string Name { get { return name; } }
        public override ConnectorCollection Connectors { get { return connectors; } }

        public override ReferenceValue CreateDN(string DN)
        {
            if (DN == null) throw new ArgumentNullException("DN");
            return new TestReferenceValue(DN);
        }

        public override ReferenceValue CreateDN(Value DN)
        {
            if (DN == null) throw new ArgumentNullException("DN");
            return new TestReferenceValue(DN.ToString());
        }

        // RFC 4514 escaping of each part; parts are joined with ','.
        static string Escape(string s)
        {
            var sb = new StringBuilder();
            for (int i = 0; i < s.Length; i++)
            {
                char c = s[i];
                bool special = ",+\"\\<>;=".IndexOf(c) >= 0
                    || (i == 0 && (c == ' ' || c == '#'))
                    || (i == s.Length - 1 && c == ' ');
                if (special) sb.Append('\\');
                sb.Append(c);
            }
            return sb.ToString();
        }

        // "name=value" parts keep their name: only the value is escaped.
        static string EscapePart(string part)
        {
            if (part == null) throw new ArgumentNullException("parts");
            int eq = part.IndexOf('=');
            return eq > 0 ? part.Substring(0, eq) + "=" + Escape(part.Substring(eq + 1)) : Escape(part);
        }

        public override ReferenceValue EscapeDNComponent(params string[] parts)
        {
            if (parts == null) throw new ArgumentNullException("parts");
            return new TestReferenceValue(string.Join(",", parts.Select(EscapePart)));
        }

        public override ReferenceValue EscapeDNComponent(params Value[] parts)
        {
            if (parts == null) throw new ArgumentNullException("parts");
            return EscapeDNComponent(parts.Select(p => p.ToString()).ToArray());
        }

        public override string[] UnescapeDNComponent(string component)
        {
            if (component == null) throw new ArgumentNullException("component");
            var sb = new StringBuilder();
            for (int i = 0; i < component.Length; i++)
            {
                if (component[i] == '\\' && i + 1 < component.Length) i++;
                sb.Append(component[i]);
            }
            return new[] { sb.ToString() };
        }

        public override string NormalizeString(string value) { return value; }
        public override string ToString() { return name; }
    }

    public sealed class TestConnectorCollection : ConnectorCollection
    {
        readonly TestManagementAgent ma;
        internal TestConnectorCollection(TestManagementAgent ma) { this.ma = ma; }

        sealed class ByDNView : ConnectorCollectionByDN
        {
            readonly TestManagementAgent ma;
            internal ByDNView(TestManagementAgent ma) { this.ma = ma; }

            public override CSEntry this[ReferenceValue DN]
            {
                get
                {
                    if (DN == null) throw new ArgumentNullException("DN");
                    var cs = ma.Find(DN);
                    if (cs == null) throw new ArgumentException("no connector with DN " + DN);   // exception type unverified
                    return cs;
                }
            }
        }

        sealed class ByIndexView : ConnectorCollectionByIndex
        {
            readonly TestManagementAgent ma;
            internal ByIndexView(TestManagementAgent ma) { this.ma = ma; }
            public override CSEntry this[int index] { get { return ma.Connected[index]; } }
        }

        public override ConnectorCollectionByDN ByDN { get { return new ByDNView(ma); } }
        public override ConnectorCollectionByIndex ByIndex { get { return new ByIndexView(ma); } }
        public override int Count { get { return ma.Connected.Count; } }
        public override void DeprovisionAll() { foreach (var c in ma.Connected) c.Deprovision(); }

        public override CSEntry StartNewConnector(string objectType)
        {
            if (objectType == null) throw new ArgumentNullException("objectType");
            return new TestCSEntry(objectType, ma) { State = ConnectionState.Connected, Rule = RuleType.Provisioning };
        }

        public override CSEntry StartNewConnector(string objectType, string[] objectClass)
        {
            if (objectClass == null) throw new ArgumentNullException("objectClass");
            var cs = (TestCSEntry)StartNewConnector(objectType);
            cs.ObjectClassValues = TestValueCollection.Of(objectClass);
            return cs;
        }

        public override CSEntry StartNewConnector(string objectType, ValueCollection objectClass)
        {
            if (objectClass == null) throw new ArgumentNullException("objectClass");
            var cs = (TestCSEntry)StartNewConnector(objectType);
            cs.ObjectClassValues = objectClass;
            return cs;
        }

        public override IEnumerator GetEnumerator() { return ma.Connected.ToList().GetEnumerator(); }
    }

    public sealed class TestConnectedMACollection : ConnectedMACollection
    {
        readonly List<TestManagementAgent> list = new List<TestManagementAgent>();

        public void Add(TestManagementAgent ma) { if (!list.Contains(ma)) list.Add(ma); }

        public override int Count { get { return list.Count; } }

        // Name matching is case-insensitive here (unverified for real MIM).
        public override ConnectedMA this[string MA]
        {
            get
            {
                if (MA == null) throw new ArgumentNullException("MA");
                var found = list.FirstOrDefault(m => string.Equals(m.Name, MA, StringComparison.OrdinalIgnoreCase));
                if (found == null) throw new ArgumentException("no connected management agent named " + MA);   // exception type unverified
                return found;
            }
        }

        public override void DeprovisionAll() { foreach (var ma in list) ma.Connectors.DeprovisionAll(); }
        public override IEnumerator GetEnumerator() { return list.ToList().GetEnumerator(); }
    }

    public sealed class TestTransactionProperties : TransactionPropertyCollection
    {
        readonly Dictionary<string, object> map = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);

        public override int Count { get { return map.Count; } }

        public override object this[string name]
        {
            get { object v; return map.TryGetValue(name, out v) ? v : null; }
            set { map[name] = value; }
        }

        public override ICollection Keys { get { return map.Keys.ToList(); } }
        public override ICollection Values { get { return map.Values.ToList(); } }
        public override void Add(string name, object data) { map.Add(name, data); }
        public override void Clear() { map.Clear(); }
        public override bool Contains(string name) { return map.ContainsKey(name); }
        public override void Remove(string name) { map.Remove(name); }
    }

    // ------------------------------------------------------------------ the synchronization host

    // Supplies what the static Utils members return. Call MmsHost.Install() once before running an
    // extension that uses Utils; Reset() between cases to clear transaction properties and the
    // metaverse used by Utils.FindMVEntries.
    public sealed class MmsHost : IMmsHostBackend
    {
        static readonly MmsHost instance = new MmsHost();

        public static readonly List<TestMVEntry> Metaverse = new List<TestMVEntry>();
        public static string Extensions = "/tmp/maforge/Extensions";
        public static string Working = "/tmp/maforge/MaData";
        public static bool Preview;
        static TestTransactionProperties tx = new TestTransactionProperties();

        public static void Install() { Utils.Backend = instance; }

        public static void Reset()
        {
            Metaverse.Clear();
            tx = new TestTransactionProperties();
            Preview = false;
        }

        string IMmsHostBackend.ExtensionsDirectory { get { return Extensions; } }
        string IMmsHostBackend.WorkingDirectory { get { return Working; } }
        bool IMmsHostBackend.InPreviewMode { get { return Preview; } }
        TransactionPropertyCollection IMmsHostBackend.TransactionProperties { get { return tx; } }
        ValueCollection IMmsHostBackend.NewValueCollection() { return new TestValueCollection(); }

        MVEntry[] IMmsHostBackend.FindMVEntries(string attributeName, object value, int maxResults)
        {
            var found = new List<MVEntry>();
            foreach (var mv in Metaverse)
            {
                if (found.Count >= maxResults) break;
                if (!mv.Store.Has(attributeName)) continue;
                Value v;
                try { v = Conv.To(mv.Store[attributeName].DataType, value); }
                catch (InvalidOperationException) { continue; }
                if (mv.Store.Matches(attributeName, v)) found.Add(mv);
            }
            return found.ToArray();
        }
    }

    // ------------------------------------------------------------------ calling the extension

    // The result of one call into an extension: its return value, or the exception it threw,
    // classified the way the synchronization engine treats it.
    public sealed class Outcome
    {
        Outcome(object value, Exception error)
        {
            ReturnValue = value;
            Exception = error;
            if (error == null) Status = "ok";
            else if (error is DeclineMappingException) Status = "declined";
            else if (error is EntryPointNotImplementedException) Status = "not-implemented";
            else if (error is UnexpectedDataException) Status = "unexpected-data";
            else Status = "error";
        }

        // "ok", "declined" (DeclineMappingException), "not-implemented"
        // (EntryPointNotImplementedException), "unexpected-data" (UnexpectedDataException),
        // "error" (anything else, including MIM's own exceptions such as AttributeNotPresentException).
        public string Status { get; private set; }
        public object ReturnValue { get; private set; }
        public Exception Exception { get; private set; }
        public string ExceptionType { get { return Exception == null ? null : Exception.GetType().FullName; } }
        public string Message { get { return Exception == null ? null : Exception.Message; } }

        public static Outcome Run(Action call)
        {
            try { call(); return new Outcome(null, null); }
            catch (Exception e) { return new Outcome(null, e); }
        }

        public static Outcome Run<T>(Func<T> call)
        {
            try { return new Outcome(call(), null); }
            catch (Exception e) { return new Outcome(null, e); }
        }

        // status <TAB> exception type or "-" <TAB> return value or "-"
        public string ToLine()
        {
            return Status + "\t" + (ExceptionType ?? "-") + "\t" + (ReturnValue == null ? "-" : Convert.ToString(ReturnValue, CultureInfo.InvariantCulture));
        }
    }
}
