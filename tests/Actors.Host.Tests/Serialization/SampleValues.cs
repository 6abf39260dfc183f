using System.Collections;
using System.Collections.Immutable;
using System.Reflection;
using Akka.Actor;

namespace IommuActors.Host.Tests.Serialization;

/// <summary>
/// Builds an instance of any message, event or snapshot type with non-default sample values, so
/// that a round trip through a serializer shows whether every field survives.
/// </summary>
public sealed class SampleValues(IActorRef sampleActor)
{
    private const int MaxDepth = 8;
    private int _counter = 1;

    public object Create(Type type) => Create(type, 0)
        ?? throw new InvalidOperationException($"No sample value for {type}.");

    private object? Create(Type type, int depth)
    {
        if (depth > MaxDepth)
            return type.IsValueType ? Activator.CreateInstance(type) : null;
        var n = _counter++;
        if (Nullable.GetUnderlyingType(type) is { } inner)
            return Create(inner, depth);
        // A function in a message (an IOAS command's Answer) is for a local child and never crosses a node: left out.
        if (typeof(Delegate).IsAssignableFrom(type))
            return null;
        if (type == typeof(string)) return $"sample-{n}";
        if (type == typeof(bool)) return true;
        if (type == typeof(byte)) return (byte)(0x10 + n % 200);
        if (type == typeof(sbyte)) return (sbyte)(n % 100 + 1);
        if (type == typeof(short)) return (short)(1000 + n);
        if (type == typeof(ushort)) return (ushort)(2000 + n);
        if (type == typeof(int)) return 100_000 + n;
        if (type == typeof(uint)) return 200_000u + (uint)n;
        if (type == typeof(long)) return 0x1_0000_0000L + n;
        if (type == typeof(ulong)) return 0xfee0_0000_0000UL + (ulong)n;
        if (type == typeof(double)) return 1.5 + n;
        if (type == typeof(float)) return 2.5f + n;
        if (type == typeof(decimal)) return 3.5m + n;
        if (type == typeof(char)) return (char)('a' + n % 26);
        if (type == typeof(Guid)) return new Guid(n, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
        if (type == typeof(TimeSpan)) return TimeSpan.FromMilliseconds(1500 + n);
        if (type == typeof(DateTime)) return new DateTime(2026, 11, 22, 1, 2, 3, DateTimeKind.Utc).AddSeconds(n);
        if (type == typeof(DateTimeOffset)) return new DateTimeOffset(2026, 11, 22, 1, 2, 3, TimeSpan.Zero).AddSeconds(n);
        if (type.IsEnum) return LastEnumValue(type);
        if (typeof(IActorRef).IsAssignableFrom(type)) return sampleActor;
        if (type == typeof(byte[])) return new byte[] { 1, 2, 3, (byte)n };
        if (type.IsArray)
        {
            var element = type.GetElementType()!;
            var array = Array.CreateInstance(element, 2);
            array.SetValue(Create(element, depth + 1), 0);
            array.SetValue(Create(element, depth + 1), 1);
            return array;
        }
        if (type.IsGenericType && CreateCollection(type, depth) is { } collection)
            return collection;
        if (type.IsAbstract || type.IsInterface)
            return Create(ConcreteTypeFor(type), depth);
        return Construct(type, depth);
    }

    private object Construct(Type type, int depth)
    {
        var constructor = type.GetConstructors(BindingFlags.Public | BindingFlags.Instance)
            .OrderByDescending(c => c.GetParameters().Length)
            .FirstOrDefault();
        if (constructor is null)
        {
            if (type.IsValueType)
                return Activator.CreateInstance(type)!;
            var singleton = type.GetProperty("Instance", BindingFlags.Public | BindingFlags.Static)?.GetValue(null);
            return singleton ?? throw new InvalidOperationException($"{type} has no public constructor.");
        }
        var arguments = constructor.GetParameters().Select(p => Create(p.ParameterType, depth + 1)).ToArray();
        return constructor.Invoke(arguments);
    }

    private object? CreateCollection(Type type, int depth)
    {
        var definition = type.GetGenericTypeDefinition();
        var args = type.GetGenericArguments();
        if (args.Length == 1)
        {
            var items = new[] { Create(args[0], depth + 1), Create(args[0], depth + 1) };
            var typed = Array.CreateInstance(args[0], items.Length);
            for (var i = 0; i < items.Length; i++)
                typed.SetValue(items[i], i);
            if (definition == typeof(ImmutableArray<>))
                return Invoke(typeof(ImmutableArray), nameof(ImmutableArray.CreateRange), args, typed);
            if (definition == typeof(ImmutableList<>) || definition == typeof(IImmutableList<>)
                || definition == typeof(IReadOnlyList<>) || definition == typeof(IReadOnlyCollection<>)
                || definition == typeof(IEnumerable<>) || definition == typeof(IList<>) || definition == typeof(ICollection<>))
                return Invoke(typeof(ImmutableList), nameof(ImmutableList.CreateRange), args, typed);
            if (definition == typeof(ImmutableHashSet<>) || definition == typeof(IImmutableSet<>) || definition == typeof(IReadOnlySet<>))
                return Invoke(typeof(ImmutableHashSet), nameof(ImmutableHashSet.CreateRange), args, typed);
            if (definition == typeof(ImmutableSortedSet<>))
                return Invoke(typeof(ImmutableSortedSet), nameof(ImmutableSortedSet.CreateRange), args, typed);
            if (definition == typeof(ImmutableQueue<>))
                return Invoke(typeof(ImmutableQueue), nameof(ImmutableQueue.CreateRange), args, typed);
            if (definition == typeof(List<>) || definition == typeof(HashSet<>))
                return Activator.CreateInstance(type, typed);
        }
        if (args.Length == 2)
        {
            var pairType = typeof(KeyValuePair<,>).MakeGenericType(args);
            var pairs = Array.CreateInstance(pairType, 1);
            pairs.SetValue(Activator.CreateInstance(pairType, Create(args[0], depth + 1), Create(args[1], depth + 1)), 0);
            if (definition == typeof(ImmutableDictionary<,>) || definition == typeof(IImmutableDictionary<,>)
                || definition == typeof(IReadOnlyDictionary<,>) || definition == typeof(IDictionary<,>))
                return Invoke(typeof(ImmutableDictionary), nameof(ImmutableDictionary.CreateRange), args, pairs);
            if (definition == typeof(ImmutableSortedDictionary<,>))
                return Invoke(typeof(ImmutableSortedDictionary), nameof(ImmutableSortedDictionary.CreateRange), args, pairs);
            if (definition == typeof(Dictionary<,>) || definition == typeof(SortedDictionary<,>))
            {
                var dictionary = (IDictionary)Activator.CreateInstance(type)!;
                foreach (var pair in pairs)
                    dictionary.Add(pairType.GetProperty("Key")!.GetValue(pair)!, pairType.GetProperty("Value")!.GetValue(pair));
                return dictionary;
            }
        }
        return null;
    }

    private static object Invoke(Type factory, string method, Type[] typeArguments, object argument)
    {
        var candidate = factory.GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(m => m.Name == method && m.IsGenericMethodDefinition
                && m.GetGenericArguments().Length == typeArguments.Length && m.GetParameters().Length == 1)
            .Select(m => m.MakeGenericMethod(typeArguments))
            .First(m => m.GetParameters()[0].ParameterType.IsInstanceOfType(argument));
        return candidate.Invoke(null, [argument])!;
    }

    private static object LastEnumValue(Type type)
    {
        var values = Enum.GetValues(type);
        return values.Length == 0 ? Activator.CreateInstance(type)! : values.GetValue(values.Length - 1)!;
    }

    private static Type ConcreteTypeFor(Type type) =>
        type.Assembly.GetTypes().FirstOrDefault(t => !t.IsAbstract && !t.IsInterface && type.IsAssignableFrom(t)
            && !t.ContainsGenericParameters)
        ?? throw new InvalidOperationException($"No concrete type for {type} in {type.Assembly.GetName().Name}.");
}
