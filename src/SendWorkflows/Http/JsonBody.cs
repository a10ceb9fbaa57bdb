using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;

namespace SendWorkflows.Http;

/// <summary>
/// Reads request bodies so that every failure — wrong media type, too large, malformed JSON, a value
/// of the wrong type — becomes a problem response naming the field, never an exception.
/// </summary>
public static class JsonBody
{
    /// <summary>Bodies larger than this are refused with 413 unless a route sets its own limit.</summary>
    public const long DefaultLimitBytes = 256 * 1024;

    public static readonly JsonSerializerOptions Options = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        };
        Configure(options);
        return options;
    }

    /// <summary>
    /// The API's JSON conventions: camelCase, snake_case enum values, explicit UTC offsets, and a
    /// property given twice refused (which of the two was meant is anyone's guess).
    /// </summary>
    public static void Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.CamelCase;
        options.AllowDuplicateProperties = false;
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false));
        options.Converters.Add(new StrictDateTimeOffsetConverter());
        options.Converters.Add(new NoNulStringConverter());
    }

    public static bool IsJson(HttpRequest request) =>
        request.ContentType is { } type &&
        (type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) ||
         (type.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && type.Contains("+json", StringComparison.OrdinalIgnoreCase)));

    public static async Task<(T? Value, ProblemHttpResult? Problem)> ReadAsync<T>(
        HttpRequest request, CancellationToken ct, long limitBytes = DefaultLimitBytes, JsonSerializerOptions? options = null)
        where T : class
    {
        if (!IsJson(request))
        {
            return (null, Problems.Field("Content-Type", "must be application/json.", StatusCodes.Status415UnsupportedMediaType));
        }

        var (bytes, tooLarge) = await ReadLimitedAsync(request, limitBytes, ct);
        if (tooLarge is not null)
        {
            return (null, tooLarge);
        }

        return Parse<T>(bytes!, options ?? Options);
    }

    /// <summary>For routes whose body is optional: an empty body (whatever its Content-Type) is no body.</summary>
    public static async Task<(T? Value, ProblemHttpResult? Problem)> ReadOptionalAsync<T>(HttpRequest request, CancellationToken ct)
        where T : class
    {
        var (bytes, tooLarge) = await ReadLimitedAsync(request, DefaultLimitBytes, ct);
        if (tooLarge is not null)
        {
            return (null, tooLarge);
        }

        if (bytes!.All(b => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
        {
            return (null, null);
        }

        return IsJson(request)
            ? Parse<T>(bytes, Options)
            : (null, Problems.Field("Content-Type", "must be application/json.", StatusCodes.Status415UnsupportedMediaType));
    }

    public static (T? Value, ProblemHttpResult? Problem) Parse<T>(ReadOnlyMemory<byte> bytes, JsonSerializerOptions options)
        where T : class
    {
        try
        {
            var value = JsonSerializer.Deserialize<T>(bytes.Span, options);
            if (value is System.Text.Json.Nodes.JsonNode node)
            {
                // A JSON document read as nodes finds a repeated property only when it is walked: walk it here.
                _ = node.ToJsonString();
            }

            return value is null
                ? (null, Problems.Field("body", "must be a JSON object, not null."))
                : (value, null);
        }
        catch (ArgumentException)
        {
            return (null, Problems.Field("body", "gives a property more than once."));
        }
        catch (JsonException e) when (IsAboutAValue(e))
        {
            return (null, Problems.Field(FieldFromPath(e.Path), Describe(e)));
        }
        catch (JsonException e)
        {
            // Broken syntax is a problem with the whole body, wherever the reader noticed it.
            return (null, Problems.Field("body", $"is not valid JSON (near {e.Path ?? "$"}, line {e.LineNumber + 1}, byte {e.BytePositionInLine})."));
        }
    }

    /// <summary>Reads at most <paramref name="limitBytes"/>; more than that is a 413 problem.</summary>
    public static async Task<(byte[]? Bytes, ProblemHttpResult? Problem)> ReadLimitedAsync(
        HttpRequest request, long limitBytes, CancellationToken ct)
    {
        var tooLarge = TooLarge(limitBytes);
        if (request.ContentLength > limitBytes)
        {
            return (null, tooLarge);
        }

        if (request.ContentLength is { } length)
        {
            // The size is known (and within the limit): read straight into an array of that size, rather
            // than into a stream that grows by doubling and is copied at the end, three times the body at
            // its peak for a large batch. Only an authenticated caller's body is ever read.
            var body = new byte[length];
            return await ReadExactlyAsync(request, body, limitBytes, ct) is { } problem ? (null, problem) : (body, null);
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
            {
                if (buffer.Length + read > limitBytes)
                {
                    return (null, tooLarge);
                }

                buffer.Write(chunk, 0, read);
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, tooLarge);
        }

        return (buffer.ToArray(), null);
    }

    /// <summary>A request body in a buffer borrowed from the shared pool; disposing it gives the buffer back.</summary>
    public sealed class PooledBody : IDisposable
    {
        private byte[]? _rented;

        internal PooledBody(byte[] buffer, int length, bool rented)
        {
            _rented = rented ? buffer : null;
            Memory = buffer.AsMemory(0, length);
        }

        /// <summary>The body. Nothing read from it may be kept past <see cref="Dispose"/>.</summary>
        public ReadOnlyMemory<byte> Memory { get; private set; }

        public void Dispose()
        {
            Memory = default;
            if (Interlocked.Exchange(ref _rented, null) is { } buffer)
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>
    /// <see cref="ReadLimitedAsync"/> for a busy route with small bodies (a megabyte or so): a body of
    /// known length goes into a pooled buffer, so a stream of batches does not allocate a new
    /// large-object array each (every one counts towards a full collection).
    /// </summary>
    public static async Task<(PooledBody? Body, ProblemHttpResult? Problem)> ReadPooledAsync(HttpRequest request, int limitBytes, CancellationToken ct)
    {
        if (request.ContentLength is not { } length || length > limitBytes)
        {
            var (bytes, problem) = await ReadLimitedAsync(request, limitBytes, ct);
            return bytes is null ? (null, problem) : (new PooledBody(bytes, bytes.Length, rented: false), null);
        }

        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent((int)length);
        var body = new PooledBody(buffer, (int)length, rented: true);
        try
        {
            if (await ReadExactlyAsync(request, buffer.AsMemory(0, (int)length), limitBytes, ct) is { } problem)
            {
                body.Dispose();
                return (null, problem);
            }

            return (body, null);
        }
        catch
        {
            body.Dispose();
            throw;
        }
    }

    /// <summary>Reads exactly the body's Content-Length into <paramref name="into"/>; a problem if the body is cut short or too large.</summary>
    private static async Task<ProblemHttpResult?> ReadExactlyAsync(HttpRequest request, Memory<byte> into, long limitBytes, CancellationToken ct)
    {
        try
        {
            await request.Body.ReadExactlyAsync(into, ct);
            return null;
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TooLarge(limitBytes);
        }
        catch (EndOfStreamException)
        {
            return Problems.Field("body", $"ended before the {into.Length} bytes its Content-Length gives.");
        }
    }

    private static ProblemHttpResult TooLarge(long limitBytes) =>
        Problems.Field("body", $"must be at most {limitBytes} bytes.", StatusCodes.Status413PayloadTooLarge);

    /// <summary>Turns <c>$.staff.email</c> or <c>$[3].role</c> into <c>staff.email</c> or <c>[3].role</c>.</summary>
    public static string FieldFromPath(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$")
        {
            return "body";
        }

        var field = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
        return field.Length == 0 ? "body" : field;
    }

    /// <summary>Well-formed JSON with a value of the wrong type or shape, as opposed to broken syntax.</summary>
    private static bool IsAboutAValue(JsonException e) =>
        e.InnerException is FormatException or InvalidOperationException ||
        e.Message.Contains("could not be converted", StringComparison.Ordinal) ||
        e.Message.Contains("could not be mapped", StringComparison.Ordinal);

    private static string Describe(JsonException e)
    {
        // The serializer's own message repeats the path and names CLR types; keep only what helps a caller.
        if (e.InnerException is FormatException or InvalidOperationException && e.InnerException.Message.Length < 200)
        {
            return e.InnerException.Message;
        }

        if (e.Message.Contains("could not be mapped", StringComparison.Ordinal))
        {
            return "is not a recognised property.";
        }

        return "has the wrong type or format for this field.";
    }

    /// <summary>
    /// No text the API accepts may hold U+0000: no person, programme or session has one in a name, and
    /// PostgreSQL cannot store it in text, so it is refused here, naming the field, on either store.
    /// </summary>
    private sealed class NoNulStringConverter : JsonConverter<string>
    {
        public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.String)
            {
                // Numbers, objects and the like are not text: the same refusal the built-in reader gives.
                throw new JsonException("The JSON value could not be converted to System.String.");
            }

            var text = reader.GetString()!;
            // A NUL can only come escaped (\u0000): JSON refuses a raw one, so unescaped text needs no search.
            return reader.ValueIsEscaped && text.Contains('\0', StringComparison.Ordinal)
                ? throw new JsonException(null, null, null, null, new FormatException("must not contain a NUL character (\\u0000)."))
                : text;
        }

        public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);
    }

    /// <summary>Dates must carry an explicit offset: a timestamp without one would be read in the server's zone.</summary>
    private sealed class StrictDateTimeOffsetConverter : JsonConverter<DateTimeOffset>
    {
        public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            // The common case (every stored date, most sent ones) read in place: ISO 8601 with an offset,
            // unescaped. Anything else takes the general parser below, which says what is wrong.
            if (reader.TokenType == JsonTokenType.String && !reader.ValueIsEscaped && !reader.HasValueSequence &&
                HasOffset(reader.ValueSpan) && reader.TryGetDateTimeOffset(out var parsed))
            {
                return parsed;
            }

            if (reader.TokenType == JsonTokenType.String &&
                reader.GetString() is { } text &&
                HasOffset(text) &&
                DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var value))
            {
                return value;
            }

            throw new JsonException("must be an ISO 8601 date-time with an offset, such as 2026-11-22T09:30:00Z.",
                null, null, null, new FormatException("must be an ISO 8601 date-time with an offset, such as 2026-11-22T09:30:00Z."));
        }

        public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options)
        {
            // Formatted in place (every stored state and event carries dates), as ToString would format it.
            Span<char> text = stackalloc char[40];
            if (value.ToUniversalTime().TryFormat(text, out var written, WireFormat, CultureInfo.InvariantCulture))
            {
                writer.WriteStringValue(text[..written]);
            }
            else
            {
                writer.WriteStringValue(value.ToUniversalTime().ToString(WireFormat, CultureInfo.InvariantCulture));
            }
        }

        private const string WireFormat = "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'";

        private static bool HasOffset(ReadOnlySpan<byte> text) =>
            text.Length > 10 && (text[^1] == (byte)'Z' || text[^1] == (byte)'z' ||
                                 (text.Length > 6 && (text[^6] == (byte)'+' || text[^6] == (byte)'-') && text[^3] == (byte)':'));

        private static bool HasOffset(string text) =>
            text.Length > 10 && (text.EndsWith('Z') || text.EndsWith('z') ||
                                 (text.Length > 6 && (text[^6] == '+' || text[^6] == '-') && text[^3] == ':'));
    }
}
