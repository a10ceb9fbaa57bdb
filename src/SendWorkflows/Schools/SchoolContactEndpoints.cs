using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using SendWorkflows.Clients;
using SendWorkflows.Http;
using SendWorkflows.Storage;
using SendWorkflows.Workflow;

namespace SendWorkflows.Schools;

/// <summary>
/// The people at a school who receive its weekly digest (a head, a SENCO). An admin key manages any
/// school's contacts; a school's key only its own, and another school's look exactly like a school
/// that does not exist (404), as with enrolments.
/// </summary>
public static class SchoolContactEndpoints
{
    [JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
    public sealed record ContactBody(string? Name, string? Email);

    public sealed record ContactView(Guid Id, string SchoolUrn, string Name, string Email, DateTimeOffset CreatedAt);

    public sealed record ContactList(IReadOnlyList<ContactView> Contacts);

    /// <summary>A digest goes to a few leads, not to the whole staff room.</summary>
    public const int MaxContactsPerSchool = 20;

    private const int MaxNameLength = 200;
    private const int MaxEmailLength = 254;

    public static RouteGroupBuilder MapSchoolContacts(this RouteGroupBuilder api)
    {
        var group = api.MapGroup("/schools/{urn}/contacts").WithTags("Schools");
        group.MapPost("/", AddAsync).Accepts<ContactBody>("application/json")
            .WithSummary("Add a contact who receives the school's weekly digest; the same address again returns the existing contact (admin, the school).");
        group.MapGet("/", ListAsync).WithSummary("The school's digest contacts (admin, the school).");
        group.MapDelete("/{id}", RemoveAsync).WithSummary("Remove a digest contact (admin, the school).");
        return group;
    }

    private static async Task<Results<Created<ContactView>, Ok<ContactView>, ProblemHttpResult>> AddAsync(
        string urn, HttpContext http, IWorkflowStore store, SchoolDigest digest, TimeProvider clock, CancellationToken ct)
    {
        if (Access(urn, http.Caller()) is { } denied)
        {
            return denied;
        }

        var (body, problem) = await JsonBody.ReadAsync<ContactBody>(http.Request, ct);
        if (problem is not null)
        {
            return problem;
        }

        var errors = new FieldErrors();
        var name = errors.RequiredText(body!.Name, "name", MaxNameLength);
        var email = errors.RequiredText(body.Email, "email", MaxEmailLength);
        if (email is not null && !EmailAddresses.IsValid(email))
        {
            errors.Add("email", EmailAddresses.Expected);
        }

        if (errors.Any)
        {
            return Problems.Invalid(errors);
        }

        var now = Moments.Truncate(clock.GetUtcNow());
        SchoolContact contact;
        await using (var tx = await store.BeginAsync(ct))
        {
            // Inside the write, so two requests at once can neither both add the address nor pass the limit.
            if (await tx.FindSchoolContactByEmailAsync(urn, email!) is { } existing)
            {
                return TypedResults.Ok(View(existing));
            }

            if ((await tx.SchoolContactsAsync(urn)).Count >= MaxContactsPerSchool)
            {
                return Problems.Field("email",
                    $"school {urn} already has {MaxContactsPerSchool} digest contacts, the most it may have; remove one before adding another.",
                    StatusCodes.Status422UnprocessableEntity);
            }

            contact = new SchoolContact(Guid.CreateVersion7(now), urn, name!, email!, now);
            await tx.InsertSchoolContactAsync(contact);
            await tx.CommitAsync();
        }

        digest.ContactsChanged();
        return TypedResults.Created($"/api/v1/schools/{urn}/contacts/{contact.Id}", View(contact));
    }

    private static async Task<Results<Ok<ContactList>, ProblemHttpResult>> ListAsync(
        string urn, HttpContext http, IWorkflowStore store, CancellationToken ct)
    {
        if (Access(urn, http.Caller()) is { } denied)
        {
            return denied;
        }

        var contacts = await store.SchoolContactsAsync(urn, ct);
        return TypedResults.Ok(new ContactList(contacts.Select(View).ToList()));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> RemoveAsync(
        string urn, string id, HttpContext http, IWorkflowStore store, CancellationToken ct)
    {
        if (Access(urn, http.Caller()) is { } denied)
        {
            return denied;
        }

        if (!Guid.TryParse(id, out var contactId))
        {
            return Problems.NotFound("contact", "id", id);
        }

        await using var tx = await store.BeginAsync(ct);
        if (!await tx.DeleteSchoolContactAsync(urn, contactId))
        {
            return Problems.NotFound("contact", "id", id);
        }

        await tx.CommitAsync();
        return TypedResults.NoContent();
    }

    /// <summary>
    /// Keys with neither admin nor any school scope are refused (403). A school's key asking about
    /// another school is told there is no such school (404), so it learns nothing about it.
    /// </summary>
    private static ProblemHttpResult? Access(string urn, Caller caller)
    {
        if (!caller.IsAdmin && !caller.HasAnySchool)
        {
            return Problems.Forbidden("Authorization", "only an admin key or the school's own key can manage its digest contacts.");
        }

        if (!Scopes.SchoolUrnPattern().IsMatch(urn))
        {
            return Problems.Field("urn", Scopes.SchoolUrnRule);
        }

        return caller.ActsFor(urn) ? null : Problems.NotFound("school", "urn", urn);
    }

    private static ContactView View(SchoolContact c) => new(c.Id, c.SchoolUrn, c.Name, c.Email, c.CreatedAt);
}
