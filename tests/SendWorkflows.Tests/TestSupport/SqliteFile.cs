using System.Globalization;
using Microsoft.Data.Sqlite;

namespace SendWorkflows.Tests.TestSupport;

/// <summary>Reads a store's file directly, outside the app, to check what was (and was not) stored.</summary>
public static class SqliteFile
{
    public static string Text(string db, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={db};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToString(command.ExecuteScalar(), CultureInfo.InvariantCulture)!;
    }

    public static long Long(string db, string sql) => long.Parse(Text(db, sql), CultureInfo.InvariantCulture);

    /// <summary>Changes the file behind the app's back, to stage damage or leftovers a test needs.</summary>
    public static void Execute(string db, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={db};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
