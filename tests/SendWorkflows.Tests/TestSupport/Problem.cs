using System.Net;
using System.Text.Json;

namespace SendWorkflows.Tests.TestSupport;

public static class Problem
{
    /// <summary>Asserts an RFC 9457 problem response with the status, naming the field, and returns its body.</summary>
    public static async Task<JsonElement> AssertAsync(HttpResponseMessage response, HttpStatusCode status, string? field = null)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonDocument.Parse(text).RootElement;
        Assert.Equal((int)status, body.GetProperty("status").GetInt32());
        if (field is not null)
        {
            Assert.True(body.TryGetProperty("errors", out var errors) && errors.TryGetProperty(field, out _),
                $"expected the problem to name '{field}': {text}");
        }

        return body;
    }
}
