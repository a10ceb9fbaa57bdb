using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using SendWorkflows.Clients;
using SendWorkflows.Http;

namespace SendWorkflows.Programmes;

public static class ProgrammeEndpoints
{
    /// <summary>A programme version as the API shows it: the document as stored, with its version.</summary>
    public sealed record ProgrammeView(string Id, int Version, DateTimeOffset CreatedAt, JsonNode Definition);

    public static RouteGroupBuilder MapProgrammes(this RouteGroupBuilder api)
    {
        var group = api.MapGroup("/programmes").WithTags("Programmes");
        group.MapPut("/{programmeId}", PutAsync)
            .Accepts<ProgrammeDocument>("application/json")
            .WithSummary("Create a new version of a programme definition (admin). An unchanged document creates no version.");
        group.MapGet("/{programmeId}", GetAsync).WithSummary("The current definition and its version.");
        return group;
    }

    private static async Task<Results<Created<ProgrammeView>, Ok<ProgrammeView>, ProblemHttpResult>> PutAsync(
        string programmeId, HttpContext http, ProgrammeCatalogue catalogue, CancellationToken ct)
    {
        if (!http.Caller().IsAdmin)
        {
            return Problems.Forbidden("Authorization", "only an admin key can define programmes.");
        }

        var (document, problem) = await JsonBody.ReadAsync<ProgrammeDocument>(http.Request, ct, options: ProgrammeDocument.SerializerOptions);
        if (problem is not null)
        {
            return problem;
        }

        var errors = new FieldErrors();
        var definition = document!.Validate(programmeId, errors);
        if (definition is null)
        {
            return Problems.Invalid(errors);
        }

        var (programme, created) = await catalogue.PublishAsync(definition, document, ct);
        var view = View(programme);
        return created
            ? TypedResults.Created($"/api/v1/programmes/{programme.Definition.Id}", view)
            : TypedResults.Ok(view);
    }

    private static async Task<Results<Ok<ProgrammeView>, ProblemHttpResult>> GetAsync(
        string programmeId, ProgrammeCatalogue catalogue, CancellationToken ct)
    {
        var programme = await catalogue.GetCurrentAsync(programmeId, ct);
        return programme is null ? Problems.NotFound("programme", "programmeId", programmeId) : TypedResults.Ok(View(programme));
    }

    private static ProgrammeView View(ProgrammeVersion programme) =>
        new(programme.Definition.Id, programme.Version, programme.CreatedAt, JsonNode.Parse(programme.DocumentJson)!);
}
