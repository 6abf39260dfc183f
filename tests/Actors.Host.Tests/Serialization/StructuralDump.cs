using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text;
using Akka.Actor;

namespace IommuActors.Host.Tests.Serialization;

/// <summary>
/// A canonical text form of an object graph: equal dumps mean every public field and element
/// survived. Sets and dictionaries are sorted, so hash order does not matter.
/// </summary>
public static class StructuralDump
{
    public static string Of(object? value)
    {
        var text = new StringBuilder();
        Write(text, value, 0);
        return text.ToString();
    }

    private static void Write(StringBuilder text, object? value, int depth)
    {
        if (depth > 32) { text.Append('…'); return; }
        switch (value)
        {
            case null: text.Append("null"); return;
            case string s: text.Append('"').Append(s).Append('"'); return;
            case IActorRef actor: text.Append("ref:").Append(actor.Path); return;
            case IFormattable f when value.GetType().IsPrimitive || value is decimal or Guid or TimeSpan or DateTime or DateTimeOffset || value.GetType().IsEnum:
                text.Append(value.GetType().Name).Append(':').Append(f.ToString(null, CultureInfo.InvariantCulture)); return;
            case bool or char: text.Append(value); return;
            case IDictionary dictionary:
                text.Append('{');
                var entries = new List<string>();
                // The non-generic enumerator yields DictionaryEntry for every dictionary kind,
                // immutable ones included (their generic enumerator yields KeyValuePair).
                var walker = dictionary.GetEnumerator();
                while (walker.MoveNext())
                    entries.Add(Of(walker.Key) + "=>" + Of(walker.Value));
                foreach (var entry in entries.OrderBy(e => e, StringComparer.Ordinal))
                    text.Append(entry).Append(';');
                text.Append('}'); return;
            case IEnumerable sequence:
                var items = sequence.Cast<object?>().Select(Of);
                if (IsUnordered(value.GetType()))
                    items = items.OrderBy(i => i, StringComparer.Ordinal);
                text.Append('[').AppendJoin(',', items).Append(']'); return;
        }
        var type = value.GetType();
        text.Append(type.Name).Append('(');
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                     .Where(p => p.GetIndexParameters().Length == 0).OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            text.Append(property.Name).Append('=');
            Write(text, property.GetValue(value), depth + 1);
            text.Append(',');
        }
        foreach (var field in type.GetFields(BindingFlags.Public | BindingFlags.Instance).OrderBy(f => f.Name, StringComparer.Ordinal))
        {
            text.Append(field.Name).Append('=');
            Write(text, field.GetValue(value), depth + 1);
            text.Append(',');
        }
        text.Append(')');
    }

    private static bool IsUnordered(Type type) => type.GetInterfaces().Any(i =>
        i.IsGenericType && (i.GetGenericTypeDefinition() == typeof(ISet<>)
                            || i.GetGenericTypeDefinition() == typeof(IReadOnlySet<>)
                            || i.GetGenericTypeDefinition() == typeof(System.Collections.Immutable.IImmutableSet<>)));
}
