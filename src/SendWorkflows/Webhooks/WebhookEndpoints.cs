using System.Net;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using SendWorkflows.Clients;
using SendWorkflows.Http;
using SendWorkflows.Storage;
using SendWorkflows.Workflow;

namespace SendWorkflows.Webhooks;

/// <summary>
/// Webhook subscriptions. Each belongs to the API client that created it: a client sees, deletes and
/// reads the delivery log of its own only, and another client's look exactly like ones that do not
/// exist (404). A subscription hears what its key could read: an admin key, events about anyone;
/// a school's key, events about its own school's staff. <c>lms</c> and <c>sessions</c> keys cannot
/// read enrolments, so they cannot subscribe.
/// </summary>
public static class WebhookEndpoints
{
    [JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
    public sealed record SubscriptionBody(string? Url, List<string?>? Events);

    /// <summary>The answer to a new subscription: the only time its secret is shown.</summary>
    public sealed record CreatedSubscription(Guid Id, string Url, IReadOnlyList<string> Events, string Secret, DateTimeOffset CreatedAt);

    public sealed record SubscriptionView(Guid Id, string Url, IReadOnlyList<string> Events, DateTimeOffset CreatedAt,
        DateTimeOffset? DisabledAt, string? DisabledReason);

    public sealed record SubscriptionList(IReadOnlyList<SubscriptionView> Webhooks);

    public sealed record DeliveryView(string EventType, string WebhookId, int Attempt, DateTimeOffset AttemptedAt, int? StatusCode,
        string? Error, string Outcome, DateTimeOffset? NextAttemptAt);

    public sealed record DeliveryList(IReadOnlyList<DeliveryView> Deliveries);

    public const int MaxUrlLength = 2000;

    public static RouteGroupBuilder MapWebhooks(this RouteGroupBuilder api)
    {
        var group = api.MapGroup("/webhooks").WithTags("Webhooks");
        group.MapPost("/", SubscribeAsync).Accepts<SubscriptionBody>("application/json")
            .WithMetadata(new SensitiveResponseAttribute())
            .WithSummary("Subscribe a URL to enrolment.completed, certificate.issued and/or enrolment.lapsed; the signing secret is shown only in this response (admin, a school).");
        group.MapGet("/", ListAsync).WithSummary("This API client's webhook subscriptions (admin, a school).");
        group.MapDelete("/{id}", UnsubscribeAsync).WithSummary("Delete one of this API client's webhook subscriptions (admin, a school).");
        group.MapGet("/{id}/deliveries", DeliveriesAsync)
            .WithSummary("The subscription's latest delivery attempts, newest first: event, webhook-id, status code or error, next retry (admin, a school).");
        return group;
    }

    private static async Task<Results<Created<CreatedSubscription>, ProblemHttpResult>> SubscribeAsync(
        HttpContext http, IWorkflowStore store, TimeProvider clock, IOptions<WebhookOptions> options, IHostEnvironment environment,
        CancellationToken ct)
    {
        var caller = http.Caller();
        if (Access(caller) is { } denied)
        {
            return denied;
        }

        var (body, problem) = await JsonBody.ReadAsync<SubscriptionBody>(http.Request, ct);
        if (problem is not null)
        {
            return problem;
        }

        var settings = options.Value;
        var errors = new FieldErrors();
        var url = CheckUrl(body!.Url, settings.AllowHttp ?? environment.IsDevelopment(), settings.AllowPrivateNetworks ?? environment.IsDevelopment(), errors);
        var events = CheckEvents(body.Events, errors);
        if (errors.Any)
        {
            return Problems.Invalid(errors);
        }

        var now = Moments.Truncate(clock.GetUtcNow());
        var subscription = new WebhookSubscription(Guid.CreateVersion7(now), caller.ClientId, url!, events, WebhookSignature.NewSecret(), now);
        await using (var tx = await store.BeginAsync(ct))
        {
            // Counted inside the write, so two requests at once cannot both pass the limit.
            if (await tx.CountWebhookSubscriptionsAsync(caller.ClientId) >= settings.MaxSubscriptionsPerClient)
            {
                return Problems.Field("url",
                    $"this API client already has {settings.MaxSubscriptionsPerClient} webhook subscriptions, the most it may have; delete one before adding another.",
                    StatusCodes.Status422UnprocessableEntity);
            }

            await tx.InsertWebhookSubscriptionAsync(subscription);
            await tx.CommitAsync();
        }

        return TypedResults.Created($"/api/v1/webhooks/{subscription.Id}",
            new CreatedSubscription(subscription.Id, subscription.Url, subscription.Events, subscription.Secret, subscription.CreatedAt));
    }

    private static async Task<Results<Ok<SubscriptionList>, ProblemHttpResult>> ListAsync(HttpContext http, IWorkflowStore store, CancellationToken ct)
    {
        var caller = http.Caller();
        if (Access(caller) is { } denied)
        {
            return denied;
        }

        var subscriptions = await store.WebhookSubscriptionsAsync(caller.ClientId, ct);
        return TypedResults.Ok(new SubscriptionList(subscriptions.Select(View).ToList()));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> UnsubscribeAsync(
        string id, HttpContext http, IWorkflowStore store, CancellationToken ct)
    {
        var caller = http.Caller();
        if (Access(caller) is { } denied)
        {
            return denied;
        }

        if (!Guid.TryParse(id, out var subscriptionId))
        {
            return Problems.NotFound("webhook subscription", "id", id);
        }

        await using var tx = await store.BeginAsync(ct);
        if (!await tx.DeleteWebhookSubscriptionAsync(caller.ClientId, subscriptionId))
        {
            return Problems.NotFound("webhook subscription", "id", id);
        }

        await tx.CommitAsync();
        return TypedResults.NoContent();
    }

    private static async Task<Results<Ok<DeliveryList>, ProblemHttpResult>> DeliveriesAsync(
        string id, int? limit, HttpContext http, IWorkflowStore store, CancellationToken ct)
    {
        var caller = http.Caller();
        if (Access(caller) is { } denied)
        {
            return denied;
        }

        if (!Guid.TryParse(id, out var subscriptionId) || await store.GetWebhookSubscriptionAsync(caller.ClientId, subscriptionId, ct) is null)
        {
            return Problems.NotFound("webhook subscription", "id", id);
        }

        if (limit is < 1 or > 1000)
        {
            return Problems.Field("limit", "must be from 1 to 1000.");
        }

        var attempts = await store.WebhookAttemptsAsync(subscriptionId, limit ?? 100, ct);
        return TypedResults.Ok(new DeliveryList(attempts.Select(a => new DeliveryView(a.EventType, a.WebhookId, a.Attempt, a.AttemptedAt,
            a.StatusCode, a.Error, a.Outcome, a.NextAttemptAt)).ToList()));
    }

    private static ProblemHttpResult? Access(Caller caller) =>
        caller.IsAdmin || caller.HasAnySchool
            ? null
            : Problems.Forbidden("Authorization",
                "only an admin key or a school's key can use webhooks: they announce changes to enrolments, which this key cannot read.");

    private static SubscriptionView View(WebhookSubscription s) => new(s.Id, s.Url, s.Events, s.CreatedAt, s.DisabledAt, s.DisabledReason);

    /// <summary>An absolute https address (http too where allowed), without credentials, on a public host unless private networks are allowed.</summary>
    internal static string? CheckUrl(string? value, bool allowHttp, bool allowPrivateNetworks, FieldErrors errors)
    {
        var text = value?.Trim();
        var expected = allowHttp ? "an absolute https:// or http:// address" : "an absolute https:// address";
        if (string.IsNullOrEmpty(text))
        {
            errors.Add("url", $"is required: {expected}.");
            return null;
        }

        if (text.Length > MaxUrlLength)
        {
            errors.Add("url", $"must be at most {MaxUrlLength} characters.");
            return null;
        }

        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || text.Any(char.IsWhiteSpace) ||
            !(uri.Scheme == Uri.UriSchemeHttps || (allowHttp && uri.Scheme == Uri.UriSchemeHttp)))
        {
            errors.Add("url", $"must be {expected}{(allowHttp ? "" : ": deliveries carry information about people, so they travel encrypted")}.");
            return null;
        }

        if (uri.UserInfo.Length > 0)
        {
            errors.Add("url", "must not carry a user name or password: every delivery is signed with the subscription's secret instead.");
            return null;
        }

        if (uri.Fragment.Length > 0)
        {
            errors.Add("url", "must not have a fragment (#…): it is never sent to the receiver.");
            return null;
        }

        if (!allowPrivateNetworks &&
            (uri.IsLoopback || uri.Host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase) ||
             (IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out var address) && !WebhookNetwork.IsPublic(address))))
        {
            errors.Add("url", "must be a public address: webhooks are not sent to loopback or private networks.");
            return null;
        }

        return uri.AbsoluteUri;
    }

    private static List<string> CheckEvents(List<string?>? events, FieldErrors errors)
    {
        var known = string.Join(", ", PublishedEvents.All);
        var chosen = new List<string>();
        if (events is null || events.Count == 0)
        {
            errors.Add("events", $"must list at least one event type: {known}.");
            return chosen;
        }

        if (events.Count > 20)
        {
            errors.Add("events", "must list at most 20 event types.");
            return chosen;
        }

        for (var i = 0; i < events.Count; i++)
        {
            var name = events[i]?.Trim();
            if (name is null || !PublishedEvents.All.Contains(name, StringComparer.Ordinal))
            {
                errors.Add($"events[{i}]", $"'{name}' is not an event type: use {known}.");
            }
            else if (!chosen.Contains(name))
            {
                chosen.Add(name);
            }
        }

        return chosen;
    }
}
