using System.Reflection;

namespace SendWorkflows.Storage;

/// <summary>
/// The schema's versioned SQL scripts, one set per engine (<c>Storage/Migrations/sqlite</c>,
/// <c>…/postgres</c>), embedded in the app. Each store applies its own set, in order, once.
/// </summary>
public static class MigrationScripts
{
    /// <summary>The versioned scripts shipped in the assembly for one engine, in order.</summary>
    public static IEnumerable<(long Version, string Name, string Sql)> For(string engine)
    {
        var assembly = Assembly.GetExecutingAssembly();
        var prefix = $"migrations/{engine}/";
        // Resource names carry the build machine's path separator; compare them with '/'.
        var scripts = assembly.GetManifestResourceNames()
            .Select(resource => (Resource: resource, Name: resource.Replace('\\', '/')))
            .Where(r => r.Name.StartsWith(prefix, StringComparison.Ordinal))
            .OrderBy(r => r.Name, StringComparer.Ordinal)
            .ToList();
        if (scripts.Count == 0)
        {
            throw new InvalidOperationException($"No {engine} migrations are embedded in the app; the build is broken.");
        }

        foreach (var (resource, path) in scripts)
        {
            var name = path[prefix.Length..^".sql".Length];
            var version = long.Parse(name.Split('_')[0], System.Globalization.CultureInfo.InvariantCulture);
            using var reader = new StreamReader(assembly.GetManifestResourceStream(resource)!);
            yield return (version, name, reader.ReadToEnd());
        }
    }
}
