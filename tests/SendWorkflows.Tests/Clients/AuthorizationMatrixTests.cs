using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Clients;

/// <summary>
/// Every route against every kind of key. A school's key (school A here) acts only for its own
/// school: school B's key gets 404 for A's people, exactly as if they did not exist.
/// </summary>
public sealed class AuthorizationMatrixTests
{
    public enum Who
    {
        NoKey,
        RevokedKey,
        Admin,
        SchoolA,
        SchoolB,
        Lms,
        Sessions,
    }

    private const string SchoolA = "100004";
    private const string SchoolB = "100005";

    /// <param name="Public">Needs no key at all (anyone may check a certificate), so a missing or revoked key changes nothing.</param>
    private sealed record Route(
        string Name,
        Func<TestApp, Task<string>> Arrange,
        Func<HttpClient, string, Task<HttpResponseMessage>> Act,
        Func<Who, int> Expected,
        bool Public = false);

    private static async Task<string> CertificateInA(TestApp app) =>
        (await Certificates.CertificateEndpointTests.CompletedAsync(app, $"C-{Guid.NewGuid():N}", SchoolA)).Certificate.GetProperty("number").GetString()!;

    private static int Only(Who who, int ok, params Who[] allowed) => allowed.Contains(who) ? ok : 403;

    /// <summary>Allowed kinds succeed; school B sees A's enrolment as missing; every other kind is forbidden.</summary>
    private static int ForEnrolmentOfA(Who who, int ok, params Who[] alsoAllowed) =>
        who is Who.Admin or Who.SchoolA || alsoAllowed.Contains(who) ? ok : who == Who.SchoolB ? 404 : 403;

    private static async Task<string> EnrolInA(TestApp app) => await app.EnrolAsync($"P-{Guid.NewGuid():N}", SchoolA);

    /// <summary>Admin and school A succeed; school B is told school A does not exist; every other kind is forbidden.</summary>
    private static int ForSchoolA(Who who, int ok) =>
        who is Who.Admin or Who.SchoolA ? ok : who == Who.SchoolB ? 404 : 403;

    private static async Task<string> ContactInA(TestApp app)
    {
        var response = await app.Admin().PostAsJsonAsync($"/api/v1/schools/{SchoolA}/contacts",
            new { name = "Head", email = $"head-{Guid.NewGuid():N}@school{SchoolA}.example.org" });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    private static readonly Route[] Routes =
    [
        new("POST /api/v1/clients", _ => Task.FromResult(""),
            (c, _) => c.PostAsJsonAsync("/api/v1/clients", new { name = "lms", scopes = new[] { "lms" } }),
            who => Only(who, 201, Who.Admin)),
        new("DELETE /api/v1/clients/{id}", async app => (await app.CreateApiClientAsync("lms")).Id,
            (c, id) => c.DeleteAsync($"/api/v1/clients/{id}"),
            who => Only(who, 204, Who.Admin)),
        new("PUT /api/v1/programmes/{id}", _ => Task.FromResult(""),
            (c, _) => c.PutAsJsonAsync("/api/v1/programmes/matrix", TestApp.SmallProgramme("matrix")),
            who => Only(who, 201, Who.Admin)),
        new("GET /api/v1/programmes/{id}", _ => Task.FromResult(""),
            (c, _) => c.GetAsync($"/api/v1/programmes/{TestApp.Programme}"),
            _ => 200),
        new("POST /api/v1/enrolments", _ => Task.FromResult(""),
            (c, _) => c.PostAsJsonAsync("/api/v1/enrolments", TestApp.Person($"P-{Guid.NewGuid():N}", SchoolA)),
            who => Only(who, 201, Who.Admin, Who.SchoolA)),
        new("POST /api/v1/enrolments/batch (row status)", _ => Task.FromResult(""),
            async (c, _) =>
            {
                var response = await c.PostAsJsonAsync("/api/v1/enrolments/batch", new[] { TestApp.Person($"P-{Guid.NewGuid():N}", SchoolA) });
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    return response;
                }

                var row = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("results")[0];
                return new HttpResponseMessage((HttpStatusCode)row.GetProperty("status").GetInt32());
            },
            who => Only(who, 201, Who.Admin, Who.SchoolA)),
        new("POST /api/v1/enrolments/batch as text/csv (row status)", _ => Task.FromResult(""),
            async (c, _) =>
            {
                var response = await Enrolments.CsvEnrolmentTests.PostCsvAsync(c,
                    $"programmeId,schoolUrn,externalId,givenName,familyName,email,role\r\n{TestApp.Programme},{SchoolA},P-{Guid.NewGuid():N},Ann,Lee,ann@school.example.org,teacher\r\n");
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    return response;
                }

                var row = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("results")[0];
                return new HttpResponseMessage((HttpStatusCode)row.GetProperty("status").GetInt32());
            },
            who => Only(who, 201, Who.Admin, Who.SchoolA)),
        new("GET /api/v1/enrolments/{id}", EnrolInA,
            (c, id) => c.GetAsync($"/api/v1/enrolments/{id}"),
            who => ForEnrolmentOfA(who, 200)),
        new("POST /api/v1/enrolments/{id}/modules/{moduleId}/completion", EnrolInA,
            (c, id) => c.PostAsync($"/api/v1/enrolments/{id}/modules/identification/completion", null),
            who => ForEnrolmentOfA(who, 200, Who.Lms)),
        new("POST /api/v1/progress", async app =>
            {
                var externalId = $"P-{Guid.NewGuid():N}";
                await app.EnrolAsync(externalId, SchoolA);
                return externalId;
            },
            (c, externalId) => c.PostAsJsonAsync("/api/v1/progress",
                new { programmeId = TestApp.Programme, schoolUrn = SchoolA, externalId, moduleId = "identification" }),
            who => Only(who, 200, Who.Admin, Who.SchoolA, Who.Lms)),
        new("POST /xapi/statements", EnrolInA,
            (c, id) =>
            {
                var request = new HttpRequestMessage(HttpMethod.Post, "/xapi/statements")
                {
                    Content = JsonContent.Create(new
                    {
                        actor = new { mbox = "mailto:learner@school.example.org" },
                        verb = new { id = "http://adlnet.gov/expapi/verbs/completed" },
                        @object = new { id = $"https://send.example.org/programmes/{TestApp.Programme}/modules/identification" },
                        context = new { registration = id },
                    }),
                };
                request.Headers.Add("X-Experience-API-Version", "1.0.3");
                return c.SendAsync(request);
            },
            who => ForEnrolmentOfA(who, 200, Who.Lms)),
        new("POST /api/v1/enrolments/{id}/withdrawal", EnrolInA,
            (c, id) => c.PostAsync($"/api/v1/enrolments/{id}/withdrawal", null),
            who => ForEnrolmentOfA(who, 200)),
        new("POST /api/v1/enrolments/{id}/reinstatement", async app =>
            {
                var id = await EnrolInA(app);
                (await app.Admin().PostAsync($"/api/v1/enrolments/{id}/withdrawal", null)).EnsureSuccessStatusCode();
                return id;
            },
            (c, id) => c.PostAsync($"/api/v1/enrolments/{id}/reinstatement", null),
            who => ForEnrolmentOfA(who, 200)),
        new("POST /api/v1/enrolments/{id}/deadline-extension", EnrolInA,
            (c, id) => c.PostAsJsonAsync($"/api/v1/enrolments/{id}/deadline-extension", new { deadline = ManualClock.Monday9am.AddYears(2) }),
            who => ForEnrolmentOfA(who, 200)),
        new("PUT /api/v1/sessions/{id}", _ => Task.FromResult(""),
            (c, _) => c.PutAsJsonAsync($"/api/v1/sessions/s-{Guid.NewGuid():N}", new
            {
                programmeId = TestApp.Programme, title = "Session", startsAt = ManualClock.Monday9am.AddDays(3),
                endsAt = ManualClock.Monday9am.AddDays(3).AddHours(2), location = "York", capacity = 20,
            }),
            who => Only(who, 201, Who.Admin, Who.Sessions)),
        new("GET /api/v1/sessions/{id}", async app =>
            {
                await app.PutSessionAsync("visible", TestApp.Programme, TimeSpan.FromDays(3));
                return "visible";
            },
            (c, id) => c.GetAsync($"/api/v1/sessions/{id}"),
            _ => 200),
        new("POST /api/v1/sessions/{id}/bookings", async app =>
            {
                await app.PutSessionAsync("bookable", TestApp.Programme, TimeSpan.FromDays(3), capacity: 1000);
                return await EnrolInA(app);
            },
            (c, id) => c.PostAsJsonAsync("/api/v1/sessions/bookable/bookings", new { enrolmentId = id }),
            who => ForEnrolmentOfA(who, 201, Who.Sessions)),
        new("DELETE /api/v1/sessions/{id}/bookings/{enrolmentId}", async app =>
            {
                await app.PutSessionAsync("cancellable", TestApp.Programme, TimeSpan.FromDays(3), capacity: 1000);
                var id = await EnrolInA(app);
                (await app.Admin().PostAsJsonAsync("/api/v1/sessions/cancellable/bookings", new { enrolmentId = id })).EnsureSuccessStatusCode();
                return id;
            },
            (c, id) => c.DeleteAsync($"/api/v1/sessions/cancellable/bookings/{id}"),
            who => ForEnrolmentOfA(who, 200, Who.Sessions)),
        new("POST /api/v1/sessions/{id}/attendance", async app =>
            {
                await app.PutSessionAsync("started", TestApp.Programme, TimeSpan.FromHours(-2), capacity: 1000);
                return await EnrolInA(app);
            },
            (c, id) => c.PostAsJsonAsync("/api/v1/sessions/started/attendance", new { attendees = new[] { new { enrolmentId = id, attended = true } } }),
            who => Only(who, 200, Who.Admin, Who.Sessions)),
        new("POST /api/v1/certificates/{number}/revocation", CertificateInA,
            (c, number) => c.PostAsJsonAsync($"/api/v1/certificates/{number}/revocation", new { reason = "issued in error" }),
            who => Only(who, 200, Who.Admin)),
        new("GET /api/v1/schools/{urn}/certificates.zip", _ => Task.FromResult(""),
            (c, _) => c.GetAsync($"/api/v1/schools/{SchoolA}/certificates.zip"),
            who => Only(who, 200, Who.Admin, Who.SchoolA)),
        new("POST /api/v1/schools/{urn}/contacts", _ => Task.FromResult(""),
            (c, _) => c.PostAsJsonAsync($"/api/v1/schools/{SchoolA}/contacts", new { name = "Head", email = $"head-{Guid.NewGuid():N}@school{SchoolA}.example.org" }),
            who => ForSchoolA(who, 201)),
        new("GET /api/v1/schools/{urn}/contacts", ContactInA,
            (c, _) => c.GetAsync($"/api/v1/schools/{SchoolA}/contacts"),
            who => ForSchoolA(who, 200)),
        new("DELETE /api/v1/schools/{urn}/contacts/{id}", ContactInA,
            (c, id) => c.DeleteAsync($"/api/v1/schools/{SchoolA}/contacts/{id}"),
            who => ForSchoolA(who, 204)),
        new("GET /api/v1/schools/{urn}/report", EnrolInA,
            (c, _) => c.GetAsync($"/api/v1/schools/{SchoolA}/report"),
            who => ForSchoolA(who, 200)),
        new("GET /api/v1/schools/{urn}/report as text/csv", EnrolInA,
            (c, _) =>
            {
                var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/schools/{SchoolA}/report");
                request.Headers.Accept.ParseAdd("text/csv");
                return c.SendAsync(request);
            },
            who => ForSchoolA(who, 200)),
        new("PUT /api/v1/schools/{urn}", _ => Task.FromResult(""),
            (c, _) => c.PutAsJsonAsync($"/api/v1/schools/{SchoolA}", new { localAuthority = "Leeds" }),
            who => Only(who, 200, Who.Admin)),
        new("GET /api/v1/reports/summary", EnrolInA,
            (c, _) => c.GetAsync("/api/v1/reports/summary"),
            who => Only(who, 200, Who.Admin)),
        new("GET /api/v1/certificates/{number}", CertificateInA,
            (c, number) => c.GetAsync($"/api/v1/certificates/{number}"),
            _ => 200, Public: true),
        new("GET /verify/{number}", CertificateInA,
            (c, number) => c.GetAsync($"/verify/{number}"),
            _ => 200, Public: true),
        new("POST /api/v1/certificates/verify", _ => Task.FromResult(""),
            (c, _) => c.PostAsync("/api/v1/certificates/verify", new ByteArrayContent("%PDF-1.7 not ours"u8.ToArray())),
            _ => 200, Public: true),
        new("GET /certificates/{number}.pdf (signed link)", async app =>
            {
                var (_, certificate) = await Certificates.CertificateEndpointTests.CompletedAsync(app, $"D-{Guid.NewGuid():N}", SchoolA);
                return new Uri(certificate.GetProperty("downloadUrl").GetString()!).PathAndQuery;
            },
            (c, link) => c.GetAsync(link),
            _ => 200, Public: true),
        new("GET /api/v1/email-templates/{template}/preview", _ => Task.FromResult(""),
            (c, _) => c.GetAsync("/api/v1/email-templates/welcome/preview"),
            who => Only(who, 200, Who.Admin)),
        new("GET /api/v1/outbox", _ => Task.FromResult(""),
            (c, _) => c.GetAsync("/api/v1/outbox?status=pending"),
            who => Only(who, 200, Who.Admin)),
        new("POST /api/v1/outbox/{id}/retry", _ => Task.FromResult(""),
            (c, _) => c.PostAsync("/api/v1/outbox/999999/retry", null),
            who => Only(who, 404, Who.Admin)),
        // A subscription belongs to the key that made it: here the admin key, so another key that may
        // use webhooks is told it does not exist, and lms and sessions keys may not use webhooks at all.
        new("POST /api/v1/webhooks", _ => Task.FromResult(""),
            (c, _) => c.PostAsJsonAsync("/api/v1/webhooks", new { url = "https://hooks.example.invalid/sendworkflows", events = new[] { "enrolment.completed" } }),
            who => Only(who, 201, Who.Admin, Who.SchoolA, Who.SchoolB)),
        new("GET /api/v1/webhooks", _ => Task.FromResult(""),
            (c, _) => c.GetAsync("/api/v1/webhooks"),
            who => Only(who, 200, Who.Admin, Who.SchoolA, Who.SchoolB)),
        new("DELETE /api/v1/webhooks/{id}", AdminSubscription,
            (c, id) => c.DeleteAsync($"/api/v1/webhooks/{id}"),
            who => ForAdminsOwn(who, 204)),
        new("GET /api/v1/webhooks/{id}/deliveries", AdminSubscription,
            (c, id) => c.GetAsync($"/api/v1/webhooks/{id}/deliveries"),
            who => ForAdminsOwn(who, 200)),
        // The signed token is the credential: an API key neither helps nor hurts.
        new("GET /preferences/{token}", PreferencesOfA,
            (c, path) => c.GetAsync(path),
            _ => 200, Public: true),
        new("POST /preferences/{token}", PreferencesOfA,
            (c, path) => c.PostAsync(path, new FormUrlEncodedContent([new("reminders", "off")])),
            _ => 200, Public: true),
    ];

    private static async Task<string> AdminSubscription(TestApp app)
    {
        var response = await app.Admin().PostAsJsonAsync("/api/v1/webhooks",
            new { url = "https://hooks.example.invalid/admin", events = new[] { "enrolment.completed" } });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    /// <summary>The admin key's own subscription: schools' keys are told it does not exist; lms and sessions keys may not use webhooks.</summary>
    private static int ForAdminsOwn(Who who, int ok) =>
        who == Who.Admin ? ok : who is Who.SchoolA or Who.SchoolB ? 404 : 403;

    private static async Task<string> PreferencesOfA(TestApp app) =>
        "/preferences/" + app.Service<SendWorkflows.Preferences.PreferenceTokens>()
            .Create(SendWorkflows.Preferences.PreferenceSubject.Enrolment, Guid.Parse(await EnrolInA(app)));

    [Theory]
    [InlineData(Who.NoKey)]
    [InlineData(Who.RevokedKey)]
    [InlineData(Who.Admin)]
    [InlineData(Who.SchoolA)]
    [InlineData(Who.SchoolB)]
    [InlineData(Who.Lms)]
    [InlineData(Who.Sessions)]
    public async Task every_route_answers_each_kind_of_key_as_its_scopes_allow(Who who)
    {
        await using var app = new TestApp();
        var client = await ClientForAsync(app, who);
        var failures = new List<string>();
        foreach (var route in Routes)
        {
            var arranged = await route.Arrange(app);
            var response = await route.Act(client, arranged);
            var expected = who is Who.NoKey or Who.RevokedKey && !route.Public ? 401 : route.Expected(who);
            if ((int)response.StatusCode != expected)
            {
                failures.Add($"{route.Name}: expected {expected}, got {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
            else if (expected >= 400 && response.Content.Headers.ContentType?.MediaType is { } type && type != "application/problem+json")
            {
                failures.Add($"{route.Name}: {expected} was not a problem response ({type})");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public async Task service_routes_need_no_key()
    {
        await using var app = new TestApp();
        Assert.Equal(HttpStatusCode.OK, (await app.Anonymous().GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await app.Anonymous().PostAsync("/tick", null)).StatusCode);
    }

    [Fact]
    public async Task a_missing_or_wrong_key_gets_a_401_problem_with_a_bearer_challenge()
    {
        await using var app = new TestApp();
        foreach (var client in new[] { app.Anonymous(), app.WithKey("swk_not-a-real-key") })
        {
            var response = await client.GetAsync($"/api/v1/programmes/{TestApp.Programme}");
            await Problem.AssertAsync(response, HttpStatusCode.Unauthorized, "Authorization");
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        }
    }

    [Fact]
    public async Task a_school_key_cannot_enrol_into_another_school()
    {
        await using var app = new TestApp();
        var schoolB = await app.ClientWithScopesAsync($"school:{SchoolB}");
        var response = await schoolB.PostAsJsonAsync("/api/v1/enrolments", TestApp.Person("T-1", SchoolA));
        await Problem.AssertAsync(response, HttpStatusCode.Forbidden, "schoolUrn");
        Assert.Equal(0, app.Count("enrolments"));
    }

    [Fact]
    public async Task creating_a_client_with_a_bad_scope_names_the_scope()
    {
        await using var app = new TestApp();
        var response = await app.Admin().PostAsJsonAsync("/api/v1/clients", new { name = "x", scopes = new[] { "lms", "school:12" } });
        await Problem.AssertAsync(response, HttpStatusCode.BadRequest, "scopes[1]");
        var noName = await app.Admin().PostAsJsonAsync("/api/v1/clients", new { scopes = new[] { "lms" } });
        await Problem.AssertAsync(noName, HttpStatusCode.BadRequest, "name");
        Assert.Equal(1, app.Count("api_clients"));
    }

    [Fact]
    public async Task a_new_key_is_shown_once_and_stored_only_as_a_hash()
    {
        await using var app = new TestApp();
        var (_, key) = await app.CreateApiClientAsync("lms");
        Assert.StartsWith("swk_", key, StringComparison.Ordinal);
        Assert.Equal(0, app.Count("api_clients", $"key_hash = '{key}'"));
        Assert.Equal(1, app.Count("api_clients", $"key_hash = '{SendWorkflows.Clients.ApiKeys.Hash(key)}'"));
    }

    private static async Task<HttpClient> ClientForAsync(TestApp app, Who who)
    {
        switch (who)
        {
            case Who.NoKey:
                return app.Anonymous();
            case Who.Admin:
                return app.Admin();
            case Who.RevokedKey:
            {
                var (id, key) = await app.CreateApiClientAsync("admin");
                (await app.Admin().DeleteAsync($"/api/v1/clients/{id}")).EnsureSuccessStatusCode();
                return app.WithKey(key);
            }

            default:
                var scope = who switch
                {
                    Who.SchoolA => $"school:{SchoolA}",
                    Who.SchoolB => $"school:{SchoolB}",
                    Who.Lms => "lms",
                    _ => "sessions",
                };
                return await app.ClientWithScopesAsync(scope);
        }
    }
}
