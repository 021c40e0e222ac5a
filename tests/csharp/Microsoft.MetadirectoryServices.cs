// Stub of the Microsoft.MetadirectoryServices namespace (MIM 2016 / FIM 2010 Synchronization
// Service rules-extension API), written for maforge from Microsoft's public API reference so that
// generated rules extensions compile and run under Mono, where Microsoft's
// Microsoft.MetadirectoryServicesEx.dll does not exist.
//
//   mcs -target:library -out:Microsoft.MetadirectoryServicesEx.dll tests/csharp/Microsoft.MetadirectoryServices.cs
//
// Scope: only what a management-agent rules extension (IMASynchronization: import/export attribute
// flow, join, projection, connector filter, deprovisioning) and a small metaverse extension use.
// Names, namespaces, member kinds (property vs method), abstract/sealed-ness and parameter names
// follow the documentation cited above each type. Where the real class is abstract with a protected
// constructor, so is this one: code compiled against this stub can only use what it could use
// against the real assembly. Members marked "unverified" were not confirmed against the docs
// (typically a parameter name, or whether a member is abstract or virtual); "not in stub" lists
// documented members deliberately left out.
//
// Documentation roots:
//   FIM 2010 developer reference (applies to MIM 2016):
//     https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/
//   ILM 2007 FP1 developer reference (older, same API):
//     https://learn.microsoft.com/en-us/previous-versions/windows/desktop/identity-lifecycle-manager/
//
// No behaviour lives here beyond argument plumbing: the concrete classes are test doubles in
// MmsTestHost.cs (namespace Maforge.TestHost). The static Utils members delegate to a host backend
// that is internal to this assembly and visible only to the MmsTestHost assembly.

using System;
using System.Collections;
using System.Runtime.CompilerServices;
using System.Runtime.Serialization;

[assembly: InternalsVisibleTo("MmsTestHost")]

namespace Microsoft.MetadirectoryServices
{
    // ------------------------------------------------------------------ enumerations

    // AttributeType Enumeration
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771915(v=vs.100)
    // Member names verified; the numeric values are unverified (the docs do not list them).
    [Serializable]
    public enum AttributeType
    {
        Undefined,
        String,
        Integer,
        Binary,
        Boolean,
        Reference,
    }

    // DeprovisionAction Enumeration
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771972(v=vs.100)
    // Numeric values unverified.
    public enum DeprovisionAction
    {
        Disconnect,
        ExplicitDisconnect,
        Delete,
    }

    // ConnectionState Enumeration
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771967(v=vs.100)
    // Numeric values unverified.
    public enum ConnectionState
    {
        Connected,
        ExplicitlyConnected,
        Disconnected,
        DisconnectedByFilter,
        ExplicitlyDisconnected,
        Placeholder,
    }

    // RuleType Enumeration
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771953(v=vs.100)
    // Numeric values unverified.
    public enum RuleType
    {
        Unknown,
        AccountJoiner,
        ConnectorFilter,
        CSDeprovisioning,
        ExportAttributeFlow,
        ImportAttributeFlow,
        Join,
        MVDeletion,
        Projection,
        Provisioning,
    }

    // ------------------------------------------------------------------ interfaces

    // IMASynchronization Interface
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771939(v=vs.100)
    // Members: https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771382(v=vs.100)
    // Signatures verified per method page:
    //   ShouldProjectToMV       .../forefront-2010r2/ff771486(v=vs.100)
    //   FilterForDisconnection  .../forefront-2010r2/ff771489(v=vs.100)
    //   MapAttributesForJoin    .../forefront-2010/ff771065(v=vs.100)
    //   ResolveJoinSearch       .../identity-lifecycle-manager/ms696516(v=vs.85)
    //   MapAttributesForImport  .../forefront-2010/ff771247(v=vs.100)
    //   MapAttributesForExport  .../identity-lifecycle-manager/ms696513(v=vs.85)
    //   Deprovision             .../forefront-2010/ff771483(v=vs.100)
    public interface IMASynchronization
    {
        void Initialize();
        void Terminate();
        bool ShouldProjectToMV(CSEntry csentry, out string MVObjectType);
        bool FilterForDisconnection(CSEntry csentry);
        void MapAttributesForJoin(string FlowRuleName, CSEntry csentry, ref ValueCollection values);
        bool ResolveJoinSearch(string joinCriteriaName, CSEntry csentry, MVEntry[] rgmventry, out int imventry, ref string MVObjectType);
        void MapAttributesForImport(string FlowRuleName, CSEntry csentry, MVEntry mventry);
        void MapAttributesForExport(string FlowRuleName, MVEntry mventry, CSEntry csentry);
        DeprovisionAction Deprovision(CSEntry csentry);
    }

    // IMVSynchronization Interface
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771981(v=vs.100)
    // Provision: .../forefront-2010/ff771493(v=vs.100); ShouldDeleteFromMV: .../forefront-2010/ff771492(v=vs.100)
    public interface IMVSynchronization
    {
        void Initialize();
        void Terminate();
        void Provision(MVEntry mventry);
        bool ShouldDeleteFromMV(CSEntry csentry, MVEntry mventry);
    }

    // ------------------------------------------------------------------ values

    // Value Class (abstract; protected constructor)
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771225(v=vs.100)
    // ToBinary/ToBoolean/ToInteger/ToString are documented "public abstract" (ff771629, ff771644,
    // ff771630, ff771646). Equals/GetHashCode are documented as "Overridden"; that they are abstract
    // here is unverified.
    public abstract class Value
    {
        protected Value() { }

        public abstract AttributeType DataType { get; }

        public abstract byte[] ToBinary();
        public abstract bool ToBoolean();
        public abstract long ToInteger();
        public abstract override string ToString();
        public abstract override bool Equals(object obj);
        public abstract override int GetHashCode();
    }

    // ReferenceValue Class (abstract; protected constructor), derived from Value
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771211(v=vs.100)
    // Depth: ff771828; Subcomponents: ff771570; Concat(ReferenceValue DN): ff771587 (forefront-2010r2).
    public abstract class ReferenceValue : Value
    {
        protected ReferenceValue() { }

        public abstract int Depth { get; }

        // Item: "Gets an individual component of the distinguished name". Parameter name and the
        // string return type are unverified.
        public abstract string this[int index] { get; }

        public abstract ReferenceValue Concat(ReferenceValue DN);

        // Parameter name unverified.
        public abstract ReferenceValue Concat(string DN);

        public abstract ReferenceValue Parent();

        // Parameter name unverified.
        public abstract ReferenceValue Parent(int level);

        public abstract ReferenceValue Subcomponents(int startingComponent, int endingComponent);
    }

    // ValueCollection Class (abstract; protected constructor; IEnumerable)
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771226(v=vs.100)
    // Method list (ILM): https://learn.microsoft.com/en-us/previous-versions/windows/desktop/identity-lifecycle-manager/ms699186(v=vs.85)
    // Item: forefront-2010r2/ff771855; Add(string val): forefront-2010r2/ff771647;
    // Add(ValueCollection val): forefront-2010r2/ff771638; Add(Value value): identity-lifecycle-manager/ms699228.
    public abstract class ValueCollection : IEnumerable
    {
        protected ValueCollection() { }

        public abstract int Count { get; }

        // Throws ArgumentOutOfRangeException when there is no member at index (documented).
        public abstract Value this[int index] { get; }

        public abstract void Add(string val);
        public abstract void Add(long val);            // parameter name unverified
        public abstract void Add(byte[] val);          // parameter name unverified
        public abstract void Add(Value value);
        public abstract void Add(ValueCollection val);

        public abstract void Clear();

        // Parameter names of Contains/Remove unverified; Remove's void return type unverified.
        public abstract bool Contains(string val);
        public abstract bool Contains(long val);
        public abstract bool Contains(byte[] val);
        public abstract bool Contains(Value val);

        public abstract void Remove(string val);
        public abstract void Remove(long val);
        public abstract void Remove(byte[] val);
        public abstract void Remove(Value val);

        // "removes all of the values of the ValueCollection and adds a single bool value".
        // Parameter name unverified.
        public abstract void Set(bool val);

        public abstract byte[][] ToByteArrays();
        public abstract long[] ToIntegerArray();
        public abstract string[] ToStringArray();

        // The real method returns ValueCollectionEnumerator (not in stub); unverified here.
        public abstract IEnumerator GetEnumerator();
    }

    // ------------------------------------------------------------------ attributes and entries

    // Attrib Class (abstract; protected constructor)
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771157(v=vs.100)
    // ILM class page: https://learn.microsoft.com/en-us/previous-versions/windows/desktop/identity-lifecycle-manager/ms694627(v=vs.85)
    // Value: identity-lifecycle-manager/ms694667 (InvalidOperationException when the attribute has zero
    //        or more than one value); Values: ms694668 (single- and multi-valued; assigning an empty
    //        collection equals Clear); StringValue: forefront-2010/ff771716 ("public abstract");
    //        IntegerValue: ms694656; BooleanValue: ms694652; ReferenceValue: ms694664;
    //        LastContributingMA: ms694659.
    // That every member is abstract (rather than virtual) is verified for StringValue only.
    public abstract class Attrib
    {
        protected Attrib() { }

        public abstract byte[] BinaryValue { get; set; }
        public abstract bool BooleanValue { get; set; }
        public abstract AttributeType DataType { get; }
        public abstract long IntegerValue { get; set; }
        public abstract bool IsMultivalued { get; }
        public abstract bool IsPresent { get; }
        public abstract ManagementAgent LastContributingMA { get; }
        public abstract DateTime LastContributionTime { get; }   // unverified (type)
        public abstract string Name { get; }                       // unverified
        public abstract ReferenceValue ReferenceValue { get; set; }
        public abstract string StringValue { get; set; }
        public abstract string Value { get; set; }
        public abstract ValueCollection Values { get; set; }

        public abstract void Delete();
    }

    // CSEntry Class (abstract; protected constructor; IEnumerable)
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010r2/ff771184(v=vs.100)
    // Item: forefront-2010/ff771804; ObjectClass: ff771805; ObjectType: ff771806; ConnectionRule: ff771802;
    // CommitNewConnector: ff771451; Deprovision: ff771452; ToString: ff771455 (all forefront-2010);
    // RDN: identity-lifecycle-manager/ms695453.
    public abstract class CSEntry : IEnumerable
    {
        protected CSEntry() { }

        public abstract DateTime ConnectionChangeTime { get; }
        public abstract RuleType ConnectionRule { get; }
        public abstract ConnectionState ConnectionState { get; }
        public abstract ReferenceValue DN { get; set; }
        public abstract Attrib this[string attributeName] { get; }
        public abstract ManagementAgent MA { get; }
        public abstract ValueCollection ObjectClass { get; set; }
        public abstract string ObjectType { get; }
        public abstract string RDN { get; set; }

        public abstract void CommitNewConnector();
        public abstract void Deprovision();

        // The real method returns AttributeNameEnumerator (not in stub); unverified here.
        public abstract IEnumerator GetEnumerator();

        public abstract override string ToString();
    }

    // MVEntry Class (abstract; protected constructor; IEnumerable)
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771192(v=vs.100)
    // Item: ff771797 (NoSuchAttributeException when the attribute is not in the schema);
    // ObjectID: ff771808; ObjectType: ff771810; ConnectedMAs: ff771795.
    public abstract class MVEntry : IEnumerable
    {
        protected MVEntry() { }

        public abstract ConnectedMACollection ConnectedMAs { get; }
        public abstract Attrib this[string attributeName] { get; }
        public abstract Guid ObjectID { get; }
        public abstract string ObjectType { get; }

        // Return type of the real method unverified.
        public abstract IEnumerator GetEnumerator();

        // Documented "Overridden"; abstract-ness unverified.
        public abstract override string ToString();
    }

    // ------------------------------------------------------------------ management agents

    // ManagementAgent Class (abstract)
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/identity-lifecycle-manager/ms696729(v=vs.85)
    // EscapeDNComponent(params string[] parts): forefront-2010/ff771507.
    // Not in stub: SuppressFullSyncWarning.
    public abstract class ManagementAgent
    {
        protected ManagementAgent() { }

        public abstract string Name { get; }

        public abstract ReferenceValue CreateDN(string DN);   // parameter name unverified
        public abstract ReferenceValue CreateDN(Value DN);    // parameter name unverified
        public abstract ReferenceValue EscapeDNComponent(params string[] parts);
        public abstract ReferenceValue EscapeDNComponent(params Value[] parts);   // parameter name unverified
        public abstract string[] UnescapeDNComponent(string component);          // signature unverified
        public abstract string NormalizeString(string value);                    // signature unverified
    }

    // ConnectedMA Class (abstract), derived from ManagementAgent
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771173(v=vs.100)
    public abstract class ConnectedMA : ManagementAgent
    {
        protected ConnectedMA() { }

        public abstract ConnectorCollection Connectors { get; }
    }

    // ConnectedMACollection Class (abstract; protected constructor; IEnumerable)
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/identity-lifecycle-manager/ms694681(v=vs.85)
    // Indexed by management agent name (example: mventry.ConnectedMAs["Fabrikam HR MA"], forefront-2010r2/ff771749).
    // DeprovisionAll: identity-lifecycle-manager/ms694694.
    public abstract class ConnectedMACollection : IEnumerable
    {
        protected ConnectedMACollection() { }

        public abstract int Count { get; }
        public abstract ConnectedMA this[string MA] { get; }   // parameter name unverified

        public abstract void DeprovisionAll();
        public abstract IEnumerator GetEnumerator();   // real return type ConnectedMACollectionEnumerator; unverified
    }

    // ConnectorCollection Class (abstract; protected constructor; IEnumerable)
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771176(v=vs.100)
    // StartNewConnector(string objectType): forefront-2010/ff771427;
    // (string objectType, string[] objectClass): identity-lifecycle-manager/ms695314;
    // (string objectType, ValueCollection objectClass): identity-lifecycle-manager/ms695320.
    public abstract class ConnectorCollection : IEnumerable
    {
        protected ConnectorCollection() { }

        public abstract ConnectorCollectionByDN ByDN { get; }
        public abstract ConnectorCollectionByIndex ByIndex { get; }
        public abstract int Count { get; }

        public abstract void DeprovisionAll();
        public abstract CSEntry StartNewConnector(string objectType);
        public abstract CSEntry StartNewConnector(string objectType, string[] objectClass);
        public abstract CSEntry StartNewConnector(string objectType, ValueCollection objectClass);
        public abstract IEnumerator GetEnumerator();   // real return type ConnectorCollectionEnumerator; unverified
    }

    // ConnectorCollectionByDN Class (abstract; protected constructor)
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010r2/ff771749(v=vs.100)
    public abstract class ConnectorCollectionByDN
    {
        protected ConnectorCollectionByDN() { }

        public abstract CSEntry this[ReferenceValue DN] { get; }
    }

    // ConnectorCollectionByIndex Class (abstract; protected constructor) — member signature unverified.
    // Listed in https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771176(v=vs.100)
    public abstract class ConnectorCollectionByIndex
    {
        protected ConnectorCollectionByIndex() { }

        public abstract CSEntry this[int index] { get; }   // unverified
    }

    // TransactionPropertyCollection Class (abstract; protected constructor)
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771957(v=vs.100)
    // Members: ff771218; Keys: ff771832; Values: ff771833. Add/Contains/Remove parameter names and
    // the indexer parameter name are unverified.
    public abstract class TransactionPropertyCollection
    {
        protected TransactionPropertyCollection() { }

        public abstract int Count { get; }
        public abstract object this[string name] { get; set; }
        public abstract ICollection Keys { get; }
        public abstract ICollection Values { get; }

        public abstract void Add(string name, object data);
        public abstract void Clear();
        public abstract bool Contains(string name);
        public abstract void Remove(string name);
    }

    // ------------------------------------------------------------------ Utils

    // What the test host supplies behind the static Utils members. Internal: visible only to the
    // MmsTestHost assembly (InternalsVisibleTo above), never to code compiled against this stub.
    internal interface IMmsHostBackend
    {
        string ExtensionsDirectory { get; }
        string WorkingDirectory { get; }
        bool InPreviewMode { get; }
        TransactionPropertyCollection TransactionProperties { get; }
        ValueCollection NewValueCollection();
        MVEntry[] FindMVEntries(string attributeName, object value, int maxResults);
    }

    // Utils Class (public class, protected constructor, static members)
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771224(v=vs.100)
    // Constructor: forefront-2010/gg502373 (protected, EditorBrowsable(Never));
    // TransactionProperties: forefront-2010r2/ff771846; WorkingDirectory: identity-lifecycle-manager/ms699179;
    // ValueCollection overloads: forefront-2010/ff771744 (the overload list names "Byte[]" twice; the
    // second is taken to be byte[][] — unverified); FindMVEntries(string attributeName, Value value):
    // forefront-2010/ff771614; (string, bool): ff771622; (…, int maxResults): identity-lifecycle-manager/ms698830.
    // Not in stub: MAs, ConvertSidToString and the other conversion helpers, CreateAnchorAttribute,
    // CreateAttributeChange, CreateCSEntryChange*, GetAttributeType*, IsTypeCompatible.
    public class Utils
    {
        internal static IMmsHostBackend Backend;

        [System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
        protected Utils() { }

        static IMmsHostBackend Host
        {
            get
            {
                if (Backend == null)
                    throw new InvalidOperationException("Microsoft.MetadirectoryServices stub: no synchronization host is installed");
                return Backend;
            }
        }

        public static string ExtensionsDirectory { get { return Host.ExtensionsDirectory; } }
        public static string WorkingDirectory { get { return Host.WorkingDirectory; } }
        public static bool InPreviewMode { get { return Host.InPreviewMode; } }   // type unverified
        public static TransactionPropertyCollection TransactionProperties { get { return Host.TransactionProperties; } }

        static ValueCollection Fresh(object value)
        {
            if (value == null) throw new ArgumentNullException("value");
            return Host.NewValueCollection();
        }

        public static ValueCollection ValueCollection(string value) { var c = Fresh(value); c.Add(value); return c; }
        public static ValueCollection ValueCollection(long value) { var c = Host.NewValueCollection(); c.Add(value); return c; }
        public static ValueCollection ValueCollection(bool value) { var c = Host.NewValueCollection(); c.Set(value); return c; }
        public static ValueCollection ValueCollection(byte[] value) { var c = Fresh(value); c.Add(value); return c; }
        public static ValueCollection ValueCollection(Value value) { var c = Fresh(value); c.Add(value); return c; }

        public static ValueCollection ValueCollection(string[] values)
        {
            var c = Fresh(values);
            foreach (var v in values) c.Add(v);
            return c;
        }

        public static ValueCollection ValueCollection(long[] values)
        {
            var c = Fresh(values);
            foreach (var v in values) c.Add(v);
            return c;
        }

        public static ValueCollection ValueCollection(byte[][] values)   // unverified overload
        {
            var c = Fresh(values);
            foreach (var v in values) c.Add(v);
            return c;
        }

        static MVEntry[] Find(string attributeName, object value, int maxResults)
        {
            if (attributeName == null) throw new ArgumentNullException("attributeName");
            if (value == null) throw new ArgumentNullException("value");
            if (maxResults <= 0) throw new ArgumentOutOfRangeException("maxResults");
            return Host.FindMVEntries(attributeName, value, maxResults);
        }

        public static MVEntry[] FindMVEntries(string attributeName, string value) { return Find(attributeName, value, int.MaxValue); }
        public static MVEntry[] FindMVEntries(string attributeName, string value, int maxResults) { return Find(attributeName, value, maxResults); }
        public static MVEntry[] FindMVEntries(string attributeName, long value) { return Find(attributeName, value, int.MaxValue); }
        public static MVEntry[] FindMVEntries(string attributeName, long value, int maxResults) { return Find(attributeName, value, maxResults); }
        public static MVEntry[] FindMVEntries(string attributeName, bool value) { return Find(attributeName, value, int.MaxValue); }
        public static MVEntry[] FindMVEntries(string attributeName, bool value, int maxResults) { return Find(attributeName, value, maxResults); }
        public static MVEntry[] FindMVEntries(string attributeName, byte[] value) { return Find(attributeName, value, int.MaxValue); }
        public static MVEntry[] FindMVEntries(string attributeName, byte[] value, int maxResults) { return Find(attributeName, value, maxResults); }
        public static MVEntry[] FindMVEntries(string attributeName, Value value) { return Find(attributeName, value, int.MaxValue); }
        public static MVEntry[] FindMVEntries(string attributeName, Value value, int maxResults) { return Find(attributeName, value, maxResults); }
    }

    // ------------------------------------------------------------------ exceptions

    // ExtensionException Class: public class : ApplicationException
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771931(v=vs.100)
    // Members (public and protected constructors): forefront-2010/ff771174
    [Serializable]
    public class ExtensionException : ApplicationException
    {
        public ExtensionException() { }
        public ExtensionException(string description) : base(description) { }
        public ExtensionException(string description, Exception innerException) : base(description, innerException) { }
        protected ExtensionException(SerializationInfo info, StreamingContext context) : base(info, context) { }
    }

    // DeclineMappingException Class: public sealed class : ExtensionException
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771971(v=vs.100)
    // Constructors: gg502285 (), gg502283 (string description), gg502252 (string description, Exception innerException)
    [Serializable]
    public sealed class DeclineMappingException : ExtensionException
    {
        public DeclineMappingException() { }
        public DeclineMappingException(string description) : base(description) { }
        public DeclineMappingException(string description, Exception innerException) : base(description, innerException) { }
    }

    // EntryPointNotImplementedException Class : ExtensionException (sealed-ness unverified)
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/identity-lifecycle-manager/ms695988(v=vs.85)
    // Constructors: forefront-2010/gg471216 (overload list), gg502255, gg502293
    [Serializable]
    public sealed class EntryPointNotImplementedException : ExtensionException
    {
        public EntryPointNotImplementedException() { }
        public EntryPointNotImplementedException(string description) : base(description) { }
        public EntryPointNotImplementedException(string description, Exception innerException) : base(description, innerException) { }
    }

    // UnexpectedDataException Class: public sealed class : ExtensionException
    // https://learn.microsoft.com/de-de/previous-versions/windows/desktop/forefront-2010/ff771995(v=vs.100)
    // Constructors: forefront-2010/gg502392 (overload list)
    [Serializable]
    public sealed class UnexpectedDataException : ExtensionException
    {
        public UnexpectedDataException() { }
        public UnexpectedDataException(string description) : base(description) { }
        public UnexpectedDataException(string description, Exception innerException) : base(description, innerException) { }
    }

    // MetadirectoryServicesException Class: public class : ApplicationException
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771986(v=vs.100)
    // Members (public and protected constructors): forefront-2010r2/ff771193
    [Serializable]
    public class MetadirectoryServicesException : ApplicationException
    {
        public MetadirectoryServicesException() { }
        public MetadirectoryServicesException(string message) : base(message) { }
        public MetadirectoryServicesException(string message, Exception innerException) : base(message, innerException) { }
        protected MetadirectoryServicesException(SerializationInfo info, StreamingContext context) : base(info, context) { }
    }

    // Shared shape of the attribute-named exceptions below (our own helper, not part of the API;
    // it is internal, so nothing compiled against the stub can see it).
    internal static class ExceptionText
    {
        internal static string For(string what, string attributeName)
        {
            return attributeName == null ? what : what + ": " + attributeName;
        }
    }

    // AttributeNotPresentException Class: public sealed class : MetadirectoryServicesException
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010r2/ff771914(v=vs.100)
    // "thrown when a rules extension accesses an attribute that is not present on an object".
    // Constructor (string attributeName): identity-lifecycle-manager/ms694647. The () and
    // (string, Exception) overloads are unverified.
    [Serializable]
    public sealed class AttributeNotPresentException : MetadirectoryServicesException
    {
        readonly string attributeName;
        public AttributeNotPresentException() { }
        public AttributeNotPresentException(string attributeName)
            : base(ExceptionText.For("attribute is not present", attributeName)) { this.attributeName = attributeName; }
        public AttributeNotPresentException(string attributeName, Exception innerException)
            : base(ExceptionText.For("attribute is not present", attributeName), innerException) { this.attributeName = attributeName; }
        public string AttributeName { get { return attributeName; } }
    }

    // NoSuchAttributeException Class: public sealed class : MetadirectoryServicesException
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771991(v=vs.100)
    // "thrown when an attribute that is requested is not in the schema".
    // Constructors: forefront-2010r2/gg502384 ((), (string attributeName), (string, Exception)).
    [Serializable]
    public sealed class NoSuchAttributeException : MetadirectoryServicesException
    {
        readonly string attributeName;
        public NoSuchAttributeException() { }
        public NoSuchAttributeException(string attributeName)
            : base(ExceptionText.For("no such attribute in the schema", attributeName)) { this.attributeName = attributeName; }
        public NoSuchAttributeException(string attributeName, Exception innerException)   // first parameter name unverified
            : base(ExceptionText.For("no such attribute in the schema", attributeName), innerException) { this.attributeName = attributeName; }
        public string AttributeName { get { return attributeName; } }
    }

    // NoSuchAttributeInObjectTypeException Class: public sealed class : MetadirectoryServicesException
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771992(v=vs.100)
    // Constructor parameter names unverified.
    [Serializable]
    public sealed class NoSuchAttributeInObjectTypeException : MetadirectoryServicesException
    {
        readonly string attributeName;
        public NoSuchAttributeInObjectTypeException() { }
        public NoSuchAttributeInObjectTypeException(string attributeName)
            : base(ExceptionText.For("attribute is not a member of the object type", attributeName)) { this.attributeName = attributeName; }
        public NoSuchAttributeInObjectTypeException(string attributeName, Exception innerException)
            : base(ExceptionText.For("attribute is not a member of the object type", attributeName), innerException) { this.attributeName = attributeName; }
        public string AttributeName { get { return attributeName; } }
    }

    // TooManyValuesException Class : MetadirectoryServicesException (sealed-ness unverified)
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/identity-lifecycle-manager/ms698775(v=vs.85)
    // "thrown when more than one value is added to a single-valued attribute"; constructors () and
    // (string attributeName); the (string, Exception) overload is unverified.
    [Serializable]
    public sealed class TooManyValuesException : MetadirectoryServicesException
    {
        readonly string attributeName;
        public TooManyValuesException() { }
        public TooManyValuesException(string attributeName)
            : base(ExceptionText.For("more than one value for a single-valued attribute", attributeName)) { this.attributeName = attributeName; }
        public TooManyValuesException(string attributeName, Exception innerException)
            : base(ExceptionText.For("more than one value for a single-valued attribute", attributeName), innerException) { this.attributeName = attributeName; }
        public string AttributeName { get { return attributeName; } }
    }

    // AttributeNotInInclusionListException Class : MetadirectoryServicesException (sealed-ness unverified)
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/forefront-2010/ff771164(v=vs.100)
    [Serializable]
    public sealed class AttributeNotInInclusionListException : MetadirectoryServicesException
    {
        readonly string attributeName;
        public AttributeNotInInclusionListException() { }
        public AttributeNotInInclusionListException(string attributeName)
            : base(ExceptionText.For("attribute is not selected for use", attributeName)) { this.attributeName = attributeName; }
        public AttributeNotInInclusionListException(string attributeName, Exception innerException)
            : base(ExceptionText.For("attribute is not selected for use", attributeName), innerException) { this.attributeName = attributeName; }
        public string AttributeName { get { return attributeName; } }
    }

    // AttributeNotDefinedAsSourceException : MetadirectoryServicesException — named in CSEntry.Item
    // (forefront-2010/ff771804) and MVEntry.ObjectID (ff771808). Constructors and sealed-ness unverified.
    [Serializable]
    public sealed class AttributeNotDefinedAsSourceException : MetadirectoryServicesException
    {
        readonly string attributeName;
        public AttributeNotDefinedAsSourceException() { }
        public AttributeNotDefinedAsSourceException(string attributeName)
            : base(ExceptionText.For("attribute is not defined as a source of this flow", attributeName)) { this.attributeName = attributeName; }
        public string AttributeName { get { return attributeName; } }
    }

    // NoSuchObjectTypeException : MetadirectoryServicesException
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/identity-lifecycle-manager/ms698344(v=vs.85)
    // Constructor parameter name and sealed-ness unverified.
    [Serializable]
    public sealed class NoSuchObjectTypeException : MetadirectoryServicesException
    {
        public NoSuchObjectTypeException() { }
        public NoSuchObjectTypeException(string objectType)
            : base(ExceptionText.For("no such object type in the schema", objectType)) { }
    }

    // ObjectAlreadyExistsException : MetadirectoryServicesException — named in
    // CSEntry.CommitNewConnector (forefront-2010/ff771451). Constructors and sealed-ness unverified.
    [Serializable]
    public sealed class ObjectAlreadyExistsException : MetadirectoryServicesException
    {
        public ObjectAlreadyExistsException() { }
        public ObjectAlreadyExistsException(string message) : base(message) { }
    }
}
