namespace SendWorkflows.Http;

/// <summary>Validation messages keyed by the JSON path of the field they are about (<c>staff.email</c>, <c>modules[2].id</c>).</summary>
public sealed class FieldErrors
{
    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

    public bool Any => _errors.Count > 0;

    public void Add(string field, string message)
    {
        if (!_errors.TryGetValue(field, out var list))
        {
            _errors[field] = list = [];
        }

        list.Add(message);
    }

    /// <summary>A required piece of text: trimmed, present, at most <paramref name="maxLength"/> characters, no control characters; null (and an error) otherwise.</summary>
    public string? RequiredText(string? value, string field, int maxLength)
    {
        var trimmed = value?.Trim();
        if (string.IsNullOrEmpty(trimmed))
        {
            Add(field, "is required.");
            return null;
        }

        if (trimmed.Length > maxLength)
        {
            Add(field, $"must be at most {maxLength} characters.");
            return null;
        }

        if (trimmed.Any(char.IsControl))
        {
            Add(field, "must not contain control characters.");
            return null;
        }

        return trimmed;
    }

    public IDictionary<string, string[]> ToDictionary() =>
        _errors.ToDictionary(e => e.Key, e => e.Value.ToArray(), StringComparer.Ordinal);

    public string Summary() =>
        string.Join(" ", _errors.Select(e => $"{e.Key} {string.Join(" ", e.Value)}"));
}
