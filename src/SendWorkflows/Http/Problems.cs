using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace SendWorkflows.Http;

/// <summary>
/// The one error shape of the API: RFC 9457 problem details. Every problem about input carries an
/// <c>errors</c> map from field name to messages, so a caller can tell which field to fix.
/// </summary>
public static class Problems
{
    public static ProblemHttpResult Invalid(FieldErrors errors, int status = StatusCodes.Status400BadRequest) =>
        TypedResults.Problem(new HttpValidationProblemDetails(errors.ToDictionary())
        {
            Status = status,
            Title = status == StatusCodes.Status422UnprocessableEntity
                ? "The request refers to something that does not exist or cannot be used."
                : "The request is not valid.",
            Detail = errors.Summary(),
        });

    public static ProblemHttpResult Field(string field, string message, int status = StatusCodes.Status400BadRequest)
    {
        var errors = new FieldErrors();
        errors.Add(field, message);
        return Invalid(errors, status);
    }

    public static ProblemHttpResult NotFound(string what, string field, string id) =>
        WithTitle(Field(field, $"no {what} '{id}' was found.", StatusCodes.Status404NotFound), $"The {what} was not found.");

    public static ProblemHttpResult Conflict(string field, string message) =>
        WithTitle(Field(field, message, StatusCodes.Status409Conflict), "The request conflicts with the current state.");

    public static ProblemHttpResult Forbidden(string field, string message) =>
        WithTitle(Field(field, message, StatusCodes.Status403Forbidden), "This API key may not do that.");

    /// <summary>
    /// Writes a problem from middleware (authentication, idempotency). It is application/problem+json
    /// even when the request's Accept asks only for something else, such as a report as text/csv:
    /// the framework's writer declines those, and declining must not become a 500.
    /// </summary>
    public static async Task WriteAsync(HttpContext http, IProblemDetailsService problems, ProblemDetails details)
    {
        if (!await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = http, ProblemDetails = details }))
        {
            await TypedResults.Problem(details).ExecuteAsync(http);
        }
    }

    private static ProblemHttpResult WithTitle(ProblemHttpResult result, string title)
    {
        result.ProblemDetails.Title = title;
        return result;
    }
}
